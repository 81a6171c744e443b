// minica::testing, the CA fixture: a root (and intermediates) in memory,
// leaves with their keys and chains, trust and identity for any SSL_CTX, PEM
// text and files for tools that want paths (Python's trustme).
//
// Includes no Asio, Boost, spdlog or JSON; OpenSSL types are forward-declared.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/error.hpp"  // what every call here throws
#include "minica/key.hpp"
#include "minica/tls.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace minica::testing {

// A fixed instant for reproducible certificates (BoringSSL's kReferenceTime,
// trustme's fixed dates): 2025-01-01T00:00:00Z.
inline constexpr Time reference_time{std::chrono::sys_days{std::chrono::year{2025} / 1 / 1}};

// An owned SSL_CTX (frees it on destruction). `.get()` for OpenSSL calls.
struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const noexcept;
};
using SslContext = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A fresh private (0700) directory under the system temporary directory,
// removed with everything in it on destruction. Move-only.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Where write_to put a certificate and its key.
struct Files {
    std::filesystem::path cert;  // PEM: the certificate, then its intermediates
    std::filesystem::path key;   // PEM: unencrypted PKCS#8, mode 0600
};

// A certificate with its private key and chain (trustme's LeafCert).
class LeafCert {
public:
    explicit LeafCert(IssuedCertificate issued) : issued_(std::move(issued)) {}

    const Certificate& certificate() const noexcept { return issued_.certificate; }
    const PrivateKey& key() const noexcept { return issued_.key; }
    // The certificate, then the intermediates up to (not including) the root.
    const std::vector<Certificate>& chain() const noexcept { return issued_.chain; }
    const IssuedCertificate& issued() const noexcept { return issued_; }
    // For minica::make_server_context / make_client_context / use_identity.
    TlsIdentity identity() const;

    std::string cert_pem() const { return issued_.cert_pem(); }
    std::string key_pem() const { return issued_.key_pem(); }
    std::string chain_pem() const { return issued_.chain_pem(); }          // intermediates only
    std::string fullchain_pem() const { return issued_.fullchain_pem(); }  // certificate + intermediates

    // Makes this the context's certificate: certificate, intermediates and
    // key, checked to match (SSL_CTX_use_certificate + add chain + use key).
    void configure_cert(SSL_CTX* ctx) const;

    // Writes <stem>.pem (certificate + intermediates) and <stem>-key.pem
    // (mode 0600) into `dir`, replacing files of those names.
    Files write_to(const std::filesystem::path& dir, std::string_view stem = "leaf") const;

private:
    IssuedCertificate issued_;
};

struct TestCAOptions {
    // The CA's key type and the leaves' default. P-256: fast and taken by
    // every TLS stack; rsa_2048 or ed25519 on request.
    KeyType key_type = KeyType::ec_p256;
    // Fixed clock: every certificate starts 5 minutes before it, and the
    // contexts this CA configures verify peers at that instant too, so a
    // handshake between them succeeds whatever the date (tools that verify at
    // the real time, like curl, need the default system clock).
    std::optional<Time> now;
    // Intermediate CAs between the root and the leaves (0: the root issues).
    int intermediates = 0;
    // Subject organization; the common name gets a random suffix so that two
    // test CAs never share a name in one trust store.
    std::string organization = "minica testing";
};

struct IssueOptions {
    // "localhost", "*.example.test", "127.0.0.1", "::1", "alice@example.test",
    // "spiffe://example.test/svc": each name's kind is guessed (DESIGN §9).
    std::vector<std::string> names;
    // Both EKUs by default, as trustme does: one leaf serves as server or client.
    Profile profile = Profile::both;
    std::optional<KeyType> key_type;  // default: the CA's key type
    std::string common_name;          // default: the first name (when it fits)
    std::string organization;
    std::chrono::days validity = default_leaf_validity;
};

struct ServerContextOptions {
    // mTLS: require a client certificate issued under this CA.
    bool require_client_cert = false;
};

// A root (and optionally intermediates) in memory. Copies share the CA.
class TestCA {
public:
    explicit TestCA(const TestCAOptions& options = {});

    // The root: what clients trust.
    const Certificate& certificate() const noexcept { return root_.certificate(); }
    std::string cert_pem() const { return root_.certificate().to_pem(); }
    std::string key_pem() const { return root_.key().to_pem(); }
    // The CA that signs leaves: the root, or the lowest intermediate.
    const Authority& authority() const noexcept { return issuer_; }
    // The intermediates a leaf sends after itself, lowest first (may be empty).
    std::vector<Certificate> intermediates() const { return issuer_.intermediates(); }
    const std::optional<Time>& clock() const noexcept { return now_; }

    // A new intermediate under this CA's issuer, trusted through the same root
    // (trustme's create_child_ca).
    TestCA create_child_ca() const;

    // A new key and leaf for these names (at least one).
    LeafCert issue(const IssueOptions& options) const;
    template <class... Names>
        requires(sizeof...(Names) > 0 && (std::convertible_to<const Names&, std::string_view> && ...))
    LeafCert issue(const Names&... names) const {
        IssueOptions options;  // not a designated initializer: -Wextra in users' builds
        options.names = {std::string(std::string_view(names))...};
        return issue(options);
    }

    // Trusts the root in the context's store and turns on peer verification
    // (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT: a server context then
    // requires client certificates from this CA). The verify callback and any
    // other trust anchors are kept. With a fixed clock, verification happens
    // at that instant.
    void configure_trust(SSL_CTX* ctx) const;

    // Ready, hardened contexts (minica::make_server_context / make_client_context):
    // TLS 1.2+, AEAD suites, the server always verified, the fixture's clock.
    SslContext server_context(const LeafCert& identity, const ServerContextOptions& options = {}) const;
    SslContext client_context() const;
    SslContext client_context(const LeafCert& identity) const;  // mTLS

    // Writes ca.pem (the root) and ca-key.pem (its key, mode 0600) into `dir`.
    Files write_to(const std::filesystem::path& dir) const;

private:
    TestCA(Authority root, Authority issuer, std::optional<Time> now, KeyType key_type, std::string organization);
    void apply_clock(SSL_CTX* ctx) const;

    Authority root_;
    Authority issuer_;
    std::optional<Time> now_;
    KeyType key_type_;
    std::string organization_;
};

}  // namespace minica::testing
