#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include "minica/authority.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/detail/x509util.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"
#include "minica/verify.hpp"

using namespace minica;
using namespace std::chrono;

namespace {
SubjectAltNames sans(std::initializer_list<const char*> names) {
    SubjectAltNames s;
    for (auto* n : names) s.add(n);
    return s;
}
const Time fixed = sys_days{year{2026} / 6 / 1} + hours{12};
}  // namespace

TEST_CASE("a root is a CA with the right extensions and no EKU") {
    CaOptions o;
    o.subject.common_name = "Test Root";
    o.path_len = 1;
    o.now = fixed;
    Authority root = Authority::create_root(o);
    const Certificate& c = root.certificate();
    CHECK(c.is_ca());
    CHECK(c.path_len() == 1);
    CHECK(c.self_signed());
    CHECK(c.subject() == "CN=Test Root");
    CHECK(c.key_usage() == std::vector<std::string>{"digitalSignature", "keyCertSign", "cRLSign"});
    CHECK(c.extended_key_usage().empty());
    CHECK(!c.subject_key_id().empty());
    CHECK(c.not_before() == fixed - minutes{5});
    CHECK(c.not_after() == fixed + days{3650});
    CHECK(c.signature_algorithm() == "ecdsa-with-SHA256");
    X509* x = c.native();
    int crit = -1;
    BASIC_CONSTRAINTS* bc = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x, NID_basic_constraints, &crit, nullptr));
    REQUIRE(bc != nullptr);
    CHECK(crit == 1);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING* ku = static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x, NID_key_usage, &crit, nullptr));
    CHECK(crit == 1);
    ASN1_BIT_STRING_free(ku);
    CHECK(root.intermediates().empty());
    Authority inter = root.create_intermediate({.subject = {.common_name = "I"}, .now = fixed});
    CHECK(inter.certificate().not_after() == fixed + days{1825});
    CHECK(inter.certificate().path_len() == 0);
    CHECK(inter.intermediates() == std::vector<Certificate>{inter.certificate()});
    CHECK_THROWS_WITH_AS(inter.create_intermediate({}), doctest::Contains("pathLen 0"), Error);
}

TEST_CASE("leaves for every key type and profile verify for their purpose and name") {
    Authority root = Authority::create_root();
    Authority inter = root.create_intermediate({.subject = {.common_name = "Test Intermediate"}});
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048}) {
        for (Profile p : leaf_profiles) {
            for (const Authority* ca : {&root, &inter}) {
                CAPTURE(to_string(t));
                CAPTURE(to_string(p));
                auto leaf = ca->issue({.names = sans({"app.test", "127.0.0.1", "::1"}), .profile = p, .key_type = t});
                CHECK(leaf.certificate.matches(leaf.key));
                CHECK(!leaf.certificate.is_ca());
                CHECK(leaf.certificate.authority_key_id() == ca->certificate().subject_key_id());
                CHECK(leaf.chain.front() == leaf.certificate);
                CHECK(leaf.chain.size() == (ca == &inter ? 2u : 1u));
                auto ku = leaf.certificate.key_usage();
                bool rsa = t == KeyType::rsa_2048;
                CHECK(ku == (rsa ? std::vector<std::string>{"digitalSignature", "keyEncipherment"}
                                 : std::vector<std::string>{"digitalSignature"}));
                std::vector<Certificate> untrusted(leaf.chain.begin() + 1, leaf.chain.end());
                bool server = usage_of(p).server_auth, client = usage_of(p).client_auth;
                auto eku = leaf.certificate.extended_key_usage();
                CHECK((std::find(eku.begin(), eku.end(), "emailProtection") != eku.end()) == (p == Profile::email));
                auto r = verify_chain(leaf.certificate, untrusted, {root.certificate()},
                                      {.purpose = Purpose::server, .host = "app.test"});
                CHECK_MESSAGE(r.ok == server, r.reason);
                r = verify_chain(leaf.certificate, untrusted, {root.certificate()}, {.purpose = Purpose::client});
                CHECK_MESSAGE(r.ok == client, r.reason);
                r = verify_chain(leaf.certificate, untrusted, {root.certificate()}, {.purpose = Purpose::any, .ip = "::1"});
                CHECK_MESSAGE(r.ok, r.reason);
                r = verify_chain(leaf.certificate, untrusted, {root.certificate()}, {.purpose = Purpose::any, .host = "other.test"});
                CHECK(!r.ok);
                // The names it covers, not its CN: what a verifier matches.
                CHECK(r.reason == "hostname mismatch: the certificate covers DNS:app.test, IP:127.0.0.1, IP:::1, not other.test");
                // Every signature verifies (the library skips the re-check for EC leaves on the hot path).
                CHECK(leaf.certificate.signed_by(ca->certificate()));
            }
        }
    }
}

