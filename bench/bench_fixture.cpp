// The test fixture's speed, one thread:
//   - a fresh TestCA (P-256 root: key, self-signed certificate) plus one leaf
//     (key, certificate) per iteration, the unit a test pays for; the same
//     with the leaf's PEM (certificate + PKCS#8 key), what trustme hands out;
//   - leaves alone from one TestCA (trustme's issue_cert);
//   - one in-memory mTLS handshake (both sides, BIO pair, TLS 1.3, P-256).
// Each against a baseline in the same run: the same work written straight
// against libcrypto / libssl (X509 builder API, X509V3 extensions, PEM
// writers, a hand-driven BIO pair), and the ratio minica / baseline.
//
// Rates are per second of this thread's CPU time ("on one core", stable when
// the machine is busy) and per second of wall time.
//
//   bench_fixture [--seconds S]      (default 2 per measurement)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "minica/testing.hpp"

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

double round2(double x) { return std::round(x * 100) / 100; }

// ---- the baseline: the same work straight against libcrypto -----------------

EVP_PKEY* p256_key() { return EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); }

X509* build_cert(EVP_PKEY* key, EVP_PKEY* signer, X509* issuer, const char* cn, bool ca) {
    X509* x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] = static_cast<unsigned char>((serial[0] & 0x7f) | 0x40);
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("bench"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509_gmtime_adj(X509_getm_notBefore(x), -300);
    X509_gmtime_adj(X509_getm_notAfter(x), (ca ? 3650L : 397L) * 86400);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
    std::pair<int, const char*> ca_exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
    };
    std::pair<int, const char*> leaf_exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid"},
        {NID_subject_alt_name, "DNS:localhost"},
    };
    auto add = [&](auto& list) {
        for (auto& [nid, value] : list) {
            X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
            X509_add_ext(x, e, -1);
            X509_EXTENSION_free(e);
        }
    };
    if (ca) add(ca_exts);
    else add(leaf_exts);
    X509_sign(x, signer, EVP_sha256());
    return x;
}

// A root and one leaf, as a hand-written fixture would make them.
void libcrypto_ca_and_leaf(bool pem) {
    EVP_PKEY* ca_key = p256_key();
    X509* ca = build_cert(ca_key, ca_key, nullptr, "bench CA", true);
    EVP_PKEY* key = p256_key();
    X509* leaf = build_cert(key, ca_key, ca, "localhost", false);
    sink += static_cast<std::size_t>(i2d_X509(leaf, nullptr));
    if (pem) {
        BIO* b = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(b, leaf);
        PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
        sink += static_cast<std::size_t>(BIO_number_written(b));
        BIO_free(b);
    }
    X509_free(leaf);
    EVP_PKEY_free(key);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
}

void libcrypto_leaf(EVP_PKEY* ca_key, X509* ca) {
    EVP_PKEY* key = p256_key();
    X509* leaf = build_cert(key, ca_key, ca, "localhost", false);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, leaf);
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    sink += static_cast<std::size_t>(BIO_number_written(b));
    BIO_free(b);
    X509_free(leaf);
    EVP_PKEY_free(key);
}

