// Policy: what a CA may issue (DESIGN §5), and its policy.json form
// (schemas/policy.schema.json).
//
// Choices:
//  * allowed_names entries, tried in this order:
//      "10.0.0.0/8", "fd00::/8"  CIDR range (host bits must be zero)
//      "@example.com"            mailboxes at exactly that domain
//      "@.example.com"           mailboxes at any domain strictly below it
//      "spiffe://example.org/"   URI prefix (scheme:...)
//      "example.com"             DNS name and everything below it
//      ".example.com"            DNS names strictly below it
//    The first three and the DNS forms are the name-constraint syntax
//    (NameConstraints::permit), so one grammar serves both.
//  * Each name is matched against entries of its own kind only: a DNS entry
//    never admits a URI or an email at that domain; a URI needs a URI prefix.
//  * A URI prefix matches at a boundary: "spiffe://example.org/ns/a" admits
//    ".../ns/a", ".../ns/a/b" and ".../ns/a?x", never ".../ns/ab"; a prefix
//    ending in '/' or ':' admits anything that starts with it. So
//    "spiffe://example.org" cannot admit "spiffe://example.org.evil/".
//  * policy.json is read strictly: unknown keys, duplicate keys, wrong types
//    and values out of range are errors. Missing keys take the defaults of
//    Policy (any name, 397 days, every key type, every profile). Entries are
//    stored in canonical form (lower-case A-labels, canonical CIDRs).
#include "minica/policy.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "minica/detail/json.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/text.hpp"

namespace minica {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool has_scheme(std::string_view s) {
    if (s.empty() || !is_alpha(s[0])) return false;
    std::size_t i = 1;
    while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
    return i < s.size() && s[i] == ':';
}

// One allowed_names entry, parsed.
struct Allowed {
    std::string text;  // canonical entry, as written back to JSON
    NameConstraints nc;  // exactly one of permitted_dns / _ip / _email, or none for a URI prefix
    std::string uri_prefix;
};

Allowed parse_allowed(std::string_view entry) {
    Allowed a;
    // An address or range ("10.0.0.0/8", "fd00::/8", "fd00::1", even a broken
    // "fd00::zz/8") goes to the name-constraint parser, never to the URI
    // branch: "fd00:" reads as a URI scheme.
    auto addr = entry.substr(0, entry.find('/'));
    bool ipish = parse_ip(addr).has_value() || addr.find("::") != std::string_view::npos ||
                 (std::count(addr.begin(), addr.end(), ':') >= 2 &&
                  std::all_of(addr.begin(), addr.end(), [](char c) {
                      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
                  }));
    if (!ipish && entry.substr(0, 1) != "@" && has_scheme(entry)) {
        // A URI prefix: validated as a URI (lower-case scheme, rest as given).
        try {
            a.uri_prefix = canonical_uri(entry);
        } catch (const Error& e) {
            throw Error(ErrorKind::invalid_argument,
                        "invalid allowed name \"" + std::string(entry) + "\": not a valid URI prefix (" + e.what() + ")");
        }
        a.text = a.uri_prefix;
        return a;
    }
    try {
        a.nc.permit(entry);
    } catch (const Error& e) {
        throw Error(ErrorKind::invalid_argument, "invalid allowed name \"" + std::string(entry) + "\": " + e.what());
    }
    if (!a.nc.permitted_dns.empty()) a.text = a.nc.permitted_dns.front();
    else if (!a.nc.permitted_ip.empty()) a.text = a.nc.permitted_ip.front().to_string();
    else a.text = "@" + a.nc.permitted_email.front();
    return a;
}

bool uri_prefix_matches(std::string_view uri, std::string_view prefix) {
    if (prefix.empty() || uri.size() < prefix.size()) return false;
    // The scheme is case-insensitive; canonical URIs have it lower-cased, but
    // callers may build SubjectAltNames by hand.
    auto colon = prefix.find(':');
    if (!iequals(uri.substr(0, colon), prefix.substr(0, colon))) return false;
    if (uri.substr(colon, prefix.size() - colon) != prefix.substr(colon)) return false;
    if (uri.size() == prefix.size()) return true;
    char last = prefix.back();
    if (last == '/' || last == ':') return true;
    char next = uri[prefix.size()];
    return next == '/' || next == '?' || next == '#';
}

// Email domains in allowed_names: "example.com" that exact domain,
// ".example.com" strictly below (the RFC 5280 reading, as in NameConstraints).
bool email_allowed(std::string_view email, std::string_view domain_entry) {
    auto at = email.rfind('@');
    auto domain = at == std::string_view::npos ? email : email.substr(at + 1);
    if (!domain_entry.empty() && domain_entry.front() == '.') return dns_within(domain, domain_entry);
    return iequals(domain, domain_entry);
}

bool allowed_by(const Allowed& a, NameKind kind, std::string_view name, const IpAddress* ip) {
    switch (kind) {
        case NameKind::dns:
            return !a.nc.permitted_dns.empty() && dns_within(name, a.nc.permitted_dns.front());
        case NameKind::ip:
            return !a.nc.permitted_ip.empty() && a.nc.permitted_ip.front().contains(*ip);
        case NameKind::email:
            return !a.nc.permitted_email.empty() && email_allowed(name, a.nc.permitted_email.front());
        case NameKind::uri:
            return !a.uri_prefix.empty() && uri_prefix_matches(name, a.uri_prefix);
    }
    return false;
}

[[noreturn]] void refuse(std::string message) { throw Error(ErrorKind::policy, std::move(message)); }

// ---------------------------------------------------------------- JSON

[[noreturn]] void bad(std::string_view source, std::string_view reason) {
    throw Error(ErrorKind::parse, "reading policy from " + std::string(source) + ": " + std::string(reason));
}

std::vector<std::string> string_array(const nlohmann::json& j, std::string_view key, std::string_view source) {
    if (!j.is_array()) bad(source, "\"" + std::string(key) + "\" must be an array of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < j.size(); ++i) {
        if (!j[i].is_string())
            bad(source, "\"" + std::string(key) + "\"[" + std::to_string(i) + "] must be a string, not " +
                            j[i].type_name());
        out.push_back(j[i].get<std::string>());
    }
    return out;
}

}  // namespace

