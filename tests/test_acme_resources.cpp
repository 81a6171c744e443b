// acme/resources: identifiers, statuses and the pure rules between them.
#include <doctest/doctest.h>

#include <chrono>

#include "minica/acme/resources.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

using namespace minica;
using namespace minica::acme;
using nlohmann::json;

namespace {
const Time t0 = Time{std::chrono::seconds{1767225600}};
json id(const char* type, const char* value) { return {{"type", type}, {"value", value}}; }
}  // namespace

TEST_CASE("identifiers: canonical dns and ip only, wildcards as the whole first label") {
    CHECK(parse_identifier(id("dns", "a.example.test")) == Identifier{IdentifierType::dns, "a.example.test"});
    CHECK(parse_identifier(id("ip", "127.0.0.1")) == Identifier{IdentifierType::ip, "127.0.0.1"});
    CHECK(parse_identifier(id("ip", "2001:db8::1")).value == "2001:db8::1");
    Identifier w = parse_identifier(id("dns", "*.a.test"));
    CHECK(is_wildcard(w));
    CHECK(base_name(w) == "a.test");
    CHECK(!is_wildcard(parse_identifier(id("dns", "a.test"))));
    CHECK(parse_identifier(id("dns", "a.test")).to_json() == id("dns", "a.test"));
    // Refused, each with Error(invalid_argument) naming the identifier.
    for (const json& bad : {id("dns", "A.test"), id("dns", "a.test."), id("ip", "2001:DB8::1"), id("ip", "127.000.0.1"),
                            id("dns", "a.*.test"), id("dns", "*a.test"), id("dns", "*.*.a.test"), id("ip", "*.1.2.3"),
                            id("dns", "127.0.0.1"), id("ip", "a.test"), id("email", "a@b.test"), id("dns", ""),
                            id("dns", "a..test"), id("dns", "*.")}) {
        CAPTURE(bad.dump());
        CHECK_THROWS_AS(parse_identifier(bad), Error);
    }
    CHECK_THROWS_AS(parse_identifier(json::array()), Error);
    CHECK_THROWS_AS(parse_identifier(json{{"type", "dns"}, {"value", 3}}), Error);
    try {
        parse_identifier(id("dns", "A.test"));
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        CHECK(std::string(e.what()).find("canonical") != std::string::npos);
    }
}

TEST_CASE("status names round-trip; unknown ones are Error(parse)") {
    for (auto s : {OrderStatus::pending, OrderStatus::ready, OrderStatus::processing, OrderStatus::valid, OrderStatus::invalid})
        CHECK(parse_order_status(to_string(s)) == s);
    for (auto s : {AuthzStatus::pending, AuthzStatus::valid, AuthzStatus::invalid, AuthzStatus::deactivated,
                   AuthzStatus::expired, AuthzStatus::revoked})
        CHECK(parse_authz_status(to_string(s)) == s);
    for (auto s : {ChallengeType::http_01, ChallengeType::tls_alpn_01, ChallengeType::dns_01})
        CHECK(parse_challenge_type(to_string(s)) == s);
    CHECK(to_string(ChallengeType::tls_alpn_01) == "tls-alpn-01");
    CHECK(parse_account_status("deactivated") == AccountStatus::deactivated);
    CHECK_THROWS_AS(parse_order_status("Ready"), Error);
    CHECK_THROWS_AS(parse_challenge_type("http-02"), Error);
}

TEST_CASE("offered challenges") {
    CHECK(offered_challenges(IdentifierType::dns, true) == std::vector{ChallengeType::dns_01});
    CHECK(offered_challenges(IdentifierType::ip, false) == std::vector{ChallengeType::http_01, ChallengeType::tls_alpn_01});
    CHECK(offered_challenges(IdentifierType::dns, false).size() == 3);
}

TEST_CASE("order status from its authorizations (RFC 8555 §7.1.6)") {
    const Time exp = t0 + std::chrono::hours(1);
    using A = AuthzStatus;
    using O = OrderStatus;
    CHECK(order_status(O::pending, exp, {A::pending, A::valid}, t0) == O::pending);
    CHECK(order_status(O::pending, exp, {A::valid, A::valid}, t0) == O::ready);
    CHECK(order_status(O::pending, exp, {A::valid, A::invalid}, t0) == O::invalid);
    CHECK(order_status(O::pending, exp, {A::deactivated}, t0) == O::invalid);
    CHECK(order_status(O::pending, exp, {A::expired, A::pending}, t0) == O::invalid);
    CHECK(order_status(O::pending, exp, {A::valid}, exp) == O::invalid);  // the order itself expired
    CHECK(order_status(O::pending, exp, {}, t0) == O::pending);
    CHECK(order_status(O::valid, exp, {A::valid}, exp + std::chrono::hours(1)) == O::valid);
    CHECK(order_status(O::processing, exp, {A::valid}, t0) == O::processing);
    CHECK(effective_status(A::pending, exp, exp) == A::expired);
    CHECK(effective_status(A::valid, exp, exp - std::chrono::seconds(1)) == A::valid);
    CHECK(effective_status(A::invalid, exp, exp + std::chrono::hours(1)) == A::invalid);
}

TEST_CASE("key authorization and its digests (RFC 8555 §8.1, §8.4; RFC 8737)") {
    // RFC 8555 §8.4's example shape: token "." thumbprint; the TXT value is
    // base64url(SHA-256(key authorization)), the tls-alpn-01 digest its raw 32 bytes.
    const std::string ka = key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                                             "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    CHECK(ka == "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    CHECK(tls_alpn01_digest(ka).size() == 32);
    CHECK(dns01_value(ka) == detail::base64url_encode(tls_alpn01_digest(ka)));
    CHECK(dns01_value(ka).size() == 43);
    // SHA-256("abc"), FIPS 180-2.
    CHECK(detail::base64url_encode(tls_alpn01_digest("abc")) == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    const std::string t1 = new_token(), t2 = new_token();
    CHECK(t1.size() == 22);
    CHECK(t1 != t2);
    CHECK(detail::base64url_decode(t1).has_value());
}
