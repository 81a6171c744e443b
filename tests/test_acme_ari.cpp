#include <doctest/doctest.h>

#include <string>

#include <openssl/x509.h>

#include "minica/acme/ari.hpp"
#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/testing.hpp"

using namespace minica;
using namespace minica::acme;
using namespace std::chrono_literals;
using detail::base64url_decode;

namespace {

std::string bytes_of_hex(std::string_view hex) { return detail::serial_bytes(hex); }

// The serial's DER INTEGER content as OpenSSL encodes it (not through ari.cpp).
std::string serial_content(const Certificate& cert) {
    std::string der = detail::to_der(i2d_ASN1_INTEGER, X509_get0_serialNumber(cert.native()), "serial");
    REQUIRE(der.size() >= 3);
    REQUIRE(static_cast<unsigned char>(der[1]) < 0x80);  // short-form length: serials are ≤ 21 octets
    return der.substr(2);
}

struct Issued {
    Authority ca;
    Certificate leaf;
};

// A leaf under an intermediate (its AKI is the intermediate's SKI) with this serial.
Issued issue_with_serial(std::string serial) {
    static const Authority root = Authority::create_root({.now = testing::reference_time});
    static const Authority ca = root.create_intermediate(
        {.subject = {"ari test CA", {}, {}, {}}, .now = testing::reference_time});
    LeafOptions options;
    options.names.dns = {"ari.test"};
    options.now = testing::reference_time;
    options.serial = std::move(serial);
    return {ca, ca.issue(options).certificate};
}

void expect_refused(std::string_view text, std::string_view reason) {
    CAPTURE(text);
    try {
        parse_cert_id(text);
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::parse);
        CHECK(std::string(e.what()).find(reason) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("RFC 9773 §4.1's example certID: AKI 69:88:5B:...:C8:D4, serial 0x87654321") {
    const std::string aki = bytes_of_hex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
    const std::string example = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
    CHECK(format_cert_id(aki, "87654321") == example);
    CertId id = parse_cert_id(example);
    CHECK(id.key_identifier == aki);
    CHECK(id.serial_hex == "87654321");
    // The serial part is the DER content with its leading zero: 00 87 65 43 21.
    CHECK(*base64url_decode("AIdlQyE") == std::string("\x00\x87\x65\x43\x21", 5));
}

TEST_CASE("an issued certificate whose serial has the high bit set: its certID keeps DER's 0x00") {
    auto [ca, leaf] = issue_with_serial(bytes_of_hex("80112233445566778899AABBCCDDEEFF"));
    REQUIRE(leaf.serial_hex() == "80112233445566778899AABBCCDDEEFF");
    std::string id = cert_id(leaf);
    auto dot = id.find('.');
    REQUIRE(dot != std::string::npos);
    CHECK(*base64url_decode(id.substr(0, dot)) == ca.certificate().key_identifier());
    std::string serial = *base64url_decode(id.substr(dot + 1));
    CHECK(serial == serial_content(leaf));
    CHECK(serial.size() == 17);
    CHECK(serial[0] == '\0');
    CHECK(parse_cert_id(id) == CertId{ca.certificate().key_identifier(), leaf.serial_hex()});
}

TEST_CASE("an issued certificate whose serial has the high bit clear: no leading zero") {
    auto [ca, leaf] = issue_with_serial(bytes_of_hex("7F112233445566778899AABBCCDDEEFF"));
    std::string id = cert_id(leaf);
    std::string serial = *base64url_decode(id.substr(id.find('.') + 1));
    CHECK(serial == serial_content(leaf));
    CHECK(serial.size() == 16);
    CHECK(parse_cert_id(id) == CertId{ca.certificate().key_identifier(), leaf.serial_hex()});
}

TEST_CASE("certIDs of the test fixture's leaves round-trip (random serials)") {
    testing::TestCA ca({.now = testing::reference_time, .intermediates = 1});
    for (int i = 0; i < 8; ++i) {
        Certificate leaf = ca.issue("a.test").certificate();
        CertId id = parse_cert_id(cert_id(leaf));
        CHECK(id.key_identifier == ca.authority().certificate().key_identifier());
        CHECK(id.serial_hex == leaf.serial_hex());
        CHECK(format_cert_id(id.key_identifier, id.serial_hex) == cert_id(leaf));
    }
}

TEST_CASE("malformed certIDs are refused with a reason") {
    expect_refused("", "no \".\"");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ", "no \".\"");
    expect_refused(".AIdlQyE", "empty key identifier");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.", "empty serial");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE", "key identifier is not base64url");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE=", "serial is not base64url");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByN+.AIdlQyE", "key identifier is not base64url");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.AIdlQyE", "serial is not base64url");
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyF", "serial is not base64url");  // non-zero unused bits
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.h2VDIQ", "negative");                  // 87 65 43 21
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AA", "zero");                         // 00
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE", "superfluous leading zero");    // 00 01
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AACHZUMh", "superfluous leading zero");  // 00 00 87...
    // 21 octets of magnitude (RFC 5280: at most 20).
    expect_refused("aYhba4dGQEHhs3uEe6CuLN4ByNQ." + detail::base64url_encode(std::string(21, '\x11')),
                   "longer than 20 octets");
    // 20 octets of magnitude behind DER's 0x00 are fine.
    std::string eighty_ones;
    for (int i = 0; i < 20; ++i) eighty_ones += "81";
    CHECK(parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ." +
                        detail::base64url_encode(std::string(1, '\0') + std::string(20, '\x81')))
              .serial_hex == eighty_ones);
}

