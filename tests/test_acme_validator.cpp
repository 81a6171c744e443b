// The ACME challenge validator (acme/validator.hpp): the pure checks as
// tables, then http-01, tls-alpn-01 and dns-01 against responders in this
// process, on loopback only (127.0.0.1; 127.0.0.2 stands for "another host":
// Linux routes all of 127/8 locally). DNS goes to knotd when it is installed
// (a zone written here) or to a port where nothing answers. Every wait is
// bounded: a validator that hangs fails the test, it does not stall it.
#include <doctest/doctest.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "minica/acme/detail/checks.hpp"
#include "minica/acme/validator.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"
#include "minica/testing/ca.hpp"

using namespace minica;
using namespace minica::acme;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using minica::detail::X509Ptr;
namespace checks = minica::acme::detail;

namespace {

// ---- digests computed here with OpenSSL, not with the code under test -------

std::string sha256_raw(std::string_view s) {
    unsigned char md[32];
    unsigned n = 0;
    REQUIRE(EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr) == 1);
    return std::string(reinterpret_cast<char*>(md), n);
}

std::string b64url(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

const std::string kKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

Identifier dns_id(std::string v) { return {.type = IdentifierType::dns, .value = std::move(v)}; }
Identifier ip_id(std::string v) { return {.type = IdentifierType::ip, .value = std::move(v)}; }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// ---- certificates for tls-alpn-01, built with raw OpenSSL -------------------
// The library's Authority writes only the extensions its profiles know;
// a test certificate needs arbitrary ones (a non-critical acmeIdentifier,
// two of them, a malformed value), so it is assembled here.

struct AcmeCertSpec {
    std::vector<std::string> dns;
    std::vector<std::string> ips;
    bool acme_ext = true;
    bool critical = true;
    std::string digest;          // the OCTET STRING's content
    bool raw_value = false;      // the extension's value is `digest` itself, not an OCTET STRING of it
    bool second_ext = false;     // a second acmeIdentifier extension
};

X509Ptr make_acme_cert(const PrivateKey& key, const AcmeCertSpec& spec) {
    X509Ptr cert(X509_new());
    REQUIRE(cert);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("acme"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.native());

    if (!spec.dns.empty() || !spec.ips.empty()) {
        minica::detail::Ptr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
        for (const auto& d : spec.dns) {
            GENERAL_NAME* gn = GENERAL_NAME_new();
            ASN1_IA5STRING* s = ASN1_IA5STRING_new();
            ASN1_STRING_set(s, d.data(), static_cast<int>(d.size()));
            GENERAL_NAME_set0_value(gn, GEN_DNS, s);
            sk_GENERAL_NAME_push(names.get(), gn);
        }
        for (const auto& ip : spec.ips) {
            GENERAL_NAME* gn = GENERAL_NAME_new();
            GENERAL_NAME_set0_value(gn, GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
            sk_GENERAL_NAME_push(names.get(), gn);
        }
        REQUIRE(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1);
    }
    auto add_acme = [&] {
        minica::detail::Ptr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
        std::string value = spec.digest;
        if (!spec.raw_value) {
            minica::detail::Ptr<ASN1_STRING> octets(ASN1_OCTET_STRING_new());
            ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(spec.digest.data()),
                                  static_cast<int>(spec.digest.size()));
            value = minica::detail::to_der(i2d_ASN1_OCTET_STRING, octets.get(), "acmeIdentifier");
        }
        minica::detail::Ptr<ASN1_STRING> data(ASN1_OCTET_STRING_new());
        ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(value.data()),
                              static_cast<int>(value.size()));
        minica::detail::Ptr<X509_EXTENSION> ext(
            X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), spec.critical ? 1 : 0, data.get()));
        REQUIRE(ext);
        REQUIRE(X509_add_ext(cert.get(), ext.get(), -1) == 1);
    };
    if (spec.acme_ext) add_acme();
    if (spec.second_ext) add_acme();
    REQUIRE(X509_sign(cert.get(), key.native(), EVP_sha256()) > 0);
    return cert;
}

}  // namespace

// ---- pure checks --------------------------------------------------------------

TEST_CASE("http-01 body: trailing whitespace is trimmed, anything else must match exactly") {
    using checks::check_http01_body;
    CHECK_FALSE(check_http01_body(kKeyAuth, kKeyAuth));
    CHECK_FALSE(check_http01_body(kKeyAuth + "\r\n", kKeyAuth));
    CHECK_FALSE(check_http01_body(kKeyAuth + " \t\r\n\n", kKeyAuth));
    for (std::string body : {" " + kKeyAuth, kKeyAuth + ".", kKeyAuth.substr(1), std::string(), kKeyAuth + "\v",
                             "\n" + kKeyAuth}) {
        auto p = check_http01_body(body, kKeyAuth);
        REQUIRE(p);
        CHECK(p->type == ProblemType::incorrect_response);
    }
    auto p = check_http01_body(std::string(500, 'A') + "\x01\xff", kKeyAuth);
    REQUIRE(p);
    CHECK(contains(p->detail, "\"" + std::string(64, 'A') + "\""));
    CHECK(contains(p->detail, "502 bytes"));
    p = check_http01_body("bad\x01\xff\"", kKeyAuth);
    REQUIRE(p);
    CHECK(contains(p->detail, "\"bad\\x01\\xFF\\\"\""));
    CHECK_NOTHROW((void)nlohmann::json(p->detail).dump());  // valid UTF-8 whatever came back
}

