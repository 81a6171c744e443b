// ACME resources (RFC 8555 §7.1): identifiers, the statuses of accounts,
// orders, authorizations and challenges, and the pure rules between them.
// Internal (not installed). No I/O: the store keeps these, the service
// turns them into JSON.
//
// Deliberate choices:
// - An identifier is kept in canonical form only (names.hpp's
//   parse_identity): a newOrder naming "A.Test" or "2001:DB8::1" is refused
//   (malformed) rather than rewritten, so the names a client sees in its
//   order are the ones it sent and the ones the CSR must carry.
// - A wildcard order ("*.a.test") has an authorization for "a.test" with
//   wildcard = true (§7.1.4), and only dns-01 is offered for it (§8.4).
// - IP identifiers (RFC 8738) get http-01 and tls-alpn-01, never dns-01.
// - One challenge attempt per authorization: the first challenge a client
//   answers decides the authorization (§7.5.1 allows a server to do so;
//   Boulder does). Retrying means a new order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "minica/types.hpp"

namespace minica::acme {

enum class IdentifierType { dns, ip };
std::string_view to_string(IdentifierType t) noexcept;

struct Identifier {
    IdentifierType type = IdentifierType::dns;
    std::string value;  // canonical; "*.a.test" for a wildcard in an order
    friend bool operator==(const Identifier&, const Identifier&) = default;
    friend auto operator<=>(const Identifier& a, const Identifier& b) {
        return std::tie(a.type, a.value) <=> std::tie(b.type, b.value);
    }
    // {"type": "dns", "value": "a.test"}
    nlohmann::json to_json() const;
};

// An order's identifier from its JSON: Error(invalid_argument) "identifier
// ...: reason" for an unknown type ("unsupportedIdentifier" is the
// service's call), a value that is not canonical, a wildcard anywhere but
// the whole first label, or a wildcard IP.
Identifier parse_identifier(const nlohmann::json& j);
bool is_wildcard(const Identifier& id) noexcept;
// "a.test" for "*.a.test"; the value itself otherwise.
std::string base_name(const Identifier& id);

enum class AccountStatus { valid, deactivated, revoked };
enum class OrderStatus { pending, ready, processing, valid, invalid };
enum class AuthzStatus { pending, valid, invalid, deactivated, expired, revoked };
enum class ChallengeStatus { pending, processing, valid, invalid };
enum class ChallengeType { http_01, tls_alpn_01, dns_01 };

std::string_view to_string(AccountStatus s) noexcept;
std::string_view to_string(OrderStatus s) noexcept;
std::string_view to_string(AuthzStatus s) noexcept;
std::string_view to_string(ChallengeStatus s) noexcept;
std::string_view to_string(ChallengeType t) noexcept;  // "http-01", "tls-alpn-01", "dns-01"
// Error(parse) for a name that is not one of the above.
AccountStatus parse_account_status(std::string_view s);
OrderStatus parse_order_status(std::string_view s);
AuthzStatus parse_authz_status(std::string_view s);
ChallengeStatus parse_challenge_status(std::string_view s);
ChallengeType parse_challenge_type(std::string_view s);

// The challenges offered for an authorization of this identifier
// (wildcard: dns-01 only; IP: http-01 and tls-alpn-01; else all three).
std::vector<ChallengeType> offered_challenges(IdentifierType type, bool wildcard);

// An authorization's status as a client sees it at `now`: a pending or
// valid one past its expiry is expired.
AuthzStatus effective_status(AuthzStatus stored, Time expires, Time now) noexcept;

// An order's status from its stored status and its authorizations'
// effective statuses (§7.1.6): stored processing/valid/invalid stand; a
// pending or ready order past its expiry is invalid; any authorization
// invalid, deactivated, expired or revoked makes it invalid; all valid
// makes it ready; otherwise pending.
OrderStatus order_status(OrderStatus stored, Time expires, const std::vector<AuthzStatus>& authzs,
                         Time now) noexcept;

// RFC 8555 §8.1: token "." base64url(JWK thumbprint).
std::string key_authorization(std::string_view token, std::string_view thumbprint_b64url);
// §8.4: the TXT record value, base64url(SHA-256(key authorization)).
std::string dns01_value(std::string_view key_authorization);
// RFC 8737 §3: the acmeIdentifier extension's value, SHA-256(key authorization).
std::string tls_alpn01_digest(std::string_view key_authorization);
// A fresh challenge token: 128 random bits, base64url (22 characters).
std::string new_token();

}  // namespace minica::acme
