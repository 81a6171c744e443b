// Writes the seed corpora (fuzz/corpus/<target>/) from what the library itself
// issues: certificates for every key type, an intermediate with name
// constraints, chains, CSRs, keys (plain, encrypted with "fuzz", legacy
// forms), CRLs, policies, names, HTTP requests and ACME JWS bodies.
//   build-fuzz/fuzz/make_seeds fuzz/corpus
// Keys are fresh each run, dates fixed; rerun only to refresh the corpus
// (keep it small: a few dozen files, well under 200 KB).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "minica/acme/jose.hpp"
#include "minica/authority.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/policy.hpp"
#include "minica/revocation.hpp"

namespace fs = std::filesystem;
using namespace minica;

namespace {

fs::path root_dir;

void put(const std::string& target, const std::string& name, std::string_view bytes) {
    fs::create_directories(root_dir / target);
    std::ofstream(root_dir / target / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// fuzz_key reads its first byte as the form of the rest (fuzz_key.cpp).
enum KeyForm : char { pem_text = 0, pkcs8_der = 1, encrypted_pkcs8_der = 2, ec_der = 3, rsa_der = 4 };
void put_key(const std::string& name, KeyForm form, std::string_view bytes) {
    put("fuzz_key", name, std::string(1, form) + std::string(bytes));
}

// A legacy (type-specific) DER encoding: "EC PRIVATE KEY" / "RSA PRIVATE KEY".
std::string type_specific_der(const PrivateKey& key) {
    OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(key.native(), EVP_PKEY_KEYPAIR, "DER", "type-specific", nullptr);
    unsigned char* data = nullptr;
    size_t len = 0;
    if (ctx == nullptr || OSSL_ENCODER_to_data(ctx, &data, &len) != 1) throw_openssl(ErrorKind::crypto, "encoding key");
    OSSL_ENCODER_CTX_free(ctx);
    std::string out(reinterpret_cast<char*>(data), len);
    OPENSSL_free(data);
    return out;
}

// Encrypted PKCS#8 under "fuzz", as minica writes it (PBES2, AES-256-CBC,
// scrypt) but with N=16 instead of 2^14, or with PBKDF2 at one iteration:
// the decryption paths at a fuzzing pace (a key from to_pem("fuzz") costs
// about 0.4 s per decryption under ASan).
std::string cheap_encrypted_pkcs8_der(const PrivateKey& key, bool scrypt) {
    std::string der = key.to_der();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    detail::Ptr<PKCS8_PRIV_KEY_INFO> p8(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
    unsigned char salt[16] = {'m', 'i', 'n', 'i', 'c', 'a', ' ', 'f', 'u', 'z', 'z', ' ', 's', 'e', 'e', 'd'};
    X509_ALGOR* alg = scrypt ? PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), salt, sizeof salt, nullptr, 16, 8, 1)
                             : PKCS5_pbe2_set_iv(EVP_aes_128_cbc(), 1, salt, 8, nullptr, NID_hmacWithSHA256);
    X509_SIG* sig = p8 && alg ? PKCS8_set0_pbe("fuzz", 4, p8.get(), alg) : nullptr;
    if (sig == nullptr) throw_openssl(ErrorKind::crypto, "encrypting key");
    std::string out = detail::to_der(i2d_X509_SIG, sig, "encrypted key");
    X509_SIG_free(sig);
    return out;
}

void certificates_chains_crls() {
    const Time now{std::chrono::seconds{1767225600}};  // 2026-01-01
    NameConstraints nc;
    for (auto s : {"example.com", ".internal.test", "10.0.0.0/8", "fd00::/8", "@example.com"}) nc.permit(s);
    for (auto s : {"secret.example.com", "10.99.0.0/16"}) nc.exclude(s);

    Authority root = Authority::create_root({.subject = {"fuzz root", "minica", {}, {}}, .now = now});
    Authority inter = root.create_intermediate(
        {.subject = {"fuzz intermediate", "minica", "seeds", "NL"}, .path_len = 0, .constraints = nc, .now = now});
    put("fuzz_certificate", "root-ec-p256.der", root.certificate().der());
    put("fuzz_certificate", "intermediate-constraints.der", inter.certificate().der());
    for (KeyType t : {KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048})
        put("fuzz_certificate", "root-" + std::string(to_string(t)) + ".der",
            Authority::create_root({.subject = {"root " + std::string(to_string(t)), {}, {}, {}}, .key_type = t, .now = now})
                .certificate()
                .der());

    // A leaf of every key type, and every kind of name, under the constrained intermediate.
    for (KeyType t : all_key_types) {
        auto leaf = inter.issue({.names = parse_identities({"app.example.com", "*.app.example.com", "10.1.2.3"}),
                                 .profile = t == KeyType::ed25519 ? Profile::client : Profile::server,
                                 .key_type = t, .now = now});
        put("fuzz_certificate", "leaf-" + std::string(to_string(t)) + ".der", leaf.certificate.der());
    }
    auto every = root.issue({.names = parse_identities({"www.example.com", "*.example.net", "bücher.example", "127.0.0.1",
                                                        "::1", "alice@example.com", "spiffe://example.org/sa/web"}),
                             .profile = Profile::both, .now = now});
    put("fuzz_certificate", "leaf-every-name.der", every.certificate.der());
    auto long_name = root.issue({.names = parse_identities({std::string(40, 'a') + "." + std::string(40, 'b') + ".example.com"}), .now = now});
    put("fuzz_certificate", "leaf-no-subject.der", long_name.certificate.der());

    auto leaf = inter.issue({.names = parse_identities({"app.example.com"}), .now = now});
    put("fuzz_chain", "fullchain.pem", leaf.fullchain_pem());
    put("fuzz_chain", "leaf-intermediate-root.pem", leaf.fullchain_pem() + root.certificate().to_pem());
    put("fuzz_chain", "root.pem", root.certificate().to_pem());
    put("fuzz_chain", "with-other-blocks.pem",
        "# comment\n" + leaf.key.public_key_pem() + leaf.cert_pem() + "trailing text\n");

    std::vector<RevokedCertificate> revoked;
    int i = 0;
    for (RevocationReason r : all_revocation_reasons)
        revoked.push_back({.serial_hex = "1A2B" + std::to_string(i++), .revoked_at = now, .reason = r});
    Crl crl = Crl::build(inter, revoked, {.number = 42, .this_update = now});
    put("fuzz_crl", "entries.der", crl.der());
    put("fuzz_crl", "entries.pem", crl.to_pem());
    put("fuzz_crl", "empty.pem", Crl::build(root, {}, {.number = 1, .this_update = now}).to_pem());
    Authority rsa = Authority::create_root({.subject = {"rsa root", {}, {}, {}}, .key_type = KeyType::rsa_2048, .now = now});
    put("fuzz_crl", "rsa-one.der",
        Crl::build(rsa, {{.serial_hex = "7F", .revoked_at = now, .reason = RevocationReason::key_compromise}},
                   {.number = 2, .this_update = now})
            .der());
}

void requests_and_keys() {
    for (KeyType t : all_key_types) {
        std::string n(to_string(t));
        PrivateKey key = PrivateKey::generate(t);
        auto csr = CertificateRequest::create(key, {"req." + n + ".test", {}, {}, {}},
                                              parse_identities({"req." + n + ".test", "192.0.2.1", "ops@example.com"}));
        if (t == KeyType::ec_p256 || t == KeyType::rsa_2048) put("fuzz_csr", n + ".der", csr.to_der());
        if (t != KeyType::rsa_4096) put("fuzz_csr", n + ".pem", csr.to_pem());

        if (t != KeyType::rsa_3072 && t != KeyType::rsa_4096) {
            put_key(n + ".pem", pem_text, key.to_pem());
            put_key(n + ".pkcs8.der", pkcs8_der, key.to_der());
        }
        if (t == KeyType::ec_p256 || t == KeyType::ed25519)
            put_key(n + ".scrypt.pem", pem_text,
                    detail::pem_encode("ENCRYPTED PRIVATE KEY", cheap_encrypted_pkcs8_der(key, true)));
        if (t == KeyType::ec_p256 || t == KeyType::rsa_2048)
            put_key(n + ".pbkdf2.der", encrypted_pkcs8_der, cheap_encrypted_pkcs8_der(key, false));
        if (t == KeyType::ec_p384) put_key(n + ".ec.der", ec_der, type_specific_der(key));
        if (t == KeyType::rsa_2048) put_key(n + ".rsa.der", rsa_der, type_specific_der(key));
    }
    // A CSR with no names, and one whose subject is a long CN.
    PrivateKey key = PrivateKey::generate();
    put("fuzz_csr", "no-names.pem", CertificateRequest::create(key, {"only a cn", "org", "unit", "NL"}, {}).to_pem());
}

void text_seeds() {
    put("fuzz_policy", "default.json", Policy{}.to_json());
    put("fuzz_policy", "restricted.json", R"({
  "allowed_names": ["example.com", ".internal.test", "10.0.0.0/8", "fd00::/8", "@example.com", "spiffe://example.org/"],
  "max_validity_days": 90,
  "key_types": ["ec-p256", "ed25519"],
  "profiles": ["server", "both"]
}
)");
    put("fuzz_policy", "small.json", R"({"allowed_names":["localhost","127.0.0.1"],"max_validity_days":1})");

    int n = 0;
    for (const char* s : {"localhost", "*.example.com", "bücher.example", "xn--bcher-kva.example", "127.0.0.1",
                          "2001:db8::1", "::ffff:192.0.2.1", "alice@Example.COM", "spiffe://example.org/ns/a/sa/b",
                          "https://[::1]:8443/path?q#f"})
        put("fuzz_names", "identity-" + std::to_string(n++), s);
    put("fuzz_names", "constraints-dns",
        "+example.com\n+.internal.test\n-secret.example.com\napp.example.com\n*.example.com\nx.internal.test\n");
    put("fuzz_names", "constraints-ip-email",
        "+10.0.0.0/8\n+fd00::/8\n-10.99.0.0/16\n+@example.com\n10.1.2.3\nfd00::7\nbob@example.com\nurn:x:y\n");

    // fuzz_http: the first byte is the delivery (fuzz_http.cpp): 0 all at once, 1-63 chunks of that size, +64 a 256-byte head limit.
    auto http = [](const std::string& name, char mode, std::string_view request) {
        put("fuzz_http", name, std::string(1, mode) + std::string(request));
    };
    http("get", 0, "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
    http("head-close", 7, "HEAD /x?y=<z> HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    http("pipelined", 0, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.0\r\n\r\nGET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    http("post-body", 3, "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    http("chunked", 0, "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    http("long-head", 64, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(300, 'x') + "\r\n\r\n");
    http("bad-version", 1, "GET / HTTP/2.0\r\n\r\n");
}

// fuzz_jws: a JWS body, optionally then NUL and a JWK (fuzz_jws.cpp).
void jws_seeds() {
    using namespace minica::acme;
    PrivateKey p256 = PrivateKey::generate(KeyType::ec_p256), p384 = PrivateKey::generate(KeyType::ec_p384),
               rsa = PrivateKey::generate(KeyType::rsa_2048), ed25519 = PrivateKey::generate(KeyType::ed25519);
    detail::Ptr<EVP_PKEY> ed448(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"));  // not a PrivateKey type
    struct Signer {
        std::string name;
        JwsAlg alg;
        EVP_PKEY* key;
    };
    std::vector<Signer> signers{{"es256", JwsAlg::es256, p256.native()},
                                {"es384", JwsAlg::es384, p384.native()},
                                {"rs256", JwsAlg::rs256, rsa.native()},
                                {"eddsa", JwsAlg::eddsa, ed25519.native()},
                                {"ed448", JwsAlg::eddsa, ed448.get()}};
    const std::string base = "https://acme.test:14000/acme/";
    for (const auto& s : signers) {
        Jwk jwk = Jwk::from_key(s.key);
        put("fuzz_jws", "new-account-" + s.name,
            sign(s.key, s.alg, {{"nonce", "AAAAAAAAAAEAAAAAAAAAAQ"}, {"url", base + "new-account"}, {"jwk", jwk.to_json()}},
                 R"({"termsOfServiceAgreed":true,"contact":["mailto:admin@example.com"]})"));
        put("fuzz_jws", "new-order-" + s.name,
            sign(s.key, s.alg, {{"nonce", "AAAAAAAAAAEAAAAAAAAAAg"}, {"url", base + "new-order"}, {"kid", base + "acct/1"}},
                 R"({"identifiers":[{"type":"dns","value":"a.test"}]})") +
                std::string(1, '\0') + jwk.to_json().dump());
        if (s.alg == JwsAlg::es256) {
            put("fuzz_jws", "post-as-get-" + s.name,
                sign(s.key, s.alg, {{"nonce", "AAAAAAAAAAEAAAAAAAAAAw"}, {"url", base + "order/1"}, {"kid", base + "acct/1"}}, "") +
                    std::string(1, '\0') + jwk.to_json().dump());
            put("fuzz_jws", "eab-hs256",
                hmac_sign("fuzz", "HS256", {{"kid", "eab-1"}, {"url", base + "new-account"}}, jwk.to_json().dump()));
        }
        put("fuzz_jws", "jwk-" + s.name, jwk.to_json().dump());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_seeds CORPUS_DIR   (writes CORPUS_DIR/<target>/...)\n";
        return 2;
    }
    root_dir = argv[1];
    try {
        certificates_chains_crls();
        requests_and_keys();
        text_seeds();
        jws_seeds();
    } catch (const Error& e) {
        std::cerr << "make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