TEST_CASE("P-384 issuers sign with SHA-384, Ed25519 issuers with Ed25519") {
    Authority p384 = Authority::create_root({.key_type = KeyType::ec_p384});
    CHECK(p384.issue({.names = sans({"a.test"})}).certificate.signature_algorithm() == "ecdsa-with-SHA384");
    Authority ed = Authority::create_root({.key_type = KeyType::ed25519});
    CHECK(ed.issue({.names = sans({"a.test"})}).certificate.signature_algorithm() == "ED25519");
    Authority rsa = Authority::create_root({.key_type = KeyType::rsa_2048});
    CHECK(rsa.issue({.names = sans({"a.test"})}).certificate.signature_algorithm() == "sha256WithRSAEncryption");
}

TEST_CASE("serials are random, positive and 128 bits wide; validity defaults") {
    Authority root = Authority::create_root();
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) {
        auto leaf = root.issue({.names = sans({"a.test"}), .now = fixed});
        std::string s = leaf.certificate.serial_hex();
        CHECK(s.size() == 32);
        CHECK(s[0] >= '4');  // top bit clear, next bit set
        CHECK(s[0] <= '7');
        seen.insert(s);
        CHECK(leaf.certificate.not_before() == fixed - minutes{5});
        CHECK(leaf.certificate.not_after() == fixed + days{397});
    }
    CHECK(seen.size() == 200);
    // A reserved serial and a given key are used as they are.
    PrivateKey key = PrivateKey::generate(KeyType::ed25519);
    auto fixed_serial = root.issue({.names = sans({"a.test"}), .serial = std::string("\x01\x02\x03", 3), .key = key});
    CHECK(fixed_serial.certificate.serial_hex() == "10203");
    CHECK(fixed_serial.certificate.matches(key));
    CHECK(fixed_serial.certificate.key_type() == KeyType::ed25519);
}

TEST_CASE("the subject: CN = first name; empty subject + critical SAN for long names") {
    Authority root = Authority::create_root();
    auto leaf = root.issue({.names = sans({"a.test", "b.test"})});
    CHECK(leaf.certificate.common_name() == "a.test");
    std::string long_name = std::string(60, 'a') + ".example.com";
    auto l2 = root.issue({.names = sans({long_name.c_str()})});
    CHECK(l2.certificate.subject().empty());
    int crit = -1;
    GENERAL_NAMES* g = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(l2.certificate.native(), NID_subject_alt_name, &crit, nullptr));
    CHECK(crit == 1);
    GENERAL_NAMES_free(g);
    auto r = verify_chain(l2.certificate, {}, {root.certificate()}, {.host = long_name});
    CHECK_MESSAGE(r.ok, r.reason);
}

TEST_CASE("name constraints are written and enforced at issuance") {
    CaOptions o;
    o.constraints.permit("example.com");
    o.constraints.permit("10.0.0.0/8");
    o.constraints.exclude("secret.example.com");
    Authority root = Authority::create_root(o);
    auto nc = root.certificate().name_constraints();
    CHECK(nc.permitted_dns == std::vector<std::string>{"example.com"});
    CHECK(nc.excluded_dns == std::vector<std::string>{"secret.example.com"});
    REQUIRE(nc.permitted_ip.size() == 1);
    CHECK(nc.permitted_ip[0].to_string() == "10.0.0.0/8");
    auto ok = root.issue({.names = sans({"www.example.com", "10.1.2.3"})});
    CHECK(verify_chain(ok.certificate, {}, {root.certificate()}, {.host = "www.example.com"}).ok);
    CHECK_THROWS_WITH_AS(root.issue({.names = sans({"www.other.com"})}), doctest::Contains("www.other.com"), Error);
    CHECK_THROWS_WITH_AS(root.issue({.names = sans({"x.secret.example.com"})}), doctest::Contains("x.secret.example.com"), Error);
    CHECK_THROWS_WITH_AS(root.issue({.names = sans({"192.168.1.1"})}), doctest::Contains("192.168.1.1"), Error);
    // Constraints of the root bind an intermediate's issuance too.
    Authority inter = root.create_intermediate({.subject = {.common_name = "I"}});
    CHECK_THROWS_AS(inter.issue({.names = sans({"www.other.com"})}), Error);
}

