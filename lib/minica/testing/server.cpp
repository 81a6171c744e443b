// The loopback server: Connection, connect(), the handlers, TlsServer.
#include "minica/testing/server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/testing/detail.hpp"
#include "minica/tls.hpp"

namespace minica::testing {

namespace {

using minica::detail::SslPtr;
using detail::describe_failure;
using detail::errno_text;
using detail::peer_cert_of;

// An I/O timeout for every socket the fixture opens: a test that waits on a
// silent peer fails after this instead of hanging until the test runner kills it.
constexpr int kIoTimeoutSeconds = 30;

// TODO(dedupe): one case-insensitive comparison for the whole library.
bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// TODO(dedupe): one whitespace trim for the whole library.
std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

std::string endpoint_text(const sockaddr* sa) {
    char host[INET6_ADDRSTRLEN] = {0};
    std::uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        return std::string(host) + ":" + std::to_string(port);
    }
    if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        return "[" + std::string(host) + "]:" + std::to_string(port);
    }
    return "?";
}

void set_socket_options(int fd) {
    timeval tv{};
    tv.tv_sec = kIoTimeoutSeconds;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

// ---- Connection ------------------------------------------------------------

// The SSL works on two memory BIOs and this code moves the bytes to and
// from the socket: send() with MSG_NOSIGNAL (a closed peer is an error, never
// SIGPIPE) and one place for timeouts and EOF.
struct Connection::Impl {
    int fd = -1;
    bool owns_fd = true;
    SslPtr ssl;
    BIO* rbio = nullptr;  // owned by ssl
    BIO* wbio = nullptr;
    bool socket_eof = false;
    bool closed = false;
    std::string peer;

    ~Impl() {
        close_noexcept();
        if (owns_fd && fd >= 0) ::close(fd);
    }

    void close_noexcept() noexcept {
        if (closed || !ssl) return;
        closed = true;
        if (SSL_is_init_finished(ssl.get())) {
            SSL_shutdown(ssl.get());  // queues close_notify; we do not wait for the peer's
            try {
                flush();
            } catch (...) {
            }
        }
        ERR_clear_error();
        if (fd >= 0) ::shutdown(fd, SHUT_WR);
    }

    void flush() {
        char buf[16384];
        while (BIO_ctrl_pending(wbio) > 0) {
            int n = BIO_read(wbio, buf, sizeof buf);
            if (n <= 0) break;
            std::size_t sent = 0;
            while (sent < static_cast<std::size_t>(n)) {
                ssize_t w = ::send(fd, buf + sent, static_cast<std::size_t>(n) - sent, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) {
                    int err = errno;
                    if (err == EAGAIN || err == EWOULDBLOCK)
                        throw Error(ErrorKind::tls, "writing to " + peer + ": timed out after " +
                                                        std::to_string(kIoTimeoutSeconds) + " s");
                    throw Error(ErrorKind::tls, "writing to " + peer + ": " + errno_text(err));
                }
                sent += static_cast<std::size_t>(w);
            }
        }
    }

    void fill() {
        if (socket_eof) throw Error(ErrorKind::tls, "reading from " + peer + ": the connection is closed");
        char buf[16384];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                int err = errno;
                if (err == EAGAIN || err == EWOULDBLOCK)
                    throw Error(ErrorKind::tls, "reading from " + peer + ": timed out after " +
                                                    std::to_string(kIoTimeoutSeconds) + " s");
                if (err == ECONNRESET) {  // the peer is gone: an EOF for the SSL to judge
                    socket_eof = true;
                    BIO_set_mem_eof_return(rbio, 0);
                    return;
                }
                throw Error(ErrorKind::tls, "reading from " + peer + ": " + errno_text(err));
            }
            if (n == 0) {
                socket_eof = true;
                BIO_set_mem_eof_return(rbio, 0);  // the SSL now sees EOF
                return;
            }
            BIO_write(rbio, buf, static_cast<int>(n));
            return;
        }
    }

    // Runs an SSL operation until it completes or fails. Returns the
    // operation's result and sets `error` to SSL_get_error's verdict.
    template <class Op>
    int drive(Op op, int& error) {
        for (;;) {
            ERR_clear_error();
            int r = op();
            error = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl.get(), r);
            if (error == SSL_ERROR_NONE || error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
                flush();
            } else {
                try {
                    flush();  // the alert telling the peer why, if it still listens
                } catch (const Error&) {
                }
            }
            if (error == SSL_ERROR_NONE) return r;
            if (error == SSL_ERROR_WANT_READ) {
                fill();
                continue;
            }
            if (error == SSL_ERROR_WANT_WRITE) continue;  // flushed above
            return r;
        }
    }

    void handshake(bool client) {
        int error = 0;
        int r = drive([&] { return client ? SSL_connect(ssl.get()) : SSL_accept(ssl.get()); }, error);
        if (r != 1) throw Error(ErrorKind::tls, "TLS handshake with " + peer + " failed: " + describe_failure(ssl.get(), error));
    }
};