TEST_CASE("a certificate without an authority key identifier (a self-signed root) has no certID") {
    Authority root = Authority::create_root({.now = testing::reference_time});
    REQUIRE(root.certificate().authority_key_id().empty());
    try {
        cert_id(root.certificate());
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        CHECK(std::string(e.what()).find("no authority key identifier") != std::string::npos);
    }
    CHECK_THROWS_AS(format_cert_id("", "01"), Error);
}

TEST_CASE("the window of a valid 90-day certificate lies two thirds in, inside its validity") {
    Time nb = testing::reference_time;
    Time na = nb + std::chrono::days{90};
    RenewalWindow w = suggested_window(nb, na, false, nb + std::chrono::days{1});
    CHECK(w.start == nb + std::chrono::hours{24 * 60 - 108});  // 60 d - 4.5 d
    CHECK(w.end == nb + std::chrono::hours{24 * 60 + 108});    // 60 d + 4.5 d
    CHECK(w.start > nb);
    CHECK(w.end < na);
    // The window does not depend on when it is asked for.
    RenewalWindow later = suggested_window(nb, na, false, nb + std::chrono::days{70});
    CHECK((later.start == w.start && later.end == w.end));
    CHECK(to_json(w) == nlohmann::json{{"suggestedWindow",
                                        {{"start", "2025-02-25T12:00:00Z"}, {"end", "2025-03-06T12:00:00Z"}}}});
}

TEST_CASE("short and degenerate lifetimes still give a window whose end follows its start") {
    Time nb = testing::reference_time;
    for (auto life : {0s, 1s, 10s, 19s, 20s, 3600s}) {
        CAPTURE(life.count());
        RenewalWindow w = suggested_window(nb, nb + life, false, nb);
        CHECK(w.end > w.start);
        CHECK(w.start >= nb);
        if (life >= 1s) CHECK(w.end <= nb + life);
    }
}

TEST_CASE("a revoked certificate's window has passed: clients renew at once") {
    Time nb = testing::reference_time;
    Time now = nb + std::chrono::days{10};
    RenewalWindow w = suggested_window(nb, nb + std::chrono::days{90}, true, now);
    CHECK(w.end < now);
    CHECK(w.start < w.end);
    CHECK(w.end == now - std::chrono::days{1});
}
