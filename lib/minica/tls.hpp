// Hardened OpenSSL SSL_CTX builders: TLS 1.2+ only, AEAD + forward-secret
// suites only, no compression, no renegotiation, verification always on.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/key.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

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
                                          // (several may be joined with ';', as curl does)
};

// The returned SSL_CTX is owned by the caller (SSL_CTX_free).
//
// Both sides: TLS 1.2 and 1.3 only; TLS 1.2 suites are ECDHE with AES-GCM or
// ChaCha20-Poly1305; groups X25519, P-256, P-384; no compression, no
// renegotiation; SSL_MODE_RELEASE_BUFFERS (idle connections hold no record
// buffers). A certificate in `roots` / `client_roots` is a trust anchor even
// when it is an intermediate (X509_V_FLAG_PARTIAL_CHAIN, as Go's x509 does);
// chains are checked with X509_V_FLAG_X509_STRICT and for the TLS purpose
// (a client certificate needs clientAuth, a server's serverAuth).
// CRLs (when given) are checked for the client's certificate (leaf): a CRL of
// the issuing CA must then be present and current, or the client is refused.
SSL_CTX* make_server_context(const ServerTlsOptions& options);
// The server's name is per connection: call expect_server_name on each SSL.
SSL_CTX* make_client_context(const ClientTlsOptions& options);

// The client context of an ACME tls-alpn-01 validation (RFC 8737): TLS 1.2
// and 1.3 with the same suites and groups as above, ALPN offering exactly
// "acme-tls/1", and -- the one documented exception to "verification always
// on" -- SSL_VERIFY_NONE: the certificate a tls-alpn-01 responder presents
// is self-signed by design and chains to nothing, so a chain check could
// only fail; the validator checks that certificate itself (one SAN equal to
// the identifier, the critical acmeIdentifier extension holding the key
// authorization's digest). Never use it for anything else. The SNI (the
// name validated) is per connection: SSL_set_tlsext_host_name.
SSL_CTX* make_acme_validation_context();

// The hardening itself, for a context made elsewhere (also installs the
// verify callback that records why a peer was refused, see peer_verify_error;
// on a client-method context it turns peer verification on).
void harden(SSL_CTX* ctx);
void use_identity(SSL_CTX* ctx, const TlsIdentity& identity);
void trust(SSL_CTX* ctx, const std::vector<Certificate>& roots);

// Client side, per connection: the name the server's certificate must match.
// An IP address (v4 or v6) is checked against IP SANs and sends no SNI
// (RFC 6066 3); anything else is a DNS name, sent as SNI and checked against
// DNS SANs (no partial wildcards).
void expect_server_name(SSL* ssl, std::string_view name);

// After a failed handshake: why the peer's certificate was refused, e.g.
// "certificate has expired (depth 0: CN=alice, issued by CN=Root)" or
// "SPKI pin mismatch: expected sha256//..., the server presented sha256//...".
// Empty when certificate verification did not fail.
std::string peer_verify_error(const SSL* ssl);

// "sha256//BASE64" of the SubjectPublicKeyInfo of a certificate (raw handle;
// Certificate::spki_pin() for the value type).
std::string spki_pin_of(X509* cert);

}  // namespace minica