namespace detail {
struct ConnectionAccess {
    // Wraps a connected socket: sets up the SSL and runs the handshake.
    static Connection make(int fd, bool owns_fd, SSL_CTX* ctx, bool client, std::string peer,
                           std::string_view server_name) {
        auto impl = std::make_unique<Connection::Impl>();
        impl->fd = fd;
        impl->owns_fd = owns_fd;
        impl->peer = std::move(peer);
        ERR_clear_error();
        impl->ssl.reset(SSL_new(ctx));
        if (!impl->ssl) {
            if (!owns_fd) impl->fd = -1;
            throw_openssl(ErrorKind::tls, "creating a TLS connection");
        }
        impl->rbio = BIO_new(BIO_s_mem());
        impl->wbio = BIO_new(BIO_s_mem());
        if (impl->rbio == nullptr || impl->wbio == nullptr) {
            BIO_free(impl->rbio);
            BIO_free(impl->wbio);
            throw_openssl(ErrorKind::tls, "creating a TLS connection");
        }
        SSL_set_bio(impl->ssl.get(), impl->rbio, impl->wbio);
        // A peer that closes without close_notify ends the stream (HTTP with
        // Content-Length needs no more); truncation attacks are not what tests test.
        SSL_set_options(impl->ssl.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
        if (client) {
            SSL_set_connect_state(impl->ssl.get());
            if (!server_name.empty()) expect_server_name(impl->ssl.get(), server_name);
        } else {
            SSL_set_accept_state(impl->ssl.get());
        }
        impl->handshake(client);
        return Connection(std::move(impl));
    }
};
}  // namespace detail

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::Connection(Connection&& other) noexcept = default;
Connection& Connection::operator=(Connection&& other) noexcept = default;
Connection::~Connection() = default;

void Connection::write(std::string_view data) {
    if (!impl_) throw Error(ErrorKind::invalid_argument, "writing to a moved-from connection");
    if (impl_->closed) throw Error(ErrorKind::tls, "writing to " + impl_->peer + ": the connection is closed");
    std::size_t offset = 0;
    while (offset < data.size()) {
        std::size_t n = 0;
        int error = 0;
        int r = impl_->drive([&] { return SSL_write_ex(impl_->ssl.get(), data.data() + offset, data.size() - offset, &n); },
                             error);
        if (r != 1)
            throw Error(ErrorKind::tls, "writing to " + impl_->peer + ": " + describe_failure(impl_->ssl.get(), error));
        offset += n;
    }
}

std::string Connection::read_some(std::size_t max) {
    if (!impl_) throw Error(ErrorKind::invalid_argument, "reading from a moved-from connection");
    if (max == 0) return {};
    std::string out(std::min<std::size_t>(max, 1 << 20), '\0');
    std::size_t n = 0;
    int error = 0;
    int r = impl_->drive([&] { return SSL_read_ex(impl_->ssl.get(), out.data(), out.size(), &n); }, error);
    if (r == 1) {
        out.resize(n);
        return out;
    }
    if (error == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return {};
    }
    throw Error(ErrorKind::tls, "reading from " + impl_->peer + ": " + describe_failure(impl_->ssl.get(), error));
}

std::string Connection::read_all() {
    std::string out;
    for (;;) {
        std::string chunk = read_some();
        if (chunk.empty()) return out;
        out += chunk;
    }
}

void Connection::close() {
    if (impl_) impl_->close_noexcept();
}

std::optional<Certificate> Connection::peer_certificate() const {
    return impl_ ? peer_cert_of(impl_->ssl.get()) : std::nullopt;
}

std::string Connection::version() const { return impl_ ? SSL_get_version(impl_->ssl.get()) : ""; }
std::string Connection::peer() const { return impl_ ? impl_->peer : ""; }
SSL* Connection::native() const noexcept { return impl_ ? impl_->ssl.get() : nullptr; }

Connection connect(SSL_CTX* ctx, const std::string& host, std::uint16_t port, std::string_view server_name) {
    if (ctx == nullptr) throw Error(ErrorKind::invalid_argument, "connecting: no TLS context");
    std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    std::string h = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
    if (int rc = ::getaddrinfo(h.c_str(), service.c_str(), &hints, &found); rc != 0)
        throw Error(ErrorKind::tls, "connecting to " + where + ": " + gai_strerror(rc));
    int fd = -1;
    int last_error = 0;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_error = errno;
            continue;
        }
        set_socket_options(fd);
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        last_error = errno;
        ::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(found);
    if (fd < 0) throw Error(ErrorKind::tls, "connecting to " + where + ": " + errno_text(last_error));
    return detail::ConnectionAccess::make(fd, true, ctx, true, where, server_name.empty() ? std::string_view(h) : server_name);
}