// A handshake driven by hand over a BIO pair, with the same contexts (and
// OpenSSL's defaults, session tickets included: what a hand-written test does).
void raw_handshake(SSL_CTX* client_ctx, SSL_CTX* server_ctx) {
    SSL* client = SSL_new(client_ctx);
    SSL* server = SSL_new(server_ctx);
    BIO* c = nullptr;
    BIO* s = nullptr;
    BIO_new_bio_pair(&c, 0, &s, 0);
    SSL_set_bio(client, c, c);
    SSL_set_bio(server, s, s);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    SSL_set1_host(client, "localhost");
    SSL_set_tlsext_host_name(client, "localhost");
    bool client_done = false, server_done = false;
    for (int i = 0; i < 16 && !(client_done && server_done); ++i) {
        if (!client_done) client_done = SSL_do_handshake(client) == 1;
        if (!server_done) server_done = SSL_do_handshake(server) == 1;
    }
    if (!client_done || !server_done) {
        std::fprintf(stderr, "baseline handshake failed\n");
        std::exit(1);
    }
    sink += static_cast<std::size_t>(SSL_version(client));
    SSL_free(client);
    SSL_free(server);
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 2.0;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);

    nlohmann::json out;
    out["benchmark"] = "minica::testing fixture, one thread, ECDSA P-256";
    out["seconds_per_measurement"] = seconds;
    out["openssl"] = OpenSSL_version(OPENSSL_VERSION);

    // 1. A fresh TestCA and one leaf: the unit a test pays for.
    Rate fx = per_second(seconds, [] {
        testing::TestCA ca;
        auto leaf = ca.issue("localhost");
        sink += leaf.certificate().der().size();
    });
    Rate fx_base = per_second(seconds, [] { libcrypto_ca_and_leaf(false); });
    out["testca_plus_leaf"] = {
        {"minica_per_cpu_second", std::round(fx.cpu)},
        {"libcrypto_per_cpu_second", std::round(fx_base.cpu)},
        {"ratio", round2(fx.cpu / fx_base.cpu)},
        {"minica_per_wall_second", std::round(fx.wall)},
        {"libcrypto_per_wall_second", std::round(fx_base.wall)},
        {"target_per_cpu_second", 10000},
        {"meets_target", fx.cpu >= 10000},
    };

    // 2. The same with the leaf's certificate and key as PEM (trustme's LeafCert).
    Rate fxp = per_second(seconds, [] {
        testing::TestCA ca;
        auto leaf = ca.issue("localhost");
        sink += leaf.cert_pem().size() + leaf.key_pem().size();
    });
    Rate fxp_base = per_second(seconds, [] { libcrypto_ca_and_leaf(true); });
    out["testca_plus_leaf_pem"] = {
        {"minica_per_cpu_second", std::round(fxp.cpu)},
        {"libcrypto_per_cpu_second", std::round(fxp_base.cpu)},
        {"ratio", round2(fxp.cpu / fxp_base.cpu)},
        {"minica_per_wall_second", std::round(fxp.wall)},
        {"libcrypto_per_wall_second", std::round(fxp_base.wall)},
    };

    // 3. Leaves alone from one CA, with PEM (trustme's issue_cert: ~4,300/s on ECDSA here).
    testing::TestCA ca;
    Rate leaf = per_second(seconds, [&] {
        auto l = ca.issue("localhost");
        sink += l.cert_pem().size() + l.key_pem().size();
    });
    EVP_PKEY* base_ca_key = p256_key();
    X509* base_ca = build_cert(base_ca_key, base_ca_key, nullptr, "bench CA", true);
    Rate leaf_base = per_second(seconds, [&] { libcrypto_leaf(base_ca_key, base_ca); });
    X509_free(base_ca);
    EVP_PKEY_free(base_ca_key);
    out["leaf_pem_from_one_ca"] = {
        {"minica_per_cpu_second", std::round(leaf.cpu)},
        {"libcrypto_per_cpu_second", std::round(leaf_base.cpu)},
        {"ratio", round2(leaf.cpu / leaf_base.cpu)},
        {"minica_per_wall_second", std::round(leaf.wall)},
        {"libcrypto_per_wall_second", std::round(leaf_base.wall)},
    };

    // 4. One in-memory mTLS handshake (both sides in this thread).
    auto server_cert = ca.issue("localhost");
    auto client_cert = ca.issue("client.test");
    auto server = ca.server_context(server_cert, {.require_client_cert = true});
    auto client = ca.client_context(client_cert);
    std::string version;
    Rate hs = per_second(seconds, [&] {
        auto r = testing::handshake(client.get(), server.get());
        if (!r.ok) {
            std::fprintf(stderr, "handshake failed: %s\n", r.error().c_str());
            std::exit(1);
        }
        version = r.version;
    });
    Rate hs_base = per_second(seconds, [&] { raw_handshake(client.get(), server.get()); });
    out["mtls_handshake_in_memory"] = {
        {"version", version},
        {"note", "minica::testing::handshake sends no TLS 1.3 session tickets (nothing resumes from it); "
                 "the hand-driven baseline keeps OpenSSL's default of two"},
        {"minica_cpu_microseconds", round2(1e6 / hs.cpu)},
        {"raw_openssl_cpu_microseconds", round2(1e6 / hs_base.cpu)},
        {"ratio", round2(hs.cpu / hs_base.cpu)},
        {"minica_per_cpu_second", std::round(hs.cpu)},
        {"minica_per_wall_second", std::round(hs.wall)},
    };
    out["ratio_meaning"] = "minica rate / baseline rate (above 1: minica is faster)";
    out["sink"] = sink % 7;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
}