TEST_CASE("an Authority refuses a non-CA certificate or a key that does not match") {
    Authority root = Authority::create_root();
    Authority other = Authority::create_root();
    auto leaf = root.issue({.names = sans({"a.test"})});
    CHECK_THROWS_WITH_AS(Authority(root.certificate(), other.key()), doctest::Contains("does not match"), Error);
    CHECK_THROWS_WITH_AS(Authority(leaf.certificate, leaf.key), doctest::Contains("not a CA"), Error);
    CHECK_THROWS_AS(root.issue({}), Error);
}

TEST_CASE("verification reports expiry, not-yet-valid and unknown issuers") {
    Authority root = Authority::create_root({.now = fixed - days{100}});
    Authority other = Authority::create_root({.now = fixed - days{100}});
    auto leaf = root.issue({.names = sans({"a.test"}), .validity = days{30}, .now = fixed});
    auto r = verify_chain(leaf.certificate, {}, {root.certificate()}, {.host = "a.test", .at = fixed + days{31}});
    CHECK(!r.ok);
    CHECK(r.reason.find("expired") != std::string::npos);
    r = verify_chain(leaf.certificate, {}, {root.certificate()}, {.host = "a.test", .at = fixed - days{1}});
    CHECK(r.reason.find("not yet valid") != std::string::npos);
    r = verify_chain(leaf.certificate, {}, {other.certificate()}, {.host = "a.test", .at = fixed});
    CHECK(!r.ok);
    CHECK(r.reason.find("issuer") != std::string::npos);
}

TEST_CASE("CSR: create, parse, sign under a policy") {
    Authority root = Authority::create_root();
    PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    auto csr = CertificateRequest::create(key, {.common_name = "svc.test"}, sans({"svc.test", "10.0.0.1"}));
    CHECK(csr.signature_valid());
    auto again = CertificateRequest::parse(csr.to_pem(), "pem");
    auto der = CertificateRequest::parse(csr.to_der(), "der");
    CHECK(again.names() == csr.names());
    CHECK(der.common_name() == "svc.test");
    Policy policy;
    Certificate cert = root.sign(again, policy, {.profile = Profile::both});
    CHECK(cert.matches(key));
    CHECK(cert.extended_key_usage() == std::vector<std::string>{"serverAuth", "clientAuth"});
    CHECK(verify_chain(cert, {}, {root.certificate()}, {.host = "svc.test"}).ok);
    CHECK_THROWS_AS(CertificateRequest::parse("garbage", "g"), Error);
    CHECK_THROWS_AS(CertificateRequest::parse(csr.to_pem().substr(0, 100), "t"), Error);
}

namespace {
// A CSR built with OpenSSL's own API, carrying whatever extensions a hostile client wants.
CertificateRequest hostile_csr(const PrivateKey& key, const char* san, const char* ext_nid_value, int nid,
                               bool compressed_point = false) {
    X509_REQ* req = X509_REQ_new();
    X509_REQ_set_version(req, 0);
    EVP_PKEY* pub = EVP_PKEY_dup(key.native());
    if (compressed_point)
        REQUIRE(EVP_PKEY_set_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") == 1);
    X509_REQ_set_pubkey(req, pub);
    EVP_PKEY_free(pub);
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san));
    if (ext_nid_value) sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, nid, ext_nid_value));
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_sign(req, key.native(), EVP_sha256());
    unsigned char* buf = nullptr;
    int n = i2d_X509_REQ(req, &buf);
    std::string der(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    X509_REQ_free(req);
    return CertificateRequest::parse(der, "hostile.csr");
}
}  // namespace