void Policy::check_names(const SubjectAltNames& names) const {
    if (allowed_names.empty()) return;
    std::vector<Allowed> allowed;
    allowed.reserve(allowed_names.size());
    for (const auto& entry : allowed_names) allowed.push_back(parse_allowed(entry));

    auto check_one = [&](NameKind kind, const std::string& name, const IpAddress* ip) {
        bool ok = std::any_of(allowed.begin(), allowed.end(),
                              [&](const Allowed& a) { return allowed_by(a, kind, name, ip); });
        if (!ok) refuse("name \"" + name + "\" is not allowed by the policy (allowed: " + join(allowed_names) + ")");
    };
    for (const auto& d : names.dns) check_one(NameKind::dns, d, nullptr);
    for (const auto& ip : names.ip) check_one(NameKind::ip, ip.to_string(), &ip);
    for (const auto& e : names.email) check_one(NameKind::email, e, nullptr);
    for (const auto& u : names.uri) check_one(NameKind::uri, u, nullptr);
}

void Policy::check(const SubjectAltNames& names, KeyType key_type, Profile profile,
                   std::chrono::days validity) const {
    if (std::find(key_types.begin(), key_types.end(), key_type) == key_types.end())
        refuse("key type \"" + std::string(to_string(key_type)) + "\" is not allowed by the policy (allowed: " +
               names_of(key_types) + ")");
    if (std::find(profiles.begin(), profiles.end(), profile) == profiles.end())
        refuse("profile \"" + std::string(to_string(profile)) + "\" is not allowed by the policy (allowed: " +
               names_of(profiles) + ")" +
               // A policy written before the email profile existed lists the others only.
               (profile == Profile::email ? "; add \"email\" to its profiles, or ask for the client profile (--client)"
                                          : ""));

    if (validity.count() < 1)
        refuse("validity of " + std::to_string(validity.count()) + " days is not allowed by the policy (at least 1 day)");
    if (validity > max_validity)
        refuse("validity of " + std::to_string(validity.count()) + " days is not allowed by the policy (at most " +
               std::to_string(max_validity.count()) + " days)");

    check_names(names);
}

