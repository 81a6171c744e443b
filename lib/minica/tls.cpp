#include "minica/tls.hpp"

#include <memory>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"

namespace minica {

namespace {

// TLS 1.2: forward secrecy (ECDHE) and AEAD only, ECDSA first (minica's
// default key), AES-128 before AES-256 (as fast, as strong for the purpose).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3: every suite is AEAD + (EC)DHE; the CCM ones are left out as
// rarely offered and not in the defaults of any major stack.
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
// X25519 first: the fastest key exchange and everyone's first choice.
constexpr const char* kGroups = "X25519:P-256:P-384";
// No SHA-1, no SHA-224, no PKCS#1 v1.5 in TLS 1.3 (OpenSSL enforces that).
constexpr const char* kSigalgs =
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ed25519:ed448:"
    "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
    "rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:"
    "RSA+SHA256:RSA+SHA384:RSA+SHA512";

// ---- per-SSL record of the first certificate refusal ----------------------

void free_string(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::string*>(ptr);
}

int ssl_failure_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_string);
    return index;
}

void record_failure(SSL* ssl, std::string text) {
    if (ssl == nullptr) return;
    int index = ssl_failure_index();
    if (index < 0) return;
    auto* existing = static_cast<std::string*>(SSL_get_ex_data(ssl, index));
    if (existing != nullptr) {
        if (existing->empty()) *existing = std::move(text);  // keep the first cause
        return;
    }
    auto* fresh = new std::string(std::move(text));
    if (SSL_set_ex_data(ssl, index, fresh) != 1) delete fresh;
}

using detail::name_line;

SSL* ssl_of(X509_STORE_CTX* store_ctx) {
    return static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
}

// Installed by harden(): keeps OpenSSL's verdict, remembers the first reason.
// Called from OpenSSL's C code: nothing may be thrown through it (the reason
// is only lost when memory runs out).
int recording_verify_callback(int preverify_ok, X509_STORE_CTX* store_ctx) noexcept {
    if (preverify_ok == 1) return 1;
    try {
        int err = X509_STORE_CTX_get_error(store_ctx);
        int depth = X509_STORE_CTX_get_error_depth(store_ctx);
        X509* cert = X509_STORE_CTX_get_current_cert(store_ctx);
        std::string text = X509_verify_cert_error_string(err);
        if (cert != nullptr) {
            text += " (depth " + std::to_string(depth) + ": " + name_line(X509_get_subject_name(cert));
            text += ", issued by " + name_line(X509_get_issuer_name(cert)) + ")";
        }
        record_failure(ssl_of(store_ctx), std::move(text));
    } catch (...) {
    }
    return preverify_ok;
}

// ---- SPKI pins, kept with the SSL_CTX ----------------------------------

void free_pins(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<std::vector<std::string>*>(ptr);
}

int ctx_pins_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_pins);
    return index;
}

std::vector<std::string> parse_pins(const std::string& spec) {
    std::vector<std::string> pins;
    std::size_t start = 0;
    while (start <= spec.size()) {
        std::size_t end = spec.find(';', start);
        if (end == std::string::npos) end = spec.size();
        std::string pin = spec.substr(start, end - start);
        start = end + 1;
        if (pin.empty()) continue;
        constexpr std::string_view prefix = "sha256//";
        bool ok = pin.size() == prefix.size() + 44 && pin.compare(0, prefix.size(), prefix) == 0;
        if (ok) {
            unsigned char raw[48];
            const std::string b64 = pin.substr(prefix.size());
            int n = EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(b64.data()),
                                    static_cast<int>(b64.size()));
            // 44 characters with one '=' of padding decode to 33 bytes, the last a pad byte.
            ok = n == 33 && b64[43] == '=' && b64[42] != '=' &&
                 detail::base64(std::string_view(reinterpret_cast<char*>(raw), 32)) == b64;
        }
        if (!ok)
            throw Error(ErrorKind::invalid_argument,
                        "invalid pin \"" + pin + "\": expected sha256//BASE64 of a 32-byte SHA-256");
        pins.push_back(std::move(pin));
    }
    if (pins.empty()) throw Error(ErrorKind::invalid_argument, "invalid pin \"" + spec + "\": empty");
    return pins;
}

// Chain verification first (its reason wins), then the pin of the leaf.
// Called from OpenSSL's C code: nothing may be thrown through it; out of
// memory, the connection is refused.
int pinning_verify(X509_STORE_CTX* store_ctx, void* arg) noexcept {
    int ok = X509_verify_cert(store_ctx);
    if (ok <= 0) return ok;
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    try {
        const auto* pins = static_cast<const std::vector<std::string>*>(arg);
        X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
        std::string presented = leaf != nullptr ? spki_pin_of(leaf) : std::string();
        for (const auto& pin : *pins)
            if (pin == presented) {
                X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
                return 1;
            }
        std::string expected;
        for (const auto& pin : *pins) {
            if (!expected.empty()) expected += ';';
            expected += pin;
        }
        record_failure(ssl_of(store_ctx), "SPKI pin mismatch: expected " + expected +
                                              ", the server presented " + presented);
    } catch (...) {
    }
    return 0;
}