TEST_CASE("redirect_allowed: only the same host, port and http, read without guessing") {
    using checks::redirect_allowed;
    struct Row {
        std::string location;
        std::optional<std::string> target;
    };
    const std::vector<Row> rows = {
        {"/.well-known/acme-challenge/x", "/.well-known/acme-challenge/x"},
        {"/x?y=1#frag", "/x?y=1"},
        {"http://a.test:8080/x", "/x"},
        {"HTTP://A.TEST:8080/x", "/x"},           // scheme and host have no case
        {"http://a.test:08080/x", "/x"},          // the same port, spelled with a zero
        {"//a.test:8080/x", "/x"},                // network-path: the scheme stays http
        {"http://a.test:8080", "/"},
        {"http://a.test:8080?q", "/?q"},
        {"http://a.test/x", std::nullopt},        // port 80, not 8080
        {"http://a.test:/x", std::nullopt},       // empty port = 80
        {"http://a.test:80/x", std::nullopt},
        {"http://a.test:18080/x", std::nullopt},
        {"http://a.test:99999999/x", std::nullopt},
        {"http://a.test:8080x/x", std::nullopt},
        {"https://a.test:8080/x", std::nullopt},  // another scheme
        {"ftp://a.test:8080/x", std::nullopt},
        {"http:/a.test:8080/x", std::nullopt},
        {"http:a.test:8080/x", std::nullopt},
        {"//b.test:8080/x", std::nullopt},        // another host
        {"http://b.test:8080/x", std::nullopt},
        {"http://a.test.:8080/x", std::nullopt},  // a trailing dot is another spelling: refused
        {"http://a.test.evil:8080/x", std::nullopt},
        {"http://user@a.test:8080/x", std::nullopt},        // userinfo
        {"http://a.test:8080@b.test:8080/x", std::nullopt},
        {"http://b.test:8080@a.test:8080/x", std::nullopt},
        {"http://a.test:8080\\@b.test/x", std::nullopt},   // backslashes
        {"\\\\b.test/x", std::nullopt},
        {"/\\b.test/x", std::nullopt},
        {"http:\\\\a.test:8080/x", std::nullopt},
        {"x", std::nullopt},                                // relative path
        {"../x", std::nullopt},
        {"", std::nullopt},
        {"/x y", std::nullopt},                             // whitespace and control characters
        {"/x\r\nSet-Cookie: a=b", std::nullopt},
        {"/x\t", std::nullopt},
        {"/\xc3\xa9", std::nullopt},                        // non-ASCII
        {"http://[::1]:8080/x", std::nullopt},
        {"http://[a.test:8080/x", std::nullopt},
        {"/" + std::string(3000, 'x'), std::nullopt},
    };
    for (const auto& row : rows) {
        CAPTURE(row.location);
        CHECK(redirect_allowed(row.location, "a.test", 8080) == row.target);
    }
    // IPv6 hosts are bracketed, as in a URL.
    CHECK(redirect_allowed("http://[2001:db8::1]:8080/x", "[2001:db8::1]", 8080) == std::optional<std::string>("/x"));
    CHECK(redirect_allowed("http://[2001:DB8::1]:8080/x", "[2001:db8::1]", 8080) == std::optional<std::string>("/x"));
    CHECK_FALSE(redirect_allowed("http://[2001:db8::2]:8080/x", "[2001:db8::1]", 8080));
    CHECK_FALSE(redirect_allowed("http://[2001:db8::1]8080/x", "[2001:db8::1]", 8080));
    CHECK(redirect_allowed("http://127.0.0.1/x", "127.0.0.1", 80) == std::optional<std::string>("/x"));
    CHECK_FALSE(redirect_allowed("http://127.0.0.2/x", "127.0.0.1", 80));
    CHECK_FALSE(redirect_allowed("http://2130706433/x", "127.0.0.1", 80));  // another spelling of 127.0.0.1
}

