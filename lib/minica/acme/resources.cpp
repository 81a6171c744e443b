#include "minica/acme/resources.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/names.hpp"
#include "minica/text.hpp"

namespace minica::acme {

namespace {

template <typename E, std::size_t N>
E parse_enum(std::string_view s, const std::array<std::string_view, N>& names, const char* what) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == s) return static_cast<E>(i);
    throw Error(ErrorKind::parse, std::string("unknown ACME ") + what + " " + quote(s));
}

constexpr std::array<std::string_view, 3> account_names{"valid", "deactivated", "revoked"};
constexpr std::array<std::string_view, 5> order_names{"pending", "ready", "processing", "valid", "invalid"};
constexpr std::array<std::string_view, 6> authz_names{"pending", "valid", "invalid", "deactivated", "expired", "revoked"};
constexpr std::array<std::string_view, 4> challenge_status_names{"pending", "processing", "valid", "invalid"};
constexpr std::array<std::string_view, 3> challenge_type_names{"http-01", "tls-alpn-01", "dns-01"};

[[noreturn]] void bad_identifier(std::string_view value, const std::string& why) {
    throw Error(ErrorKind::invalid_argument, "identifier " + quote(value) + ": " + why);
}

}  // namespace

std::string_view to_string(IdentifierType t) noexcept { return t == IdentifierType::dns ? "dns" : "ip"; }
std::string_view to_string(AccountStatus s) noexcept { return account_names[static_cast<std::size_t>(s)]; }
std::string_view to_string(OrderStatus s) noexcept { return order_names[static_cast<std::size_t>(s)]; }
std::string_view to_string(AuthzStatus s) noexcept { return authz_names[static_cast<std::size_t>(s)]; }
std::string_view to_string(ChallengeStatus s) noexcept { return challenge_status_names[static_cast<std::size_t>(s)]; }
std::string_view to_string(ChallengeType t) noexcept { return challenge_type_names[static_cast<std::size_t>(t)]; }

AccountStatus parse_account_status(std::string_view s) { return parse_enum<AccountStatus>(s, account_names, "account status"); }
OrderStatus parse_order_status(std::string_view s) { return parse_enum<OrderStatus>(s, order_names, "order status"); }
AuthzStatus parse_authz_status(std::string_view s) { return parse_enum<AuthzStatus>(s, authz_names, "authorization status"); }
ChallengeStatus parse_challenge_status(std::string_view s) {
    return parse_enum<ChallengeStatus>(s, challenge_status_names, "challenge status");
}
ChallengeType parse_challenge_type(std::string_view s) {
    return parse_enum<ChallengeType>(s, challenge_type_names, "challenge type");
}

nlohmann::json Identifier::to_json() const { return {{"type", to_string(type)}, {"value", value}}; }

bool is_wildcard(const Identifier& id) noexcept {
    return id.type == IdentifierType::dns && id.value.size() > 2 && id.value.compare(0, 2, "*.") == 0;
}

std::string base_name(const Identifier& id) { return is_wildcard(id) ? id.value.substr(2) : id.value; }

Identifier parse_identifier(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("type") || !j.contains("value") || !j["type"].is_string() ||
        !j["value"].is_string())
        throw Error(ErrorKind::invalid_argument, "identifier: an object with string \"type\" and \"value\" expected");
    const std::string type = j["type"].get<std::string>();
    const std::string value = j["value"].get<std::string>();
    Identifier id;
    if (type == "dns") {
        id.type = IdentifierType::dns;
    } else if (type == "ip") {
        id.type = IdentifierType::ip;
    } else {
        bad_identifier(value, "unsupported identifier type " + quote(type) + " (dns and ip are)");
    }
    id.value = value;
    const bool wild = value.size() > 2 && value.compare(0, 2, "*.") == 0;
    if (wild && id.type == IdentifierType::ip) bad_identifier(value, "an IP address cannot be a wildcard");
    const std::string base = wild ? value.substr(2) : value;
    if (base.find('*') != std::string::npos)
        bad_identifier(value, "a wildcard is allowed only as the whole first label (\"*.example.test\")");
    Identity parsed = parse_identity(base);  // Error(invalid_argument) "invalid name ..."
    const bool kind_ok = id.type == IdentifierType::ip ? parsed.kind == NameKind::ip : parsed.kind == NameKind::dns;
    if (!kind_ok)
        bad_identifier(value, id.type == IdentifierType::ip ? "not an IP address" : "not a DNS name");
    if (parsed.value != base)
        bad_identifier(value, "not in canonical form (" + quote(wild ? "*." + parsed.value : parsed.value) + ")");
    return id;
}

std::vector<ChallengeType> offered_challenges(IdentifierType type, bool wildcard) {
    if (wildcard) return {ChallengeType::dns_01};
    if (type == IdentifierType::ip) return {ChallengeType::http_01, ChallengeType::tls_alpn_01};
    return {ChallengeType::http_01, ChallengeType::tls_alpn_01, ChallengeType::dns_01};
}

AuthzStatus effective_status(AuthzStatus stored, Time expires, Time now) noexcept {
    if ((stored == AuthzStatus::pending || stored == AuthzStatus::valid) && now >= expires) return AuthzStatus::expired;
    return stored;
}

OrderStatus order_status(OrderStatus stored, Time expires, const std::vector<AuthzStatus>& authzs, Time now) noexcept {
    if (stored == OrderStatus::processing || stored == OrderStatus::valid || stored == OrderStatus::invalid)
        return stored;
    if (now >= expires) return OrderStatus::invalid;
    bool all_valid = true;
    for (AuthzStatus a : authzs) {
        if (a == AuthzStatus::invalid || a == AuthzStatus::deactivated || a == AuthzStatus::expired ||
            a == AuthzStatus::revoked)
            return OrderStatus::invalid;
        if (a != AuthzStatus::valid) all_valid = false;
    }
    return all_valid && !authzs.empty() ? OrderStatus::ready : OrderStatus::pending;
}

std::string key_authorization(std::string_view token, std::string_view thumbprint_b64url) {
    std::string out(token);
    out += '.';
    out += thumbprint_b64url;
    return out;
}

std::string tls_alpn01_digest(std::string_view key_authorization) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = detail::digest_into("SHA256", key_authorization, md);
    return std::string(reinterpret_cast<const char*>(md), n);
}

std::string dns01_value(std::string_view key_authorization) {
    return detail::base64url_encode(tls_alpn01_digest(key_authorization));
}

std::string new_token() {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) throw Error(ErrorKind::crypto, "RAND_bytes failed");
    return detail::base64url_encode(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
}

}  // namespace minica::acme