// ---- handlers --------------------------------------------------------------

Handler echo_handler() {
    return [](Connection& conn) {
        for (;;) {
            std::string data = conn.read_some();
            if (data.empty()) return;
            conn.write(data);
        }
    };
}

std::string HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

namespace {

const char* reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Content Too Large";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

void send_response(Connection& conn, const HttpResponse& r, bool head, bool close) {
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
    bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    if (!no_body) {
        out += "Content-Type: " + r.content_type + "\r\n";
        out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    }
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    if (close) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head && !no_body) out += r.body;
    conn.write(out);
}

}  // namespace

Handler http_handler(HttpHandler handler) {
    if (!handler) throw Error(ErrorKind::invalid_argument, "an HTTP handler needs a function");
    return [handler = std::move(handler)](Connection& conn) {
        constexpr std::size_t kMaxHead = 64 * 1024;
        constexpr std::size_t kMaxBody = 64 * 1024 * 1024;
        std::string buf;
        for (;;) {
            std::size_t end;
            while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
                if (buf.size() > kMaxHead) {
                    send_response(conn, {.status = 431, .body = "request head too large\n"}, false, true);
                    return;
                }
                std::string more = conn.read_some();
                if (more.empty()) return;  // the client is done
                buf += more;
            }
            std::string head = buf.substr(0, end);
            buf.erase(0, end + 4);

            HttpRequest req;
            std::string version;
            std::size_t line_end = head.find("\r\n");
            std::string_view line = std::string_view(head).substr(0, line_end);
            std::size_t sp1 = line.find(' ');
            std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
            if (sp2 == std::string_view::npos) {
                send_response(conn, {.status = 400, .body = "malformed request line\n"}, false, true);
                return;
            }
            req.method = line.substr(0, sp1);
            req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            version = line.substr(sp2 + 1);
            std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
            while (pos < head.size()) {
                std::size_t next = head.find("\r\n", pos);
                if (next == std::string::npos) next = head.size();
                std::string_view h = std::string_view(head).substr(pos, next - pos);
                std::size_t colon = h.find(':');
                if (colon != std::string_view::npos)
                    req.headers.emplace_back(trim(h.substr(0, colon)), trim(h.substr(colon + 1)));
                pos = next + 2;
            }
            if (!req.header("transfer-encoding").empty()) {
                send_response(conn, {.status = 501, .body = "chunked request bodies are not supported\n"}, false, true);
                return;
            }
            std::size_t length = 0;
            if (std::string cl = req.header("content-length"); !cl.empty()) {
                try {
                    length = std::stoull(cl);
                } catch (const std::exception&) {
                    send_response(conn, {.status = 400, .body = "bad Content-Length\n"}, false, true);
                    return;
                }
                if (length > kMaxBody) {
                    send_response(conn, {.status = 413, .body = "request body too large\n"}, false, true);
                    return;
                }
            }
            if (length > 0 && iequals(req.header("expect"), "100-continue")) conn.write("HTTP/1.1 100 Continue\r\n\r\n");
            while (buf.size() < length) {
                std::string more = conn.read_some();
                if (more.empty()) return;
                buf += more;
            }
            req.body = buf.substr(0, length);
            buf.erase(0, length);
            req.client_certificate = conn.peer_certificate();

            bool close = iequals(req.header("connection"), "close") || version == "HTTP/1.0";
            bool head_only = req.method == "HEAD";
            HttpResponse resp;
            try {
                resp = handler(req);
            } catch (...) {
                send_response(conn, {.status = 500, .body = "the handler failed\n"}, head_only, true);
                throw;  // recorded by the server
            }
            send_response(conn, resp, head_only, close);
            if (close) return;
        }
    };
}

