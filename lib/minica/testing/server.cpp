// The loopback server: Connection, connect(), the handlers, TlsServer.
//
// Boost.Asio underneath: the server accepts on an io_context of its own
// thread; each connection owns a socket on a private io_context that the
// thread using the connection runs for one operation at a time, bounded by
// kIoTimeout (Asio's way of giving a blocking call a deadline, as in its
// blocking_tcp_client example). Handlers keep a blocking API, each on its own
// thread. HTTP is parsed and written by Boost.Beast over that connection.
#include "minica/testing/server.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include "minica/detail/beast_http.hpp"
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"
#include "minica/testing/detail.hpp"
#include "minica/tls.hpp"

namespace minica::testing {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using detail::describe_failure;
using detail::peer_cert_of;
using minica::detail::SslPtr;

// An I/O timeout for every socket operation of the fixture: a test that waits
// on a silent peer fails after this instead of hanging until the test runner
// kills it.
constexpr std::chrono::seconds kIoTimeout{30};

std::string endpoint_text(const tcp::endpoint& e) {
    std::string host = e.address().to_string();
    if (e.address().is_v6()) host = "[" + host + "]";
    return host + ":" + std::to_string(e.port());
}

}  // namespace

// ---- Link: one socket and the io_context that runs its operations ------------

namespace detail {

struct Link {
    asio::io_context io;
    tcp::socket socket{io};
    bool timed_out = false;

    // Runs the operation just started on `io` to completion, for at most
    // kIoTimeout; then closes the socket, which ends the operation.
    void run() {
        io.restart();
        io.run_for(kIoTimeout);
        if (!io.stopped()) {  // out of time: the operation is still pending
            timed_out = true;
            error_code ignored;
            socket.close(ignored);
            io.run();
        }
    }

    // Why an operation failed, for messages.
    std::string why(const error_code& ec) const {
        if (timed_out) return "timed out after " + std::to_string(kIoTimeout.count()) + " s";
        return ec.message();
    }

    error_code connect(const tcp::resolver::results_type& endpoints) {
        error_code result = asio::error::would_block;
        asio::async_connect(socket, endpoints, [&](const error_code& ec, const tcp::endpoint&) { result = ec; });
        run();
        return result;
    }

    error_code write(asio::const_buffer data) {
        error_code result = asio::error::would_block;
        asio::async_write(socket, data, [&](const error_code& ec, std::size_t) { result = ec; });
        run();
        return result;
    }

    std::size_t read_some(asio::mutable_buffer into, error_code& ec) {
        ec = asio::error::would_block;
        std::size_t got = 0;
        socket.async_read_some(into, [&](const error_code& e, std::size_t n) {
            ec = e;
            got = n;
        });
        run();
        return got;
    }

    // From another thread (TlsServer::stop): a blocked read sees the end of
    // the stream, a write fails. Runs on the thread that uses the connection.
    void shutdown_from_elsewhere() {
        asio::post(io, [this] {
            error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
        });
    }
};

}  // namespace detail

// ---- Connection ------------------------------------------------------------

// The SSL works on two memory BIOs and this code moves the bytes to and from
// the socket through Asio (whose writes never raise SIGPIPE): one place for
// timeouts and EOF.
struct Connection::Impl {
    std::shared_ptr<detail::Link> link;
    SslPtr ssl;
    BIO* rbio = nullptr;  // owned by ssl
    BIO* wbio = nullptr;
    bool socket_eof = false;
    bool closed = false;
    std::string peer;

