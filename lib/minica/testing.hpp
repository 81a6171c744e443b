// minica::testing — certificates for someone else's test suite (DESIGN §12).
//
// What Python's trustme and Go's httptest.NewTLSServer give their users, for
// C++ over OpenSSL: a CA in memory in one line, leaves with their keys and
// chains, trust and identity for any SSL_CTX, PEM text and files for tools that
// want paths, a TLS handshake over a BIO pair (no sockets) and a loopback TLS
// server on an ephemeral port.
//
//     minica::testing::TestCA ca;                       // ECDSA P-256 root, in memory
//     auto leaf = ca.issue("localhost", "127.0.0.1");  // key + certificate + chain
//     ca.configure_trust(client_ctx);                  // trust the root, verify peers
//     leaf.configure_cert(server_ctx);                 // certificate, chain and key
//
// Every certificate the fixture makes is an ordinary minica certificate: it
// verifies under `openssl verify -x509_strict` and Go's crypto/x509.
//
// This header includes no Asio, spdlog or JSON (only the minica value types
// and the standard library); OpenSSL types are forward-declared.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
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
typedef struct ssl_st SSL;

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

// ---- an in-memory handshake over a BIO pair ------------------------------------

struct HandshakeResult {
    bool ok = false;
    // Empty when ok. Otherwise why each side stopped: the certificate
    // refusal when there was one ("certificate has expired (depth 0: ...)"),
    // else OpenSSL's reason ("tlsv13 alert certificate required").
    std::string client_error;
    std::string server_error;
    std::string version;  // "TLSv1.3"
    std::string cipher;   // "TLS_AES_128_GCM_SHA256"
    std::optional<Certificate> server_certificate;  // as the client received it
    std::optional<Certificate> client_certificate;  // as the server received it (mTLS)
    // "client: <client_error>; server: <server_error>", for failure messages.
    std::string error() const;
    explicit operator bool() const noexcept { return ok; }
};

// A client and a server SSL joined by a BIO pair: no sockets, no threads, one
// thread drives both. The client expects `server_name` (minica::expect_server_name).
class MemoryTls {
public:
    MemoryTls(SSL_CTX* client, SSL_CTX* server, std::string_view server_name = "localhost");
    ~MemoryTls();
    MemoryTls(const MemoryTls&) = delete;
    MemoryTls& operator=(const MemoryTls&) = delete;

    // Runs both sides until both finish or one fails (the other then reads
    // the alert). Call once.
    HandshakeResult handshake();
    // After a successful handshake: writes on one side, returns what the other read.
    std::string client_to_server(std::string_view data);
    std::string server_to_client(std::string_view data);

    SSL* client() const noexcept;
    SSL* server() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// One handshake: MemoryTls(client, server, server_name).handshake(), without
// TLS 1.3 session tickets (nothing can resume from it; use MemoryTls for that).
HandshakeResult handshake(SSL_CTX* client, SSL_CTX* server, std::string_view server_name = "localhost");

// ---- a loopback TLS server (Go's httptest.NewTLSServer) ---------------------------

namespace detail {
struct ConnectionAccess;
}

// A TLS connection over a blocking TCP socket (SIGPIPE-safe, 30 s I/O
// timeout). Errors throw minica::Error(tls). Move-only; the destructor sends
// close_notify and closes the socket.
class Connection {
public:
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    ~Connection();

    void write(std::string_view data);
    // At most `max` bytes, at least one; empty when the peer closed.
    std::string read_some(std::size_t max = 16384);
    // Everything until the peer closes.
    std::string read_all();
    // Sends close_notify and stops writing; reading still works.
    void close();

    std::optional<Certificate> peer_certificate() const;
    std::string version() const;  // "TLSv1.3"
    std::string peer() const;     // "127.0.0.1:43210"
    SSL* native() const noexcept;

private:
    struct Impl;
    explicit Connection(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    friend struct detail::ConnectionAccess;
};

// Connects to host:port and completes the handshake, expecting `server_name`
// (default: host). Throws Error(tls) naming the peer and the reason. In TLS
// 1.3 a server refuses a client certificate after the client has finished:
// that refusal shows on the first read.
Connection connect(SSL_CTX* ctx, const std::string& host, std::uint16_t port, std::string_view server_name = {});

// What the server does with each connection, on its own thread, after the
// handshake. An exception is recorded in TlsServer::errors().
using Handler = std::function<void(Connection&)>;
// Writes back everything it reads until the client closes (the default).
Handler echo_handler();

struct HttpRequest {
    std::string method;   // "GET"
    std::string target;   // "/path?query"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::optional<Certificate> client_certificate;  // mTLS
    // The first header of that name (case-insensitive), or empty.
    std::string header(std::string_view name) const;
};
struct HttpResponse {
    int status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
    std::vector<std::pair<std::string, std::string>> headers;
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// A small HTTP/1.1 server (keep-alive, Content-Length bodies, no chunked
// requests) calling `handler` for each request. An exception in the handler
// is answered with 500 and recorded.
Handler http_handler(HttpHandler handler);

struct TlsServerOptions {
    // The server certificate's names.
    std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
    // mTLS: clients must present a certificate from the CA.
    bool require_client_cert = false;
    Handler handler;  // empty: echo_handler()
};

// Listens on 127.0.0.1, an ephemeral port, from construction; each connection
// on its own thread. The destructor stops accepting, shuts down open
// connections and joins every thread.
class TlsServer {
public:
    // Issues its own certificate from `ca` (Go's NewTLSServer).
    explicit TlsServer(const TestCA& ca, TlsServerOptions options = {});
    // Serves with a context made elsewhere.
    explicit TlsServer(SslContext context, Handler handler = {});
    ~TlsServer();
    TlsServer(const TlsServer&) = delete;
    TlsServer& operator=(const TlsServer&) = delete;

    std::uint16_t port() const noexcept;
    std::string host() const { return "127.0.0.1"; }
    std::string address() const;  // "127.0.0.1:43210"
    std::string url() const;      // "https://127.0.0.1:43210"
    // The server's certificate (only when made from a TestCA; else Error(not_found)).
    const LeafCert& certificate() const;

    // A client context that trusts the server (Go's srv.Client()): from the
    // TestCA, with a fresh client certificate when the server requires one.
    SslContext client_context() const;
    // connect(ctx, "127.0.0.1", port(), "localhost").
    Connection connect(SSL_CTX* client) const;

    // Handshake failures and handler exceptions so far, oldest first:
    // "127.0.0.1:43210: <reason>".
    std::vector<std::string> errors() const;
    // Connections accepted so far.
    std::size_t accepted() const;

    // Stops now (the destructor does the same). Idempotent.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace minica::testing