detail::SslCtxPtr new_context(const SSL_METHOD* method, std::string_view what) {
    ERR_clear_error();
    detail::SslCtxPtr ctx(SSL_CTX_new(method));
    if (!ctx) throw_openssl(ErrorKind::tls, std::string("creating a TLS ") + std::string(what) + " context");
    harden(ctx.get());
    return ctx;
}

}  // namespace

std::string spki_pin_of(X509* cert) {
    if (cert == nullptr) return {};
    // Also called from OpenSSL's verify callback: never throws.
    try {
        EVP_PKEY* key = X509_get0_pubkey(cert);
        if (key == nullptr) throw Error(ErrorKind::parse, "no public key");
        return detail::spki_pin(detail::spki_der(key));
    } catch (const std::exception&) {
        ERR_clear_error();
        return {};
    }
}

void harden(SSL_CTX* ctx) {
    if (ctx == nullptr) throw Error(ErrorKind::invalid_argument, "hardening a TLS context: no context");
    ERR_clear_error();
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        throw_openssl(ErrorKind::tls, "limiting TLS to versions 1.2 and 1.3");
    if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
        throw_openssl(ErrorKind::tls, "setting the TLS 1.2 cipher suites");
    if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1)
        throw_openssl(ErrorKind::tls, "setting the TLS 1.3 cipher suites");
    if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1)
        throw_openssl(ErrorKind::tls, "setting the key-exchange groups");
    if (SSL_CTX_set1_sigalgs_list(ctx, kSigalgs) != 1)
        throw_openssl(ErrorKind::tls, "setting the signature algorithms");
    // 112-bit security at least: no RSA/DH under 2048 bits, no SHA-1 signatures.
    if (SSL_CTX_get_security_level(ctx) < 2) SSL_CTX_set_security_level(ctx, 2);

    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_clear_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION |
                                   SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    // Idle connections keep no 16 KB record buffers (the echo server holds thousands).
    // The chain sent is exactly the one configured (use_identity), never one
    // OpenSSL builds from the trust store kept for verifying the peer.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_AUTO_RETRY | SSL_MODE_NO_AUTO_CHAIN);

    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    // Strict RFC 5280 checks (minica's certificates pass them, DESIGN "survive");
    // a trusted intermediate is an anchor in its own right.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);

    int mode = SSL_CTX_get_verify_mode(ctx);
    if (SSL_CTX_get_ssl_method(ctx) == TLS_client_method()) mode |= SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx, mode, recording_verify_callback);
    ssl_failure_index();  // allocate the index before threads race for it
    ERR_clear_error();
}

void use_identity(SSL_CTX* ctx, const TlsIdentity& identity) {
    if (ctx == nullptr) throw Error(ErrorKind::invalid_argument, "using a TLS identity: no context");
    ERR_clear_error();
    const std::string who = "using certificate " + identity.certificate.subject();
    if (SSL_CTX_use_certificate(ctx, identity.certificate.native()) != 1)
        throw_openssl(ErrorKind::tls, who);
    if (SSL_CTX_use_PrivateKey(ctx, identity.key.native()) != 1)
        throw_openssl(ErrorKind::tls, who + " with its private key");
    if (SSL_CTX_check_private_key(ctx) != 1) {
        std::string queue = drain_openssl_errors();
        throw Error(ErrorKind::tls, who + ": the private key does not match the certificate", queue);
    }
    if (SSL_CTX_clear_chain_certs(ctx) != 1) throw_openssl(ErrorKind::tls, who + ": clearing the chain");
    for (const auto& cert : identity.chain) {
        if (cert == identity.certificate) continue;  // a full chain file repeats the leaf
        if (SSL_CTX_add1_chain_cert(ctx, cert.native()) != 1)
            throw_openssl(ErrorKind::tls, who + ": adding chain certificate " + cert.subject());
    }
}

void trust(SSL_CTX* ctx, const std::vector<Certificate>& roots) {
    if (ctx == nullptr) throw Error(ErrorKind::invalid_argument, "trusting certificates: no context");
    if (roots.empty()) throw Error(ErrorKind::invalid_argument, "trusting certificates: none given");
    ERR_clear_error();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    if (store == nullptr) throw_openssl(ErrorKind::tls, "trusting certificates: no store");
    for (const auto& root : roots) {
        if (X509_STORE_add_cert(store, root.native()) != 1) {
            // Adding the same certificate twice is not an error worth failing for.
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                ERR_clear_error();
                continue;
            }
            throw_openssl(ErrorKind::tls, "trusting " + root.subject());
        }
    }
}