// ---- TlsServer ---------------------------------------------------------------

struct TlsServer::Impl {
    SslContext ctx;
    Handler handler;
    std::optional<TestCA> ca;
    std::optional<LeafCert> cert;
    bool require_client_cert = false;

    int listen_fd = -1;
    int wake[2] = {-1, -1};
    std::uint16_t port = 0;
    std::thread acceptor;
    bool stopped = false;
    std::atomic<bool> stopping{false};

    struct Worker {
        std::thread thread;
        int fd = -1;  // owned here, closed by the worker under the lock
        bool done = false;
    };
    mutable std::mutex mutex;
    std::list<Worker> workers;
    std::vector<std::string> errors;
    std::size_t accepted = 0;

    void record(std::string text) {
        if (stopping) return;  // errors caused by stopping are not the test's
        std::lock_guard lock(mutex);
        errors.push_back(std::move(text));
    }

    void start() {
        // Non-blocking: a connection reset between poll() and accept() must
        // not leave the acceptor blocked where stop() cannot wake it.
        listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (listen_fd < 0) throw Error(ErrorKind::io, "starting a test server: socket: " + errno_text(errno));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;  // ephemeral
        socklen_t len = sizeof addr;
        if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd, 128) != 0 ||
            ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            int err = errno;
            close_fds();
            throw Error(ErrorKind::io, "starting a test server on 127.0.0.1: " + errno_text(err));
        }
        port = ntohs(addr.sin_port);
        if (::pipe2(wake, O_CLOEXEC) != 0) {
            int err = errno;
            close_fds();
            throw Error(ErrorKind::io, "starting a test server: pipe: " + errno_text(err));
        }
        acceptor = std::thread([this] { accept_loop(); });
    }

    void close_fds() {
        if (listen_fd >= 0) ::close(listen_fd);
        if (wake[0] >= 0) ::close(wake[0]);
        if (wake[1] >= 0) ::close(wake[1]);
        listen_fd = wake[0] = wake[1] = -1;
    }

    void accept_loop() {
        for (;;) {
            pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
            int r = ::poll(fds, 2, -1);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 || fds[1].revents != 0) return;
            if ((fds[0].revents & POLLIN) == 0) continue;
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
            if (fd < 0) continue;  // EAGAIN, ECONNABORTED and friends: the next one
            set_socket_options(fd);
            std::string peer = endpoint_text(reinterpret_cast<sockaddr*>(&ss));
            std::lock_guard lock(mutex);
            ++accepted;
            reap_locked();
            workers.push_back(Worker{.fd = fd});
            Worker* w = &workers.back();
            w->thread = std::thread([this, w, fd, peer] { serve(w, fd, peer); });
        }
    }

    // Joins the workers that are done (the thread has left the lock for good).
    void reap_locked() {
        for (auto it = workers.begin(); it != workers.end();) {
            if (it->done) {
                it->thread.join();
                it = workers.erase(it);
            } else {
                ++it;
            }
        }
    }

    void serve(Worker* w, int fd, const std::string& peer) {
        try {
            Connection conn = detail::ConnectionAccess::make(fd, false, ctx.get(), false, peer, {});
            handler(conn);
            conn.close();
        } catch (const std::exception& e) {
            record(peer + ": " + e.what());
        } catch (...) {
            record(peer + ": unknown exception");
        }
        std::lock_guard lock(mutex);
        ::close(w->fd);
        w->fd = -1;
        w->done = true;
    }

    void stop() {
        if (stopped) return;
        stopped = true;
        stopping = true;
        if (acceptor.joinable()) {
            char byte = 1;
            while (::write(wake[1], &byte, 1) < 0 && errno == EINTR) {
            }
            acceptor.join();
        }
        {
            std::lock_guard lock(mutex);
            for (auto& w : workers)
                if (w.fd >= 0) ::shutdown(w.fd, SHUT_RDWR);  // wakes a blocked read
        }
        for (auto& w : workers)
            if (w.thread.joinable()) w.thread.join();
        workers.clear();
        close_fds();
    }
};