namespace {
// A non-empty JSON array of distinct names of one of the library's enums.
template <class Parse>
auto enum_list(const nlohmann::json& value, const std::string& key, std::string_view source, Parse parse,
               std::string_view what) {
    std::vector<decltype(parse(std::string_view{}))> out;
    for (const auto& s : string_array(value, key, source)) {
        decltype(parse(std::string_view{})) v{};
        try {
            v = parse(s);
        } catch (const Error& e) {
            bad(source, "\"" + key + "\": " + e.what());
        }
        if (std::find(out.begin(), out.end(), v) != out.end()) bad(source, "\"" + key + "\": \"" + s + "\" is listed twice");
        out.push_back(v);
    }
    if (out.empty()) bad(source, "\"" + key + "\" must list at least one " + std::string(what));
    return out;
}
}  // namespace

Policy Policy::from_json(std::string_view json, std::string_view source) {
    nlohmann::json j;
    try {
        j = detail::parse_json(json);
    } catch (const Error& e) {
        bad(source, e.what());
    }
    if (!j.is_object()) bad(source, std::string("the top level must be an object, not ") + j.type_name());

    Policy p;
    for (const auto& [key, value] : j.items()) {
        if (key == "allowed_names") {
            p.allowed_names.clear();
            for (const auto& entry : string_array(value, key, source)) {
                std::string canon;
                try {
                    canon = parse_allowed(entry).text;
                } catch (const Error& e) {
                    bad(source, std::string("\"allowed_names\": ") + e.what());
                }
                if (std::find(p.allowed_names.begin(), p.allowed_names.end(), canon) != p.allowed_names.end())
                    bad(source, "\"allowed_names\": \"" + entry + "\" is listed twice (as \"" + canon + "\")");
                p.allowed_names.push_back(std::move(canon));
            }
        } else if (key == "max_validity_days") {
            if (!value.is_number_integer())
                bad(source, std::string("\"max_validity_days\" must be an integer, not ") +
                                (value.is_number() ? "a fraction" : value.type_name()));
            // nlohmann stores non-negative integers as unsigned, negative ones as signed.
            bool in_range = value.is_number_unsigned()
                                ? value.get<std::uint64_t>() >= 1 && value.get<std::uint64_t>() <= 3650
                                : value.get<std::int64_t>() >= 1 && value.get<std::int64_t>() <= 3650;
            if (!in_range)
                bad(source, "\"max_validity_days\" must be from 1 to 3650, not " + value.dump());
            p.max_validity = std::chrono::days{value.get<int>()};
        } else if (key == "key_types") {
            p.key_types = enum_list(value, key, source, parse_key_type, "key type");
        } else if (key == "profiles") {
            p.profiles = enum_list(value, key, source, parse_leaf_profile, "profile");
        } else {
            bad(source, "unknown key \"" + key +
                            "\" (expected allowed_names, max_validity_days, key_types, profiles)");
        }
    }
    return p;
}

Policy Policy::load(const std::filesystem::path& path) {
    return from_json(read_file(path, "policy"), path.string());
}

std::string Policy::to_json() const {
    // ordered_json keeps the documented key order.
    nlohmann::ordered_json j;
    j["allowed_names"] = allowed_names;
    j["max_validity_days"] = max_validity.count();
    std::vector<std::string> keys, ps;
    for (auto k : key_types) keys.emplace_back(to_string(k));
    for (auto p : profiles) ps.emplace_back(to_string(p));
    j["key_types"] = keys;
    j["profiles"] = ps;
    return j.dump(2) + "\n";
}

}  // namespace minica