TEST_CASE("hostile CSRs are refused with a clear error") {
    CaOptions o;
    o.constraints.permit("example.com");
    Authority root = Authority::create_root(o);
    PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    Policy policy;
    auto expect = [&](const CertificateRequest& csr, ErrorKind kind, const char* text, Profile p = Profile::server) {
        try {
            root.sign(csr, policy, {.profile = p});
            FAIL("hostile CSR signed: " << text);
        } catch (const Error& e) {
            CHECK(e.kind() == kind);
            CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, std::string(e.what()));
        }
    };
    expect(hostile_csr(key, "DNS:a.example.com", "critical,CA:TRUE", NID_basic_constraints), ErrorKind::policy, "CA:TRUE");
    expect(hostile_csr(key, "DNS:a.example.com", "codeSigning", NID_ext_key_usage), ErrorKind::policy, "extended key usage");
    expect(hostile_csr(key, "DNS:a.example.com", "clientAuth", NID_ext_key_usage), ErrorKind::policy, "clientAuth");
    expect(hostile_csr(key, "DNS:a.example.com", "keyCertSign", NID_key_usage), ErrorKind::policy, "keyCertSign");
    expect(hostile_csr(key, "DNS:www.other.com", nullptr, 0), ErrorKind::policy, "www.other.com");
    expect(hostile_csr(key, "DNS:bad..name", nullptr, 0), ErrorKind::invalid_argument, "bad..name");
    // The same key as a compressed point: a second spelling of its SPKI, which
    // would slip past checks that compare SPKIs (keys revoked for keyCompromise).
    CertificateRequest compressed = hostile_csr(key, "DNS:a.example.com", nullptr, 0, true);
    REQUIRE(compressed.public_key_der() != key.public_key_der());
    CHECK(compressed.signature_valid());
    expect(compressed, ErrorKind::policy, "compressed point");
    CHECK(hostile_csr(key, "DNS:a.example.com", nullptr, 0).ec_point_uncompressed());
    // Tamper with the signed body: the self-signature no longer verifies.
    std::string der = hostile_csr(key, "DNS:a.example.com", nullptr, 0).to_der();
    std::size_t at = der.find("a.example.com");
    REQUIRE(at != std::string::npos);
    der[at] = 'b';
    expect(CertificateRequest::parse(der, "tampered.csr"), ErrorKind::verify, "signature");
    // An allowed EKU within the profile is fine, and CA:FALSE is fine; neither is copied.
    Certificate ok = root.sign(hostile_csr(key, "DNS:a.example.com", "CA:FALSE", NID_basic_constraints), policy);
    CHECK(!ok.is_ca());
    Policy narrow;
    narrow.allowed_names = {"internal.example.com"};
    CHECK_THROWS_WITH_AS(root.sign(hostile_csr(key, "DNS:a.example.com", nullptr, 0), narrow), doctest::Contains("a.example.com"), Error);
}

TEST_CASE("CRLs: v2, growing number, AKI, reasons; revoked leaves fail verification") {
    Authority root = Authority::create_root();
    auto good = root.issue({.names = sans({"good.test"})});
    auto bad = root.issue({.names = sans({"bad.test"})});
    std::vector<RevokedCertificate> revoked{{bad.certificate.serial_hex(), now(), RevocationReason::key_compromise}};
    Crl crl = Crl::build(root, revoked, {.number = 7});
    CHECK(crl.number() == 7);
    CHECK(crl.signed_by(root.certificate()));
    CHECK(crl.is_revoked(bad.certificate.serial_hex()));
    CHECK(!crl.is_revoked(good.certificate.serial_hex()));
    REQUIRE(crl.entries().size() == 1);
    CHECK(crl.entries()[0].reason == RevocationReason::key_compromise);
    CHECK(X509_CRL_get_version(crl.native()) == 1);
    Crl parsed = Crl::parse(crl.to_pem());
    CHECK(parsed.der() == crl.der());
    CHECK(verify_chain(good.certificate, {}, {root.certificate()}, {.host = "good.test", .crls = {&crl}}).ok);
    auto r = verify_chain(bad.certificate, {}, {root.certificate()}, {.host = "bad.test", .crls = {&crl}});
    CHECK(!r.ok);
    CHECK(r.reason.find("revoked") != std::string::npos);
    CHECK(parse_revocation_reason("superseded") == RevocationReason::superseded);
    CHECK_THROWS_AS(parse_revocation_reason("bogus"), Error);
    Crl empty = Crl::build(root, {}, {.number = 8});
    CHECK(empty.entries().empty());
}