TlsServer::TlsServer(const TestCA& ca, TlsServerOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->ca = ca;
    impl_->cert = ca.issue({.names = options.names, .profile = Profile::server});
    impl_->ctx = ca.server_context(*impl_->cert, {.require_client_cert = options.require_client_cert});
    impl_->require_client_cert = options.require_client_cert;
    impl_->handler = options.handler ? std::move(options.handler) : echo_handler();
    impl_->start();
}

TlsServer::TlsServer(SslContext context, Handler handler) : impl_(std::make_unique<Impl>()) {
    if (!context) throw Error(ErrorKind::invalid_argument, "starting a test server: no TLS context");
    impl_->ctx = std::move(context);
    impl_->handler = handler ? std::move(handler) : echo_handler();
    impl_->start();
}

TlsServer::~TlsServer() {
    if (impl_) impl_->stop();
}

void TlsServer::stop() { impl_->stop(); }

std::uint16_t TlsServer::port() const noexcept { return impl_->port; }
std::string TlsServer::address() const { return host() + ":" + std::to_string(impl_->port); }
std::string TlsServer::url() const { return "https://" + address(); }

const LeafCert& TlsServer::certificate() const {
    if (!impl_->cert) throw Error(ErrorKind::not_found, "this test server was given its context: it has no LeafCert");
    return *impl_->cert;
}

SslContext TlsServer::client_context() const {
    if (!impl_->ca) throw Error(ErrorKind::not_found, "this test server was given its context: it knows no CA to trust");
    if (!impl_->require_client_cert) return impl_->ca->client_context();
    return impl_->ca->client_context(impl_->ca->issue({.names = {"client.localhost"}, .profile = Profile::client}));
}

Connection TlsServer::connect(SSL_CTX* client) const { return testing::connect(client, host(), impl_->port, "localhost"); }

std::vector<std::string> TlsServer::errors() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->errors;
}

std::size_t TlsServer::accepted() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->accepted;
}

}  // namespace minica::testing

