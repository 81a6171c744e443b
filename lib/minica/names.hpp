// Names: the one place that guesses a name's kind (DESIGN §9), validation of
// each kind, and name-constraint matching.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace minica {

// An IP address in network byte order: 4 bytes (IPv4) or 16 bytes (IPv6).
struct IpAddress {
    std::vector<std::uint8_t> bytes;
    bool is_v4() const noexcept { return bytes.size() == 4; }
    std::string to_string() const;  // dotted quad / RFC 5952 canonical IPv6
    friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// An IP range for name constraints: address + mask of the same length.
struct IpNetwork {
    IpAddress address;
    std::vector<std::uint8_t> mask;
    int prefix_len() const noexcept;
    std::string to_string() const;  // "10.0.0.0/8", "fd00::/8"
    bool contains(const IpAddress& ip) const noexcept;
    friend bool operator==(const IpNetwork&, const IpNetwork&) = default;
};

// Typed SANs, never a single string (DESIGN §4). Values are canonical:
// DNS lower-case A-labels without trailing dot; IPs in canonical form.
struct SubjectAltNames {
    std::vector<std::string> dns;
    std::vector<IpAddress> ip;
    std::vector<std::string> email;
    std::vector<std::string> uri;

    bool empty() const noexcept { return dns.empty() && ip.empty() && email.empty() && uri.empty(); }
    std::size_t size() const noexcept { return dns.size() + ip.size() + email.size() + uri.size(); }
    // Every name as text, in the order dns, ip, email, uri.
    std::vector<std::string> all() const;
    // The one name printer: "DNS:a.test, IP:127.0.0.1, email:x@y, URI:spiffe://..."
    // with control characters escaped (text.hpp escape()), "" when empty.
    std::string to_string() const;
    // The name a person would use for the certificate: first DNS, else IP, email, URI.
    std::string primary() const;
    // Adds one identity, classified by parse_identity; duplicates are dropped.
    void add(std::string_view identity);
    friend bool operator==(const SubjectAltNames&, const SubjectAltNames&) = default;
};

enum class NameKind { dns, ip, email, uri };

struct Identity {
    NameKind kind;
    std::string value;               // canonical text
    std::optional<IpAddress> ip;     // set when kind == ip
};

// Classifies and validates one identity, in this order: IP address, email
// (contains '@' and no scheme), URI (has "scheme:"), else DNS name.
// Throws Error(invalid_argument) "invalid name \"<input>\": <why>".
Identity parse_identity(std::string_view input);
SubjectAltNames parse_identities(const std::vector<std::string>& inputs);

// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible
// (::a.b.c.d, but not :: or ::1) IPv6 address; nullopt for any other.
std::optional<IpAddress> embedded_ipv4(const IpAddress& ip) noexcept;
// Refuses (Error(invalid_argument), as parse_identity) names a CA must not
// certify even when they arrive already parsed (from a CSR or a certificate):
// an IPv4 address written as IPv6 (OpenSSL never matches it against IPv4
// constraints, so checking it would only issue what fails verification), a
// URI with dot-segments or a percent-encoded '.' or '/'.
void check_certifiable(const SubjectAltNames& names);

// Validators for one kind; each returns the canonical form or throws as above.
std::string canonical_dns_name(std::string_view input, bool allow_wildcard = true);
std::optional<IpAddress> parse_ip(std::string_view input) noexcept;
std::string canonical_email(std::string_view input);
std::string canonical_uri(std::string_view input);
// A URL a CRL is served from, for a CRL Distribution Point (RFC 5280
// 4.2.1.13): canonical_uri()'s rules, plus: the scheme is http (a CRL fetched
// over https needs a revocation check of its own server first, a circle;
// RFC 5280 names http and ldap, minica publishes over http only), a host is
// named, no user:password, a port (if any) is 1-65535. Error(invalid_argument)
// "CRL URL \"<input>\": <why>".
std::string canonical_crl_url(std::string_view input);

// Name constraints (RFC 5280 4.2.1.10), as given on the command line:
// "example.com" / ".example.com" (DNS subtree), "10.0.0.0/8" or "fd00::/8"
// (IP range), "@example.com" (email domain).
struct NameConstraints {
    std::vector<std::string> permitted_dns, excluded_dns;
    std::vector<IpNetwork> permitted_ip, excluded_ip;
    std::vector<std::string> permitted_email, excluded_email;  // domains, without '@'

    bool empty() const noexcept;
    void permit(std::string_view spec);   // throws Error(invalid_argument)
    void exclude(std::string_view spec);
    // Throws Error(policy) "name \"<n>\" is outside the name constraints: <why>"
    // for the first name the constraints do not allow.
    void check(const SubjectAltNames& names) const;
    friend bool operator==(const NameConstraints&, const NameConstraints&) = default;
};

// DNS subtree match: "a.example.com" is within "example.com"; a leading dot
// in the constraint means strictly below. Wildcard names match as their base.
bool dns_within(std::string_view name, std::string_view subtree) noexcept;

}  // namespace minica
