// Policy: what a CA may issue, separate from signing (DESIGN §5). Stored as
// policy.json in the CA directory; schema in schemas/policy.schema.json.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/key.hpp"
#include "minica/names.hpp"
#include "minica/profile.hpp"
#include "minica/types.hpp"

namespace minica {

struct Policy {
    // Allowed names: DNS suffixes, CIDR ranges, "@domain" emails and URI
    // prefixes ("spiffe://example.org/"). Empty = any name (the CA's name
    // constraints still apply).
    std::vector<std::string> allowed_names;
    std::chrono::days max_validity = max_leaf_validity;
    std::vector<KeyType> key_types{std::begin(all_key_types), std::end(all_key_types)};
    std::vector<Profile> profiles{leaf_profiles.begin(), leaf_profiles.end()};

    // Throws Error(policy) naming the first thing the policy does not allow.
    void check_names(const SubjectAltNames& names) const;
    void check(const SubjectAltNames& names, KeyType key_type, Profile profile, std::chrono::days validity) const;

    // Throws Error(parse) "reading policy from <source>: <reason>" for bad JSON
    // or values that do not fit the schema.
    static Policy from_json(std::string_view json, std::string_view source = "memory");
    static Policy load(const std::filesystem::path& path);
    std::string to_json() const;  // pretty, newline-terminated
};

}  // namespace minica
