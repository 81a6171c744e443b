// In-process leaf issuance per second, one thread, for each leaf key type:
// fresh key, build, sign, PEM of the certificate and of the PKCS#8 key.
// The same run measures a plain libcrypto loop doing the same work (X509
// builder API + PEM writers) as the baseline and reports the ratio.
//
// Rates are given per second of this thread's CPU time ("on one core", and
// stable when the machine is busy) and per second of wall time.
//
//   bench_issue [--seconds S]      (default 2 per measurement)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "minica/authority.hpp"

using namespace minica;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t sink = 0;  // keeps the compiler from discarding the work

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Rate {
    double cpu;   // operations per CPU-second of this thread
    double wall;  // operations per wall-clock second
};

template <class F> Rate per_second(double seconds, F&& once) {
    for (int i = 0; i < 20; ++i) once();  // warm-up
    auto start = Clock::now();
    double cpu0 = thread_cpu_seconds();
    auto deadline = start + std::chrono::duration<double>(seconds);
    std::size_t n = 0;
    while (Clock::now() < deadline) {
        for (int i = 0; i < 10; ++i) once();
        n += 10;
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    double cpu = thread_cpu_seconds() - cpu0;
    return {static_cast<double>(n) / cpu, static_cast<double>(n) / elapsed};
}

const char* curve_or_alg(KeyType t) {
    switch (t) {
        case KeyType::ec_p256: return "P-256";
        case KeyType::ec_p384: return "P-384";
        case KeyType::ed25519: return "ED25519";
        default: return "RSA";
    }
}

// The baseline: what a program written straight against libcrypto does.
void libcrypto_leaf(EVP_PKEY* ca_key, X509* ca_cert, KeyType t) {
    EVP_PKEY* key = t == KeyType::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                    : t == KeyType::rsa_2048 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                                             : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_or_alg(t));
    X509* x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("bench.test"), -1, -1, 0);
    X509_gmtime_adj(X509_getm_notBefore(x), -300);
    X509_gmtime_adj(X509_getm_notAfter(x), 397L * 86400);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_cert, x, nullptr, nullptr, 0);
    const std::pair<int, const char*> exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid"},
        {NID_subject_alt_name, "DNS:bench.test"},
    };
    for (auto& [nid, value] : exts) {
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    X509_sign(x, ca_key, EVP_sha256());  // the CA is P-256
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    sink += static_cast<std::size_t>(BIO_number_written(b));
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2.0;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);

    // One P-256 root issues every leaf (the common case: mkcert's and minica's default CA).
    Authority ca = Authority::create_root({.subject = {.common_name = "bench CA"}});
    SubjectAltNames names;
    names.add("bench.test");

    nlohmann::json out;
    out["benchmark"] = "leaf issuance (fresh key, build, sign, PEM cert + PKCS#8 key), one thread";
    out["issuer"] = "ec-p256";
    out["seconds_per_measurement"] = seconds;
    out["results"] = nlohmann::json::array();
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048}) {
        double s = t == KeyType::rsa_2048 ? std::max(seconds, 3.0) : seconds;
        Rate m = per_second(s, [&] {
            IssuedCertificate leaf = ca.issue({.names = names, .key_type = t});
            sink += leaf.cert_pem().size() + leaf.key_pem().size();
        });
        Rate b = per_second(s, [&] { libcrypto_leaf(ca.key().native(), ca.certificate().native(), t); });
        out["results"].push_back({{"leaf_key", std::string(to_string(t))},
                                  {"minica_per_cpu_second", std::round(m.cpu)},
                                  {"libcrypto_per_cpu_second", std::round(b.cpu)},
                                  {"ratio", std::round(m.cpu / b.cpu * 100) / 100},
                                  {"minica_per_wall_second", std::round(m.wall)},
                                  {"libcrypto_per_wall_second", std::round(b.wall)}});
    }
    out["sink"] = sink % 7;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