    ~Impl() { close_noexcept(); }

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
        error_code ignored;
        link->socket.shutdown(tcp::socket::shutdown_send, ignored);
    }

    void flush() {
        char buf[16384];
        while (BIO_ctrl_pending(wbio) > 0) {
            int n = BIO_read(wbio, buf, sizeof buf);
            if (n <= 0) break;
            if (error_code ec = link->write(asio::buffer(buf, static_cast<std::size_t>(n))))
                throw Error(ErrorKind::tls, "writing to " + peer + ": " + link->why(ec));
        }
    }

    void fill() {
        if (socket_eof) throw Error(ErrorKind::tls, "reading from " + peer + ": the connection is closed");
        char buf[16384];
        error_code ec;
        std::size_t n = link->read_some(asio::buffer(buf), ec);
        if (ec == asio::error::eof || ec == asio::error::connection_reset) {
            socket_eof = true;  // the peer is gone: an EOF for the SSL to judge
            BIO_set_mem_eof_return(rbio, 0);
            return;
        }
        if (ec) throw Error(ErrorKind::tls, "reading from " + peer + ": " + link->why(ec));
        BIO_write(rbio, buf, static_cast<int>(n));
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
    static Connection make(std::shared_ptr<Link> link, SSL_CTX* ctx, bool client, std::string peer,
                           std::string_view server_name) {
        auto impl = std::make_unique<Connection::Impl>();
        impl->link = std::move(link);
        impl->peer = std::move(peer);
        ERR_clear_error();
        impl->ssl.reset(SSL_new(ctx));
        if (!impl->ssl) throw_openssl(ErrorKind::tls, "creating a TLS connection");
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
    std::string h = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
    auto link = std::make_shared<detail::Link>();
    error_code ec;
    tcp::resolver resolver(link->io);
    auto endpoints = resolver.resolve(h, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (!ec) ec = link->connect(endpoints);
    if (ec) throw Error(ErrorKind::tls, "connecting to " + where + ": " + link->why(ec));
    link->socket.set_option(tcp::no_delay(true), ec);
    return detail::ConnectionAccess::make(std::move(link), ctx, true, where,
                                          server_name.empty() ? std::string_view(h) : server_name);
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

// A Connection as a Beast synchronous stream, for http::read and http::write.
// Its errors stay exceptions (minica::Error), which the server records; the
// end of the stream is Asio's eof, which Beast turns into its own errors.
class BeastStream {
public:
    explicit BeastStream(Connection& conn) : conn_(conn) {}

    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
        ec = {};
        std::string data = conn_.read_some(std::max<std::size_t>(asio::buffer_size(buffers), 1));
        if (data.empty()) {
            ec = asio::error::eof;
            return 0;
        }
        return asio::buffer_copy(buffers, asio::buffer(data));
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers) {
        error_code ec;
        std::size_t n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

    // One TLS write per call: Beast hands over a whole message's buffers at once.
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
        ec = {};
        std::string data(asio::buffer_size(buffers), '\0');
        asio::buffer_copy(asio::buffer(data), buffers);
        conn_.write(data);
        return data.size();
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers) {
        error_code ec;
        return write_some(buffers, ec);
    }

private:
    Connection& conn_;
};

void send_response(BeastStream& stream, const HttpResponse& r, bool head, bool close) {
    bhttp::response<bhttp::string_body> res;
    res.version(11);
    res.result(static_cast<unsigned>(r.status));
    if (bhttp::int_to_status(static_cast<unsigned>(r.status)) == bhttp::status::unknown) res.reason("Status");
    bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    if (!no_body) {
        res.set(bhttp::field::content_type, r.content_type);
        res.content_length(r.body.size());
        if (!head) res.body() = r.body;
    }
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    if (close) res.keep_alive(false);  // Connection: close
    bhttp::serializer<false, bhttp::string_body> serializer(res);
    if (head)
        bhttp::write_header(stream, serializer);  // HEAD: the Content-Length of the body it would get
    else
        bhttp::write(stream, serializer);
}

// What a request that cannot be served gets (the connection then closes).
HttpResponse refusal(const error_code& ec) {
    if (ec == bhttp::error::header_limit) return {.status = 431, .body = "request head too large\n"};
    if (ec == bhttp::error::body_limit) return {.status = 413, .body = "request body too large\n"};
    return {.status = 400, .body = "malformed request: " + ec.message() + "\n"};
}

}  // namespace

Handler http_handler(HttpHandler handler) {
    if (!handler) throw Error(ErrorKind::invalid_argument, "an HTTP handler needs a function");
    return [handler = std::move(handler)](Connection& conn) {
        constexpr std::uint32_t kMaxHead = 64 * 1024;
        constexpr std::uint64_t kMaxBody = 64 * 1024 * 1024;
        BeastStream stream(conn);
        boost::beast::flat_buffer buffer;  // what the client sent beyond one request: pipelining
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(kMaxHead);
            parser.body_limit(kMaxBody);
            error_code ec;
            bhttp::read_header(stream, buffer, parser, ec);
            if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return;  // the client is done
            if (!ec && !parser.is_done() && iequals(parser.get()[bhttp::field::expect], "100-continue")) {
                bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
                bhttp::write(stream, go_on);
            }
            if (!ec && !parser.is_done()) bhttp::read(stream, buffer, parser, ec);
            if (ec == bhttp::error::partial_message) return;
            if (ec) {
                send_response(stream, refusal(ec), false, true);
                return;
            }
            auto& message = parser.get();
            HttpRequest req;
            req.method = std::string(message.method_string());
            req.target = std::string(message.target());
            for (const auto& field : message) req.headers.emplace_back(field.name_string(), field.value());
            req.body = std::move(message.body());
            req.client_certificate = conn.peer_certificate();

            // HTTP/1.0 clients get one answer each, keep-alive or not.
            bool close = !message.keep_alive() || message.version() < 11;
            bool head_only = message.method() == bhttp::verb::head;
            HttpResponse resp;
            try {
                resp = handler(req);
            } catch (...) {
                send_response(stream, {.status = 500, .body = "the handler failed\n"}, head_only, true);
                throw;  // recorded by the server
            }
            send_response(stream, resp, head_only, close);
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

    // Declared before the acceptor, destroyed after it.
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::uint16_t port = 0;
    std::thread acceptor_thread;  // runs io: the accept loop
    bool stopped = false;
    std::atomic<bool> stopping{false};

    struct Worker {
        std::thread thread;
        std::shared_ptr<detail::Link> link;
        bool done = false;  // the thread is finished with the socket
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
        tcp::endpoint loopback(asio::ip::address_v4::loopback(), 0);  // 127.0.0.1, an ephemeral port
        error_code ec;
        acceptor.open(loopback.protocol(), ec);
        if (!ec) acceptor.bind(loopback, ec);
        if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw Error(ErrorKind::io, "starting a test server on 127.0.0.1: " + ec.message());
        port = acceptor.local_endpoint().port();
        accept_next();
        acceptor_thread = std::thread([this] { io.run(); });
    }

    void accept_next() {
        // The socket belongs to the connection's own io_context from the start.
        auto link = std::make_shared<detail::Link>();
        acceptor.async_accept(link->socket, [this, link](const error_code& ec) {
            if (ec == asio::error::operation_aborted || stopping) return;
            if (!ec) hand_over(link);
            accept_next();  // after a failed accept (a reset connection, no descriptors): the next one
        });
    }

    void hand_over(const std::shared_ptr<detail::Link>& link) {
        error_code ec;
        link->socket.set_option(tcp::no_delay(true), ec);
        auto remote = link->socket.remote_endpoint(ec);
        std::string peer = ec ? "?" : endpoint_text(remote);
        std::lock_guard lock(mutex);
        ++accepted;
        reap_locked();
        workers.push_back(Worker{.link = link});
        Worker* w = &workers.back();
        w->thread = std::thread([this, w, link, peer] { serve(w, link, peer); });
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

    void serve(Worker* w, const std::shared_ptr<detail::Link>& link, const std::string& peer) {
        try {
            Connection conn = detail::ConnectionAccess::make(link, ctx.get(), false, peer, {});
            handler(conn);
            conn.close();
        } catch (const std::exception& e) {
            record(peer + ": " + e.what());
        } catch (...) {
            record(peer + ": unknown exception");
        }
        error_code ignored;
        link->socket.close(ignored);
        std::lock_guard lock(mutex);
        w->done = true;
    }

    void stop() {
        if (stopped) return;
        stopped = true;
        stopping = true;
        if (acceptor_thread.joinable()) {
            io.stop();
            acceptor_thread.join();
        }
        error_code ignored;
        acceptor.close(ignored);  // new clients are refused from here on
        {
            std::lock_guard lock(mutex);
            for (auto& w : workers)
                if (!w.done) w.link->shutdown_from_elsewhere();  // wakes a blocked read
        }
        for (auto& w : workers)
            if (w.thread.joinable()) w.thread.join();
        workers.clear();
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
