// Hardened OpenSSL SSL_CTX builders: TLS 1.2+ only, AEAD + forward-secret
// suites only, no compression, no renegotiation, verification always on.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/key.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace minica {

class Crl;

struct TlsIdentity {
    Certificate certificate;
    PrivateKey key;
    std::vector<Certificate> chain;  // intermediates sent after the certificate
};

struct ServerTlsOptions {
    std::optional<TlsIdentity> identity;
    std::vector<Certificate> client_roots;  // non-empty: require and verify a client cert
    std::vector<const Crl*> crls;           // checked for the client chain
};

struct ClientTlsOptions {
    std::optional<TlsIdentity> identity;  // for mTLS
    std::vector<Certificate> roots;       // required: the server is always verified
    std::optional<std::string> pin;       // "sha256//BASE64" of the server's SPKI
};

// The returned SSL_CTX is owned by the caller (SSL_CTX_free).
SSL_CTX* make_server_context(const ServerTlsOptions& options);
SSL_CTX* make_client_context(const ClientTlsOptions& options);

// The hardening itself, for a context made elsewhere.
void harden(SSL_CTX* ctx);
void use_identity(SSL_CTX* ctx, const TlsIdentity& identity);
void trust(SSL_CTX* ctx, const std::vector<Certificate>& roots);

}  // namespace minica
