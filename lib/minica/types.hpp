// The vocabulary every other header speaks: time, key types, profiles and
// distinguished names. Small on purpose: detail/ headers include only this
// and error.hpp.
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <string_view>

namespace minica {

using Time = std::chrono::sys_seconds;
Time now() noexcept;
// RFC 3339 UTC, "2026-11-22T10:00:00Z"
std::string format_time(Time t);

// ec-p256 is the default everywhere: fast, small, accepted by every TLS stack
// that matters (mkcert and step default to it too).
enum class KeyType { ec_p256, ec_p384, ed25519, rsa_2048, rsa_3072, rsa_4096 };
inline constexpr std::array all_key_types{KeyType::ec_p256,  KeyType::ec_p384,  KeyType::ed25519,
                                          KeyType::rsa_2048, KeyType::rsa_3072, KeyType::rsa_4096};
// "ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"
std::string_view to_string(KeyType type) noexcept;
// Parses the names above; throws Error(invalid_argument) naming the input and the choices.
KeyType parse_key_type(std::string_view name);
constexpr bool is_rsa(KeyType t) noexcept {
    return t == KeyType::rsa_2048 || t == KeyType::rsa_3072 || t == KeyType::rsa_4096;
}

// What a certificate is for. A leaf is server (EKU serverAuth), client
// (clientAuth), both, or email (emailProtection and clientAuth: S/MIME and
// TLS client, what mkcert gives email-only names); profile.hpp holds each
// one's usages. `ca` is what the inventory records for an intermediate it
// holds, never a leaf profile.
enum class Profile { server, client, both, email, ca };
inline constexpr std::array leaf_profiles{Profile::server, Profile::client, Profile::both, Profile::email};
std::string_view to_string(Profile p) noexcept;
// "server" | "client" | "both" | "email" | "ca"; throws Error(invalid_argument) otherwise.
Profile parse_profile(std::string_view name);
// parse_profile, refusing "ca" (what a policy, a CLI flag or a request may name).
Profile parse_leaf_profile(std::string_view name);

// The names of a table's values ("ec-p256, ec-p384, ..."), for messages and CLI choices.
template <class Table> std::string names_of(const Table& table, std::string_view sep = ", ") {
    std::string out;
    for (auto v : table) {
        if (!out.empty()) out += sep;
        out += to_string(v);
    }
    return out;
}

// A distinguished name with the attributes minica writes. Empty fields are omitted.
struct DistinguishedName {
    std::string common_name;
    std::string organization;
    std::string organizational_unit;
    std::string country;  // two letters
    bool empty() const noexcept;
    std::string to_string() const;  // "CN=x, O=y" (RFC 4514 order reversed, as openssl prints)
    friend bool operator==(const DistinguishedName&, const DistinguishedName&) = default;
};

}  // namespace minica