TEST_CASE("reverse_dns_name: RFC 8738 §6 forms for IPv4 and IPv6") {
    using checks::reverse_dns_name;
    CHECK(reverse_dns_name("1.2.3.4") == "4.3.2.1.in-addr.arpa");
    CHECK(reverse_dns_name("127.0.0.1") == "1.0.0.127.in-addr.arpa");
    CHECK(reverse_dns_name("2001:db8::1") ==
          "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    CHECK(reverse_dns_name("::1") == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
    CHECK_THROWS_AS(reverse_dns_name("a.test"), Error);
    CHECK_THROWS_AS(reverse_dns_name("1.2.3"), Error);
    CHECK_THROWS_AS(reverse_dns_name(""), Error);
}

TEST_CASE("dns-01: one TXT record must equal the value; the problem counts what was found") {
    using checks::check_dns01;
    const std::string value = b64url(sha256_raw(kKeyAuth));
    CHECK_FALSE(check_dns01({value}, "_acme-challenge.a.test", value));
    CHECK_FALSE(check_dns01({"other", value}, "_acme-challenge.a.test", value));
    auto p = check_dns01({}, "_acme-challenge.a.test", value);
    REQUIRE(p);
    CHECK(p->type == ProblemType::unauthorized);
    CHECK(contains(p->detail, "_acme-challenge.a.test"));
    CHECK(contains(p->detail, "0 records found"));
    p = check_dns01({"x", value + " "}, "_acme-challenge.a.test", value);
    REQUIRE(p);
    CHECK(contains(p->detail, "2 records found"));
    CHECK(contains(check_dns01({"x"}, "n", value)->detail, "1 record found"));
}

TEST_CASE("the SHA-256 helper agrees with OpenSSL computed here") {
    CHECK(checks::sha256(kKeyAuth) == sha256_raw(kKeyAuth));
    CHECK(checks::sha256("").size() == 32);
}

TEST_CASE("tls-alpn-01 certificate: one SAN equal to the identifier, critical acmeIdentifier with the digest") {
    using checks::check_tls_alpn01_certificate;
    const PrivateKey key = PrivateKey::generate();
    const std::string digest = sha256_raw(kKeyAuth);
    struct Row {
        const char* what;
        Identifier id;
        AcmeCertSpec spec;
        std::optional<std::string> failure;  // a part of the detail; nullopt: passes
    };
    const std::string wrong(32, '\x01');
    const std::vector<Row> rows = {
        {"right", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest}, std::nullopt},
        {"SAN case differs", dns_id("a.test"), {.dns = {"A.Test"}, .digest = digest}, std::nullopt},
        {"IP", ip_id("127.0.0.1"), {.ips = {"127.0.0.1"}, .digest = digest}, std::nullopt},
        {"IPv6", ip_id("2001:db8::1"), {.ips = {"2001:db8:0::1"}, .digest = digest}, std::nullopt},
        {"wrong digest", dns_id("a.test"), {.dns = {"a.test"}, .digest = wrong}, "not the SHA-256"},
        {"short digest", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest.substr(0, 31)}, "31 bytes"},
        {"not critical", dns_id("a.test"), {.dns = {"a.test"}, .critical = false, .digest = digest}, "not critical"},
        {"no extension", dns_id("a.test"), {.dns = {"a.test"}, .acme_ext = false}, "no acmeIdentifier"},
        {"two extensions", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest, .second_ext = true},
         "more than one acmeIdentifier"},
        {"value not an OCTET STRING", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest, .raw_value = true},
         "not one DER OCTET STRING"},
        {"two SANs", dns_id("a.test"), {.dns = {"a.test", "b.test"}, .digest = digest}, "2 subjectAltNames"},
        {"DNS and IP SANs", dns_id("a.test"), {.dns = {"a.test"}, .ips = {"127.0.0.1"}, .digest = digest},
         "2 subjectAltNames"},
        {"other name", dns_id("a.test"), {.dns = {"b.test"}, .digest = digest}, "\"b.test\", not a.test"},
        {"no SAN", dns_id("a.test"), {.digest = digest}, "no subjectAltName"},
        {"IP identifier, DNS SAN", ip_id("127.0.0.1"), {.dns = {"127.0.0.1"}, .digest = digest}, "not an iPAddress"},
        {"DNS identifier, IP SAN", dns_id("a.test"), {.ips = {"127.0.0.1"}, .digest = digest}, "not a dNSName"},
        {"other IP", ip_id("127.0.0.1"), {.ips = {"127.0.0.2"}, .digest = digest}, "iPAddress is not 127.0.0.1"},
    };
    for (const auto& row : rows) {
        CAPTURE(row.what);
        X509Ptr cert = make_acme_cert(key, row.spec);
        auto p = check_tls_alpn01_certificate(cert.get(), row.id, digest);
        if (!row.failure) {
            CHECK_FALSE(p);
            continue;
        }
        REQUIRE(p);
        CHECK(p->type == ProblemType::incorrect_response);
        CAPTURE(p->detail);
        CHECK(contains(p->detail, *row.failure));
    }
    CHECK(check_tls_alpn01_certificate(nullptr, dns_id("a.test"), digest));
}