// Certificate reads names, serial, validity, extensions and the SPKI from the
// DER itself (certificate.cpp, parse_fields), not through X509: each must be
// what OpenSSL's X509 says.
TEST_CASE("certificate fields read from the DER agree with OpenSSL's X509") {
    CaOptions o;
    o.subject.common_name = "Fields Root";
    o.subject.organization = "minica tests";
    Authority root = Authority::create_root(o);
    CaOptions io;
    io.subject.common_name = "Fields Intermediate";
    io.key_type = KeyType::ec_p384;
    Authority inter = root.create_intermediate(io);
    std::vector<Certificate> certs{root.certificate(), inter.certificate()};
    for (KeyType kt : {KeyType::ec_p256, KeyType::ed25519, KeyType::rsa_2048}) {
        LeafOptions lo;
        lo.key_type = kt;
        lo.profile = Profile::both;
        lo.names = sans({"a.example.test", "*.w.example.test", "192.0.2.7", "2001:db8::1", "ops@example.test",
                         "spiffe://example.test/x"});
        certs.push_back(inter.issue(lo).certificate);
    }
    for (const Certificate& parsed : certs) {
        // A fresh object from the DER alone, so no X509 was parsed before the accessors run.
        Certificate c = Certificate::from_der(parsed.der());
        Certificate x = Certificate::from_der(parsed.der());
        X509* n = x.native();
        CAPTURE(c.subject());
        unsigned char* buf = nullptr;
        int len = i2d_X509_NAME(X509_get_subject_name(n), &buf);
        CHECK(c.subject_der() == std::string(reinterpret_cast<char*>(buf), static_cast<std::size_t>(len)));
        OPENSSL_free(buf);
        buf = nullptr;
        len = i2d_PUBKEY(X509_get0_pubkey(n), &buf);
        CHECK(c.public_key_der() == std::string(reinterpret_cast<char*>(buf), static_cast<std::size_t>(len)));
        OPENSSL_free(buf);
        CHECK(c.key_name() == detail::key_type_name(X509_get0_pubkey(n)));
        CHECK(c.is_ca() == ((X509_get_extension_flags(n) & EXFLAG_CA) != 0));
        CHECK(c.self_issued() == (X509_check_issued(n, n) == X509_V_OK));
        detail::BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(n), nullptr));
        char* hex = BN_bn2hex(serial.get());
        std::string h(hex);
        OPENSSL_free(hex);
        CHECK(c.serial_hex() == h.substr(h.find_first_not_of('0')));
        CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(n), system_clock::to_time_t(c.not_after())) == 0);
        CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(n), system_clock::to_time_t(c.not_before())) == 0);
        const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(n);
        CHECK(c.key_identifier() == (ski ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                                                       static_cast<std::size_t>(ASN1_STRING_length(ski)))
                                         : std::string()));
        detail::Ptr<GENERAL_NAMES> gens(
            static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(n, NID_subject_alt_name, nullptr, nullptr)));
        CHECK(c.names().all() == detail::from_general_names(gens.get()).all());
        CHECK(c.subject() == x.subject());
        CHECK(c.matches(c.is_ca() ? (c == root.certificate() ? root.key() : inter.key()) : root.key()) ==
              (c.is_ca()));
    }
    // Malformed: truncated, trailing bytes, a wrong outer tag.
    std::string der = root.certificate().der();
    CHECK_THROWS_AS(Certificate::from_der(der.substr(0, der.size() - 1)), Error);
    CHECK_THROWS_AS(Certificate::from_der(der + std::string(1, '\0')), Error);
    std::string bad = der;
    bad[0] = 0x31;
    CHECK_THROWS_AS(Certificate::from_der(bad), Error);
}

