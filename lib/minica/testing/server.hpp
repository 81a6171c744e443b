// minica::testing, the loopback TLS server (Go's httptest.NewTLSServer) and
// the blocking TLS connection its handlers and clients use. It runs on
// Boost.Asio and parses HTTP with Boost.Beast, both inside the library only.
//
// Includes no Asio, Boost, spdlog or JSON; OpenSSL types are forward-declared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/error.hpp"  // what every call here throws
#include "minica/testing/ca.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace minica::testing {

namespace detail {
struct ConnectionAccess;
}

// A TLS connection with blocking calls over a TCP socket (SIGPIPE-safe, 30 s
// I/O timeout). Errors throw minica::Error(tls). Move-only; the destructor
// sends close_notify and closes the socket.
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
// An HTTP/1.1 server calling `handler` for each request, in order (keep-alive,
// pipelining, Content-Length and chunked bodies; HTTP/1.0 clients get one
// answer per connection). Requests are parsed by Boost.Beast: a malformed one
// is answered with 400, a head over 64 KiB with 431, a body over 64 MiB with
// 413, each closing the connection. An exception in the handler is answered
// with 500 and recorded.
Handler http_handler(HttpHandler handler);

struct TlsServerOptions {
    // The server certificate's names.
    std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
    // mTLS: clients must present a certificate from the CA.
    bool require_client_cert = false;
    Handler handler;  // empty: echo_handler()
};

// Listens on 127.0.0.1, an ephemeral port, from construction, and accepts
// on a thread of its own (Boost.Asio); each connection's handler runs on its
// own thread. The destructor stops accepting, shuts down open connections and
// joins every thread.
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