SSL_CTX* make_server_context(const ServerTlsOptions& options) {
    auto ctx = new_context(TLS_server_method(), "server");
    if (options.identity) use_identity(ctx.get(), *options.identity);
    if (!options.crls.empty() && options.client_roots.empty())
        throw Error(ErrorKind::invalid_argument,
                    "making a TLS server context: CRLs given but no client roots to check them with");
    if (!options.client_roots.empty()) {
        trust(ctx.get(), options.client_roots);
        // Tell clients which CAs we accept (CertificateRequest certificate_authorities).
        STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
        if (names == nullptr) throw_openssl(ErrorKind::tls, "listing the client CAs");
        for (const auto& root : options.client_roots) {
            X509_NAME* name = X509_NAME_dup(X509_get_subject_name(root.native()));
            if (name == nullptr || sk_X509_NAME_push(names, name) == 0) {
                X509_NAME_free(name);
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                throw_openssl(ErrorKind::tls, "listing the client CAs");
            }
        }
        SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           recording_verify_callback);
        // With client verification on, OpenSSL refuses to resume sessions that
        // carry no session id context: set one so resumption works.
        static const unsigned char sid_ctx[] = "minica";
        SSL_CTX_set_session_id_context(ctx.get(), sid_ctx, sizeof sid_ctx - 1);
        if (!options.crls.empty()) {
            X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
            for (const Crl* crl : options.crls) {
                if (crl == nullptr) throw Error(ErrorKind::invalid_argument, "making a TLS server context: null CRL");
                if (X509_STORE_add_crl(store, crl->native()) != 1) {
                    unsigned long e = ERR_peek_last_error();
                    if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                        ERR_clear_error();
                        continue;
                    }
                    throw_openssl(ErrorKind::tls, "adding the CRL of " + crl->issuer());
                }
            }
            X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx.get()), X509_V_FLAG_CRL_CHECK);
        }
    }
    return ctx.release();
}

SSL_CTX* make_client_context(const ClientTlsOptions& options) {
    if (options.roots.empty())
        throw Error(ErrorKind::invalid_argument,
                    "making a TLS client context: no trusted roots (the server is always verified)");
    std::unique_ptr<std::vector<std::string>> pins;
    if (options.pin) pins = std::make_unique<std::vector<std::string>>(parse_pins(*options.pin));
    auto ctx = new_context(TLS_client_method(), "client");
    if (options.identity) use_identity(ctx.get(), *options.identity);
    trust(ctx.get(), options.roots);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, recording_verify_callback);
    if (pins) {
        int index = ctx_pins_index();
        if (index < 0 || SSL_CTX_set_ex_data(ctx.get(), index, pins.get()) != 1)
            throw_openssl(ErrorKind::tls, "keeping the SPKI pins");
        SSL_CTX_set_cert_verify_callback(ctx.get(), pinning_verify, pins.release());
    }
    return ctx.release();
}

SSL_CTX* make_acme_validation_context() {
    auto ctx = new_context(TLS_client_method(), "tls-alpn-01 validation");
    // RFC 8737 §3: the client offers acme-tls/1 and nothing else, so that
    // a server that is not an ACME responder cannot answer with HTTP.
    static const unsigned char alpn[] = "\x0a" "acme-tls/1";
    if (SSL_CTX_set_alpn_protos(ctx.get(), alpn, sizeof alpn - 1) != 0)
        throw_openssl(ErrorKind::tls, "offering ALPN acme-tls/1");
    // No chain verification (see tls.hpp): the responder's certificate is
    // self-signed by design and checked by the validator itself.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    // Each validation is one handshake: nothing to resume.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    return ctx.release();
}

void expect_server_name(SSL* ssl, std::string_view name) {
    if (ssl == nullptr) throw Error(ErrorKind::invalid_argument, "expecting a server name: no connection");
    std::string n(name);
    if (n.empty()) throw Error(ErrorKind::invalid_argument, "expecting a server name: empty name");
    ERR_clear_error();
    // "[::1]" as people write it in URLs.
    if (n.size() > 2 && n.front() == '[' && n.back() == ']') n = n.substr(1, n.size() - 2);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(n.c_str()); ip != nullptr) {
        ASN1_OCTET_STRING_free(ip);
        if (X509_VERIFY_PARAM_set1_ip_asc(param, n.c_str()) != 1)
            throw_openssl(ErrorKind::tls, "expecting server address " + n);
        return;
    }
    ERR_clear_error();
    if (!n.empty() && n.back() == '.') n.pop_back();
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, n.c_str()) != 1) throw_openssl(ErrorKind::tls, "expecting server name " + n);
    if (SSL_set_tlsext_host_name(ssl, n.c_str()) != 1)
        throw_openssl(ErrorKind::tls, "sending server name " + n);
}

std::string peer_verify_error(const SSL* ssl) {
    if (ssl == nullptr) return {};
    long result = SSL_get_verify_result(ssl);
    int index = ssl_failure_index();
    const auto* recorded =
        index >= 0 ? static_cast<const std::string*>(SSL_get_ex_data(ssl, index)) : nullptr;
    if (result == X509_V_OK) return {};
    if (recorded != nullptr && !recorded->empty()) return *recorded;
    return X509_verify_cert_error_string(result);
}

}  // namespace minica