TEST_CASE("a leaf with crl_urls carries one non-critical CRL Distribution Point, as OpenSSL reads and writes it") {
    Authority root = Authority::create_root({.now = fixed});
    const std::string url = "http://crl.example.test:8080/ca.crl";
    auto leaf = root.issue({.names = sans({"cdp.test"}), .now = fixed, .crl_urls = {url}});
    X509* x = leaf.certificate.native();
    int crit = -1;
    detail::Ptr<CRL_DIST_POINTS> points(
        static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, nullptr)));
    REQUIRE(points != nullptr);
    CHECK(crit == 0);
    REQUIRE(sk_DIST_POINT_num(points.get()) == 1);
    const DIST_POINT* dp = sk_DIST_POINT_value(points.get(), 0);
    CHECK(dp->reasons == nullptr);
    CHECK(dp->CRLissuer == nullptr);
    REQUIRE(dp->distpoint != nullptr);
    REQUIRE(dp->distpoint->type == 0);  // fullName
    REQUIRE(sk_GENERAL_NAME_num(dp->distpoint->name.fullname) == 1);
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
    REQUIRE(g->type == GEN_URI);
    CHECK(detail::name_text(g->d.uniformResourceIdentifier) == url);
    // The bytes written are the bytes OpenSSL writes for the same value.
    int idx = X509_get_ext_by_NID(x, NID_crl_distribution_points, -1);
    REQUIRE(idx >= 0);
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    unsigned char* reencoded = nullptr;
    int len = i2d_CRL_DIST_POINTS(points.get(), &reencoded);
    REQUIRE(len > 0);
    CHECK(std::string(reinterpret_cast<char*>(reencoded), static_cast<std::size_t>(len)) ==
          std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                      static_cast<std::size_t>(ASN1_STRING_length(value))));
    OPENSSL_free(reencoded);
    CHECK(leaf.certificate.crl_distribution_points() == std::vector<std::string>{url});
    CHECK(leaf.certificate.to_json()["crl_distribution_points"] == nlohmann::json::array({url}));
    CHECK(verify_chain(leaf.certificate, {}, {root.certificate()}, {.host = "cdp.test", .at = fixed}).ok);

    // Without crl_urls: no extension, nothing in the JSON.
    auto plain = root.issue({.names = sans({"plain.test"}), .now = fixed});
    CHECK(X509_get_ext_by_NID(plain.certificate.native(), NID_crl_distribution_points, -1) == -1);
    CHECK(plain.certificate.crl_distribution_points().empty());
    CHECK(!plain.certificate.to_json().contains("crl_distribution_points"));

    // An intermediate made with the root's CRL URL carries it; the scheme in canonical (lower) case.
    Authority inter = root.create_intermediate({.subject = {.common_name = "I"}, .now = fixed,
                                                .crl_urls = {"HTTP://crl.example.test/root.crl"}});
    CHECK(inter.certificate().crl_distribution_points() ==
          std::vector<std::string>{"http://crl.example.test/root.crl"});
}

TEST_CASE("CRL URLs: http with a host only; https and the rest refused with the reason") {
    CHECK(canonical_crl_url("http://127.0.0.1:8080/crl") == "http://127.0.0.1:8080/crl");
    CHECK(canonical_crl_url("http://[::1]/crl") == "http://[::1]/crl");
    CHECK(canonical_crl_url("Http://ca.example/x.crl") == "http://ca.example/x.crl");
    CHECK_THROWS_WITH_AS(canonical_crl_url("https://ca.example/crl"), doctest::Contains("not https"), Error);
    for (const char* bad : {"ldap://ca.example/cn=x", "ftp://ca.example/crl", "ca.example/crl", "http://",
                            "http:///crl", "http:ca.example/crl", "http://user:pw@ca.example/crl",
                            "http://ca.example:0/crl", "http://ca.example:99999/crl", "http://ca.example:x/crl",
                            "http://ca example/crl", "http://ca.example/\xc3\xa9", "http://ca.example/a\tb", ""}) {
        CAPTURE(bad);
        try {
            canonical_crl_url(bad);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::invalid_argument);
            CHECK(std::string(e.what()).find("CRL URL") != std::string::npos);
        }
    }
    Authority root = Authority::create_root();
    CHECK_THROWS_WITH_AS(root.issue({.names = sans({"x.test"}), .crl_urls = {"https://ca.example/crl"}}),
                         doctest::Contains("https"), Error);
    // A template built by hand is checked too.
    CertificateTemplate t = leaf_template({.names = sans({"x.test"}), .now = now()}, root.certificate().not_after());
    t.crl_urls = {"ldap://ca.example/crl"};
    CHECK_THROWS_AS(root.sign_template(t, PrivateKey::generate().public_key_der()), Error);
}
