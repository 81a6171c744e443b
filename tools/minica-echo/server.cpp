// The server: one acceptor on the main thread hands sockets round-robin to one
// io_context thread per core. Each connection drives a raw OpenSSL SSL over
// the non-blocking socket (socket BIO) and waits for readiness with
// async_wait: no asio::ssl::stream, whose four 17 KB buffers per connection
// an idle client would keep; with SSL_MODE_RELEASE_BUFFERS an idle
// connection here holds only the SSL object and its session (bench/echo.py
// --idle measures the memory per connection).
#include "server.hpp"

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "common.hpp"
#include "http.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"
#include "minica/text.hpp"
#include "minica/tls.hpp"

namespace echo {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using asio::ip::tcp;
// Sockets bound to an io_context executor: no type-erased executor in every
// socket and pending operation (10,000 idle connections add up).
using Socket = tcp::socket::rebind_executor<asio::io_context::executor_type>::other;
using Clock = std::chrono::steady_clock;
namespace lvl = spdlog::level;

// Server-side session cache (see serve()): at most this many sessions, each
// kept at most this long (seconds; also the ticket lifetime sent to clients).
constexpr std::size_t kSessionCacheSize = 4096;
constexpr long kSessionLifetime = 300;
// --http: answers waiting for a client that does not read are capped; past
// this, pipelined requests stay unread (in the kernel's buffers, then TCP's
// window) until the client takes its answers.
constexpr std::size_t kMaxPendingOutput = 64 * 1024;
// How often the CRL file is looked at (size, mtime, inode) for a new version.
constexpr auto kCrlCheckInterval = std::chrono::seconds(1);

Clock::duration to_duration(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

struct Server;
struct Worker;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(Worker& worker, Socket socket, std::uint64_t id);
    ~Connection();
    void start();
    void check_deadline(Clock::time_point now);
    void stop();  // the server is stopping

    // The worker's list of open connections (intrusive, not owning: pending
    // operations own a connection; finish() unlinks it).
    Connection* prev = nullptr;
    Connection* next = nullptr;
    bool linked = false;

private:
    enum class Phase : std::uint8_t { handshake, reading, writing, closed };
    using Step = void (Connection::*)();

    void handshake();
    void handshake_failed(int ssl_error, int saved_errno);
    void established();
    void read();
    void write();
    void wait(asio::socket_base::wait_type type, Step step);
    void consume(const char* data, std::size_t size);
    void consume_line(const char* data, std::size_t size);
    void consume_http(const char* data, std::size_t size);
    void close_gracefully(lvl::level_enum level, const std::string& why);
    void finish(lvl::level_enum level, const std::string& why);
    std::string tag() const { return "#" + std::to_string(id_) + " " + peer_; }

    // Allocated while there is something to hold: an idle connection has none.
    struct Buffers {
        std::string in;  // a partial line, or an HTTP request head
        std::string out;
        std::size_t out_pos = 0;
        std::optional<http::RequestReader> requests;  // --http; stateless while `in` is empty
    };
    Buffers& buffers() {
        if (!buf_) buf_ = std::make_unique<Buffers>();
        return *buf_;
    }
    bool has_output() const { return buf_ && !buf_->out.empty(); }

    Worker& worker_;
    Socket socket_;
    minica::detail::SslPtr ssl_;
    Clock::time_point started_;
    Clock::time_point deadline_;
    std::string peer_;  // "127.0.0.1:54321"
    std::unique_ptr<Buffers> buf_;
    std::uint64_t id_;
    std::uint64_t lines_ = 0;
    std::uint64_t bytes_ = 0;
    Phase phase_ = Phase::handshake;
    bool close_after_write_ = false;
};

struct Worker {
    Worker(Server& s) : server(s) {}
    Server& server;
    // Declared before io: connections still pending when io is destroyed
    // unlink themselves from this list.
    Connection* connections = nullptr;  // see Connection::prev/next
    bool stopping = false;
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
    asio::steady_timer sweep{io};
    std::thread thread;

    void add(Socket socket, std::uint64_t id);
    void link(Connection& c);
    void unlink(Connection& c);
    void arm_sweep();
    void stop();
};

// The CRL the server checks clients against, as read from its file.
struct CrlState {
    std::shared_ptr<const minica::Crl> crl;
    struct stat stamp {};  // the file when read: a new version has another inode, size or mtime
    bool expiry_reloaded = false;  // re-read once after nextUpdate passed
};

struct Server {
    ServeOptions opt;
    // The TLS context new connections use. A new CRL means a new context (an
    // X509_STORE cannot drop a CRL): connections made before keep theirs, and
    // sessions cached in the old one can no longer be resumed.
    std::shared_ptr<SSL_CTX> ctx;
    std::shared_ptr<const minica::Crl> crl;
    mutable std::mutex ctx_mutex;  // guards ctx and crl (workers read, the control thread swaps)
    std::function<std::shared_ptr<SSL_CTX>(const minica::Crl*)> make_ctx;
    CrlState crl_state;  // control thread only
    std::size_t max_conns = 0;
    Clock::duration handshake_timeout{};
    Clock::duration idle_timeout{};
    Clock::duration drain_timeout{};
    std::atomic<std::size_t> active{0};
    std::atomic<std::uint64_t> next_id{1};
    std::atomic<std::uint64_t> established{0};
    std::atomic<std::uint64_t> refused{0};
    asio::io_context control{1};
    tcp::acceptor acceptor{control};
    asio::signal_set signals{control, SIGINT, SIGTERM};
    asio::steady_timer backoff{control};
    asio::steady_timer trim_timer{control};
    asio::steady_timer crl_timer{control};
    std::uint64_t trim_seen = 0;
    bool trim_due = false;
    std::vector<std::unique_ptr<Worker>> workers;
    std::size_t next_worker = 0;
    bool stopping = false;

    void accept_next();
    void on_signal(int signo);
    void arm_trim();
    void arm_crl_check();
    std::shared_ptr<SSL_CTX> current_ctx() const {
        std::lock_guard lock(ctx_mutex);
        return ctx;
    }
    std::shared_ptr<const minica::Crl> current_crl() const {
        std::lock_guard lock(ctx_mutex);
        return crl;
    }
};

// One read buffer per thread: a connection keeps only its partial line.
thread_local std::array<char, 16 * 1024> read_buffer;

// ---- Connection ------------------------------------------------------------

Connection::Connection(Worker& worker, Socket socket, std::uint64_t id)
    : worker_(worker), socket_(std::move(socket)), id_(id) {}

Connection::~Connection() {
    if (linked) worker_.unlink(*this);  // only when the io_context is torn down with us in it
}

void Connection::start() {
    Server& server = worker_.server;
    started_ = Clock::now();
    deadline_ = started_ + server.handshake_timeout;
    error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : Endpoint{remote.address().to_string(), remote.port()}.to_string();
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    if (ec) return finish(lvl::warn, "setting up the socket: " + ec.message());
    ERR_clear_error();
    ssl_.reset(SSL_new(server.current_ctx().get()));  // the SSL holds its own reference
    if (!ssl_ || SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1) {
        auto f = tls_failure(SSL_ERROR_SSL, 0);
        return finish(lvl::err, "setting up TLS: " + f.text);
    }
    SSL_set_accept_state(ssl_.get());
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    handshake();
}

void Connection::wait(asio::socket_base::wait_type type, Step step) {
    socket_.async_wait(type, [self = shared_from_this(), step](const error_code& ec) {
        if (self->phase_ == Phase::closed) return;
        if (ec) return self->finish(lvl::warn, "socket error: " + ec.message());
        ((*self).*step)();
    });
}

void Connection::handshake() {
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) return established();
    int saved_errno = errno;
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ) return wait(tcp::socket::wait_read, &Connection::handshake);
    if (e == SSL_ERROR_WANT_WRITE) return wait(tcp::socket::wait_write, &Connection::handshake);
    handshake_failed(e, saved_errno);
}

void Connection::handshake_failed(int ssl_error, int saved_errno) {
    worker_.server.refused.fetch_add(1, std::memory_order_relaxed);
    std::string why = minica::peer_verify_error(ssl_.get());
    if (!why.empty()) {
        ERR_clear_error();  // the reason names the certificate: "... (depth 0: CN=x, issued by CN=y)"
        return finish(lvl::warn, "refused: client certificate not accepted: " + why);
    }
    auto f = tls_failure(ssl_error, saved_errno);
    if (f.certificate_alert)
        return finish(lvl::warn, "refused: the client did not accept our certificate (" + f.text + ")");
    if (f.text.find("alert") != std::string::npos)
        return finish(lvl::warn, "refused: the client aborted the handshake (" + f.text + ")");
    finish(lvl::warn, "refused: TLS handshake failed: " + f.text);
}

void Connection::established() {
    Server& server = worker_.server;
    // A resumed session skips certificate verification: its client is
    // checked here against the CRL as it is now.
    if (SSL_session_reused(ssl_.get()) == 1)
        if (auto crl = server.current_crl()) {
            std::string why;
            X509* peer = SSL_get0_peer_certificate(ssl_.get());
            if (peer != nullptr) {
                try {
                    auto cert = minica::Certificate::from_native(peer);
                    if (crl->issuer() == cert.issuer() && crl->is_revoked(cert.serial_hex()))
                        why = "the client certificate " + cert.serial_hex() + " is revoked";
                } catch (const std::exception& e) {
                    why = e.what();
                }
            }
            if (why.empty() && crl->next_update() < minica::now()) why = "the CRL is out of date";
            if (!why.empty()) {
                server.refused.fetch_add(1, std::memory_order_relaxed);
                return close_gracefully(lvl::warn, "refused: resumed session: " + why);
            }
        }
    server.established.fetch_add(1, std::memory_order_relaxed);
    phase_ = Phase::reading;
    deadline_ = Clock::now() + server.idle_timeout;
    auto logger = log();
    if (logger->should_log(lvl::info)) {
        X509* peer = SSL_get0_peer_certificate(ssl_.get());
        std::string serial = "-";
        std::string issuer = "-";
        if (peer != nullptr) {
            try {
                auto cert = minica::Certificate::from_native(peer);
                serial = cert.serial_hex();
                issuer = cert.issuer();
            } catch (const std::exception&) {
            }
        }
        logger->info("{}: {} {}{}, client \"{}\" serial {} SANs [{}] issuer \"{}\" ({:.1f} ms)", tag(),
                     SSL_get_version(ssl_.get()), SSL_get_cipher_name(ssl_.get()),
                     SSL_session_reused(ssl_.get()) == 1 ? " (resumed)" : "", subject_of(peer), serial,
                     describe_names(peer), issuer, seconds_since(started_) * 1000);
    }
    if (worker_.stopping) return close_gracefully(lvl::info, "server stopping");
    read();
}

void Connection::read() {
    Server& server = worker_.server;
    for (int rounds = 0; rounds < 16; ++rounds) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(ssl_.get(), read_buffer.data(), static_cast<int>(read_buffer.size()));
        if (n > 0) {
            deadline_ = Clock::now() + server.idle_timeout;
            bytes_ += static_cast<std::uint64_t>(n);
            consume(read_buffer.data(), static_cast<std::size_t>(n));
            if (phase_ == Phase::closed) return;
            if (has_output()) {
                phase_ = Phase::writing;
                return write();
            }
            continue;
        }
        int saved_errno = errno;
        int e = SSL_get_error(ssl_.get(), n);
        if (e == SSL_ERROR_WANT_READ) {
            // Idle: hold no buffers (thousands of idle clients add up).
            if (buf_ && buf_->in.empty() && buf_->out.empty()) buf_.reset();
            return wait(tcp::socket::wait_read, &Connection::read);
        }
        if (e == SSL_ERROR_WANT_WRITE) return wait(tcp::socket::wait_write, &Connection::read);
        if (e == SSL_ERROR_ZERO_RETURN) return close_gracefully(lvl::info, "closed by the client");
        auto f = tls_failure(e, saved_errno);
        return finish(f.closed ? lvl::info : lvl::warn,
                      (f.closed ? "closed: " : "TLS error: ") + f.text);
    }
    // Fairness: let the other connections of this thread run, then go on.
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->phase_ == Phase::reading) self->read();
    });
}

void Connection::write() {
    Server& server = worker_.server;
    Buffers& b = buffers();
    while (b.out_pos < b.out.size()) {
        ERR_clear_error();
        errno = 0;
        std::size_t left = b.out.size() - b.out_pos;
        int n = SSL_write(ssl_.get(), b.out.data() + b.out_pos, static_cast<int>(std::min<std::size_t>(left, 1 << 20)));
        if (n > 0) {
            b.out_pos += static_cast<std::size_t>(n);
            if (!worker_.stopping) deadline_ = Clock::now() + server.idle_timeout;
            continue;
        }
        int saved_errno = errno;
        int e = SSL_get_error(ssl_.get(), n);
        if (e == SSL_ERROR_WANT_WRITE) return wait(tcp::socket::wait_write, &Connection::write);
        if (e == SSL_ERROR_WANT_READ) return wait(tcp::socket::wait_read, &Connection::write);
        auto f = tls_failure(e, saved_errno);
        return finish(f.closed ? lvl::info : lvl::warn, (f.closed ? "closed: " : "TLS error: ") + f.text);
    }
    b.out.clear();
    b.out_pos = 0;
    // Pipelined requests left waiting by the output cap come first.
    if (server.opt.http && !b.in.empty() && !close_after_write_ && !worker_.stopping) {
        consume_http(nullptr, 0);
        if (phase_ == Phase::closed) return;
        if (has_output()) return write();
    }
    phase_ = Phase::reading;
    if (close_after_write_ || worker_.stopping)
        return close_gracefully(lvl::info, worker_.stopping ? "server stopping" : "closing");
    read();
}

void Connection::consume(const char* data, std::size_t size) {
    if (worker_.server.opt.http)
        consume_http(data, size);
    else
        consume_line(data, size);
}

void Connection::consume_line(const char* p, std::size_t n) {
    const std::size_t max_line = worker_.server.opt.max_line;
    std::string& in = buffers().in;
    std::string& out = buf_->out;
    while (n > 0 && !close_after_write_) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - p) + 1 : n;
        std::size_t content = in.size() + take - (nl != nullptr ? 1 : 0);
        if (content > max_line) {
            log()->warn("{}: line longer than {} bytes, closing", tag(), max_line);
            out += "minica-echo: line longer than " + std::to_string(max_line) + " bytes, closing\n";
            in.clear();
            close_after_write_ = true;
            return;
        }
        if (nl != nullptr) {
            if (in.empty()) {
                out.append(p, take);
            } else {
                in.append(p, take);
                out += in;
                in.clear();
            }
            ++lines_;
        } else {
            in.append(p, take);
        }
        p += take;
        n -= take;
    }
}

void Connection::consume_http(const char* p, std::size_t n) {
    Buffers& b = buffers();
    if (n > 0) b.in.append(p, n);
    if (!b.requests) b.requests.emplace(worker_.server.opt.max_line);
    while (!close_after_write_ && b.out.size() - b.out_pos < kMaxPendingOutput) {
        std::optional<http::Request> request = b.requests->next(b.in);
        if (!request) return;
        http::PeerInfo info;
        if (request->refused == 431) {
            log()->warn("{}: HTTP request head longer than {} bytes, closing", tag(), worker_.server.opt.max_line);
        } else if (request->refused != 0) {
            log()->warn("{}: malformed HTTP request ({}), closing", tag(), minica::printable(request->why));
        } else {
            X509* peer = SSL_get0_peer_certificate(ssl_.get());
            info.version = SSL_get_version(ssl_.get());
            info.cipher = SSL_get_cipher_name(ssl_.get());
            if (peer != nullptr) {
                try {
                    auto cert = minica::Certificate::from_native(peer);
                    info.subject = cert.subject();
                    info.issuer = cert.issuer();
                    info.serial = cert.serial_hex();
                    info.names = describe_names(peer);
                    info.not_after = minica::format_time(cert.not_after());
                } catch (const std::exception&) {
                }
            }
        }
        http::Response response = http::respond(*request, info);
        b.out += response.bytes;
        ++lines_;
        if (request->refused == 0)
            // What the client sent, escaped: a log line is one line.
            log()->info("{}: \"{} {} {}\" {}", tag(), minica::escape(request->method), minica::escape(request->target),
                        minica::escape(request->version),
                        response.status);
        if (response.close) {
            close_after_write_ = true;
            b.in.clear();
        }
    }
}

void Connection::close_gracefully(lvl::level_enum level, const std::string& why) {
    if (phase_ == Phase::closed) return;
    if (ssl_ && SSL_is_init_finished(ssl_.get())) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());  // one close_notify, best effort: we do not wait for the peer's
        ERR_clear_error();
    }
    finish(level, why);
}

void Connection::finish(lvl::level_enum level, const std::string& why) {
    if (phase_ == Phase::closed) return;
    bool was_established = phase_ != Phase::handshake;
    phase_ = Phase::closed;
    auto logger = log();
    if (logger->should_log(level)) {
        if (was_established)
            logger->log(level, "{}: {} after {} {}, {} bytes in {:.1f} s", tag(), why, lines_,
                        worker_.server.opt.http ? "requests" : "lines", bytes_, seconds_since(started_));
        else
            logger->log(level, "{}: {}", tag(), why);
    }
    error_code ec;
    if (!was_established && socket_.is_open()) {
        // A refused client's last flight (Finished, early data) may sit unread:
        // closing over unread data sends a RST, which can destroy our alert
        // before the client reads it. Take what is there so close() sends a FIN.
        std::size_t drained = 0;
        while (drained < 64 * 1024) {
            std::size_t n = socket_.receive(asio::buffer(read_buffer), 0, ec);
            if (ec || n == 0) break;
            drained += n;
        }
        socket_.shutdown(tcp::socket::shutdown_send, ec);
    }
    socket_.close(ec);
    worker_.unlink(*this);
}

void Connection::check_deadline(Clock::time_point now) {
    if (phase_ == Phase::closed || now < deadline_) return;
    Server& server = worker_.server;
    switch (phase_) {
        case Phase::handshake:
            server.refused.fetch_add(1, std::memory_order_relaxed);
            return finish(lvl::warn, "refused: TLS handshake not finished within " +
                                         fmt::format("{:g}", server.opt.handshake_timeout) + " s");
        case Phase::reading:
            return close_gracefully(lvl::info, "idle for " + fmt::format("{:g}", server.opt.idle_timeout) + " s, closing");
        case Phase::writing:
            return finish(lvl::warn, worker_.stopping ? "server stopping: pending write abandoned"
                                                      : "client not reading for " +
                                                            fmt::format("{:g}", server.opt.idle_timeout) + " s, closing");
        case Phase::closed:
            return;
    }
}

void Connection::stop() {
    switch (phase_) {
        case Phase::handshake:
            return finish(lvl::info, "server stopping (during the handshake)");
        case Phase::reading:
            return close_gracefully(lvl::info, "server stopping");
        case Phase::writing:
            close_after_write_ = true;
            deadline_ = std::min(deadline_, Clock::now() + worker_.server.drain_timeout);
            return;
        case Phase::closed:
            return;
    }
}

// ---- Worker ----------------------------------------------------------------

void Worker::add(Socket socket, std::uint64_t id) {
    auto c = std::make_shared<Connection>(*this, std::move(socket), id);
    link(*c);
    if (stopping) return c->stop();
    c->start();  // from here on its pending operations own it
}

void Worker::link(Connection& c) {
    c.prev = nullptr;
    c.next = connections;
    if (connections != nullptr) connections->prev = &c;
    connections = &c;
    c.linked = true;
}

void Worker::unlink(Connection& c) {
    if (!c.linked) return;
    if (c.prev != nullptr) c.prev->next = c.next;
    else connections = c.next;
    if (c.next != nullptr) c.next->prev = c.prev;
    c.prev = c.next = nullptr;
    c.linked = false;
    server.active.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::arm_sweep() {
    sweep.expires_after(std::chrono::milliseconds(200));
    sweep.async_wait([this](const error_code& ec) {
        if (ec) return;
        auto now = Clock::now();
        for (Connection* c = connections; c != nullptr;) {
            Connection* next = c->next;  // finish() unlinks c, and only c
            auto hold = c->shared_from_this();
            c->check_deadline(now);
            c = next;
        }
        if (stopping && connections == nullptr) return;  // nothing left: let run() return
        arm_sweep();
    });
}

void Worker::stop() {
    stopping = true;
    for (Connection* c = connections; c != nullptr;) {
        Connection* next = c->next;
        auto hold = c->shared_from_this();
        c->stop();
        c = next;
    }
    guard.reset();
}

// ---- Server ----------------------------------------------------------------

void Server::accept_next() {
    Worker& worker = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    acceptor.async_accept(worker.io, [this, &worker](const error_code& ec, Socket socket) {
        if (stopping || ec == asio::error::operation_aborted) return;
        if (ec) {
            log()->warn("accepting a connection: {}", ec.message());
            // Out of descriptors or memory: wait rather than spin.
            backoff.expires_after(std::chrono::milliseconds(100));
            backoff.async_wait([this](const error_code& e) {
                if (!e && !stopping) accept_next();
            });
            return;
        }
        if (active.load(std::memory_order_relaxed) >= max_conns) {
            error_code ignored;
            auto remote = socket.remote_endpoint(ignored);
            refused.fetch_add(1, std::memory_order_relaxed);
            log()->warn("refused {}: connection limit of {} reached",
                        Endpoint{remote.address().to_string(), remote.port()}.to_string(), max_conns);
            socket.set_option(asio::socket_base::linger(true, 0), ignored);  // RST: no TIME_WAIT here
            socket.close(ignored);
        } else {
            active.fetch_add(1, std::memory_order_relaxed);
            std::uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
            asio::post(worker.io, [&worker, id, s = std::move(socket)]() mutable { worker.add(std::move(s), id); });
        }
        accept_next();
    });
}

// A burst of handshakes leaves the heap full of freed handshake state between
// the connections that stay; once things are quiet, hand those pages back to
// the kernel (glibc keeps them otherwise), so the RSS of many idle
// connections is what they hold, not what their handshakes once needed.
void Server::arm_trim() {
    trim_timer.expires_after(std::chrono::seconds(1));
    trim_timer.async_wait([this](const error_code& ec) {
        if (ec || stopping) return;
        std::uint64_t seen = next_id.load(std::memory_order_relaxed);
        if (seen != trim_seen) {
            trim_seen = seen;
            trim_due = true;
        } else if (trim_due) {
            trim_due = false;
            malloc_trim(0);
        }
        arm_trim();
    });
}

// The CRL is re-read when its file changes (minica crl replaces it by
// rename: a new inode) or once its nextUpdate has passed; a file that does
// not parse or is not signed by a client CA keeps the one in use.
void Server::arm_crl_check() {
    crl_timer.expires_after(kCrlCheckInterval);
    crl_timer.async_wait([this](const error_code& ec) {
        if (ec || stopping) return;
        struct stat st {};
        const std::string path = opt.crl->string();
        bool changed = ::stat(path.c_str(), &st) == 0 &&
                       (st.st_ino != crl_state.stamp.st_ino || st.st_size != crl_state.stamp.st_size ||
                        st.st_mtim.tv_sec != crl_state.stamp.st_mtim.tv_sec ||
                        st.st_mtim.tv_nsec != crl_state.stamp.st_mtim.tv_nsec);
        bool expired = crl_state.crl->next_update() < minica::now();
        if (changed || (expired && !crl_state.expiry_reloaded)) {
            try {
                auto fresh = std::make_shared<const minica::Crl>(minica::Crl::load(*opt.crl));
                auto next_ctx = make_ctx(fresh.get());
                {
                    std::lock_guard lock(ctx_mutex);
                    ctx = std::move(next_ctx);
                    crl = fresh;
                }
                crl_state.crl = fresh;
                crl_state.stamp = st;
                crl_state.expiry_reloaded = fresh->next_update() < minica::now();
                if (crl_state.expiry_reloaded)
                    log()->warn("the CRL {} (number {}) is out of date (next update {}): clients are refused "
                                "until it is renewed", path, fresh->number(), minica::format_time(fresh->next_update()));
                else
                    log()->info("reloaded the CRL {}: number {}, {} revoked, next update {}", path, fresh->number(),
                                fresh->entries().size(), minica::format_time(fresh->next_update()));
            } catch (const std::exception& e) {
                crl_state.stamp = st;  // not again until it changes
                crl_state.expiry_reloaded = expired;
                log()->warn("the CRL {} changed but cannot be used ({}): keeping CRL number {}", path, e.what(),
                            crl_state.crl->number());
            }
        }
        arm_crl_check();
    });
}

void Server::on_signal(int signo) {
    if (stopping) {
        log()->warn("{} again: exiting now", signo == SIGINT ? "SIGINT" : "SIGTERM");
        std::fflush(nullptr);
        std::_Exit(exit_error);
    }
    stopping = true;
    log()->info("{}: no new connections; finishing {} open connection(s)",
                signo == SIGINT ? "SIGINT" : "SIGTERM", active.load());
    error_code ec;
    acceptor.close(ec);
    backoff.cancel();
    trim_timer.cancel();
    crl_timer.cancel();
    for (auto& w : workers) asio::post(w->io, [wp = w.get()] { wp->stop(); });
    signals.async_wait([this](const error_code& e, int s) {
        if (!e) on_signal(s);
    });
}

// A certificate whose extended key usage leaves serverAuth out (a --client
// one, say) serves here, but every verifying TLS client refuses it: said
// once, at start-up, rather than as each client's handshake failure.
void warn_if_not_for_servers(const std::string& file, const minica::Certificate& cert) {
    auto eku = cert.extended_key_usage();
    if (eku.empty() || std::find(eku.begin(), eku.end(), "serverAuth") != eku.end()) return;
    log()->warn("the server certificate {} has extended key usage {} and no serverAuth: it is not for a server, and "
                "TLS clients will refuse it (minica sign NAME --server)",
                file, minica::join(eku));
}

}  // namespace

int serve(const ServeOptions& opt) {
    if (opt.handshake_timeout <= 0 || opt.idle_timeout <= 0 || opt.drain_timeout < 0)
        throw minica::Error(minica::ErrorKind::invalid_argument, "timeouts must be positive");
    if (opt.max_line == 0) throw minica::Error(minica::ErrorKind::invalid_argument, "--max-line must be positive");
    if (opt.tickets < 0 || opt.tickets > 16)
        throw minica::Error(minica::ErrorKind::invalid_argument, "--tickets must be 0-16");
    Endpoint listen = parse_endpoint(opt.listen, true);

    auto server = std::make_unique<Server>();
    server->opt = opt;
    server->handshake_timeout = to_duration(opt.handshake_timeout);
    server->idle_timeout = to_duration(opt.idle_timeout);
    server->drain_timeout = to_duration(opt.drain_timeout);

    // Everything that can be wrong with the files is said before listening.
    auto identity = load_identity(opt.cert, opt.key);
    auto roots = load_roots(opt.ca);
    std::optional<minica::Crl> crl;
    if (opt.crl) crl = minica::Crl::load(*opt.crl);
    auto now = minica::now();
    if (identity.certificate.not_after() < now)
        log()->warn("the server certificate {} expired on {}", identity.certificate.subject(),
                    minica::format_time(identity.certificate.not_after()));
    warn_if_not_for_servers(opt.cert, identity.certificate);
    if (crl) {
        bool known = std::any_of(roots.begin(), roots.end(), [&](const auto& r) { return crl->signed_by(r); });
        if (!known)
            log()->warn("the CRL {} is not signed by a certificate in {}: clients it should cover will be refused",
                        opt.crl->string(), opt.ca.string());
        if (crl->next_update() < now)
            log()->warn("the CRL {} is out of date (next update {}): clients will be refused until it is renewed",
                        opt.crl->string(), minica::format_time(crl->next_update()));
    }
    // Every context the server makes (at start, and for each new CRL).
    server->make_ctx = [identity, roots, tickets = opt.tickets](const minica::Crl* crl) {
        minica::ServerTlsOptions tls{.identity = identity, .client_roots = roots, .crls = {}};
        if (crl != nullptr) tls.crls.push_back(crl);
        std::shared_ptr<SSL_CTX> made(minica::make_server_context(tls), SSL_CTX_free);
        // Session tickets are stateful (SSL_OP_NO_TICKET: with TLS 1.3, OpenSSL 3.0
        // then sends tickets that are only a session id into the server-side cache;
        // with TLS 1.2 it resumes by session id from the same cache). Stateless
        // tickets cost more than half again the CPU of a full mTLS handshake:
        // OpenSSL 3.0 encodes the whole session, client certificate included, and
        // decodes it straight back (construct_stateless_ticket), and decoding a
        // certificate's public key goes through the slow OSSL_DECODER machinery
        // (bench/echo.py measures server CPU per handshake with each choice). A stateful ticket
        // costs a session copy and a cache insert, and with one ticket
        // (--tickets, default 1) the cached session is the connection's own:
        // idle connections hold no extra memory for it; each resumption hands out
        // a fresh ticket (and resumption still runs a fresh ECDHE: psk_dhe_ke).
        // The cache is bounded in size (oldest sessions go first) and in time
        // (five minutes, nginx's default, not OpenSSL's two hours). A resumed
        // session's client is checked against the current CRL
        // (Connection::established), and a new CRL brings a new context whose
        // cache knows none of the old sessions.
        SSL_CTX* ctx = made.get();
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(tickets));
        SSL_CTX_set_session_cache_mode(ctx, tickets > 0 ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
        SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(kSessionCacheSize));
        SSL_CTX_set_timeout(ctx, kSessionLifetime);
        // Read whole flights at once rather than a 5-byte record header, then its
        // body (the client's Certificate, CertificateVerify and Finished come in
        // one segment): fewer read(2) calls, less CPU per handshake. Safe with
        // this loop: SSL_read is always called until it wants more from the socket.
        SSL_CTX_set_read_ahead(ctx, 1);
        // TLS 1.3: ChaCha20-Poly1305 first. Its per-connection state is smaller
        // than AES-GCM's (OpenSSL keeps a GHASH table per direction), which adds
        // up over thousands of idle connections (bench/echo.py --idle); a line echo's few bytes never feel AES-NI's speed. Clients that do not
        // offer it get AES-GCM, and TLS 1.2 keeps the library's order.
        if (SSL_CTX_set_ciphersuites(ctx, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384") != 1)
            throw minica::Error(minica::ErrorKind::tls, "setting the TLS 1.3 cipher suites");
        return made;
    };
    if (crl) {
        server->crl = std::make_shared<const minica::Crl>(*crl);
        server->crl_state.crl = server->crl;
        ::stat(opt.crl->c_str(), &server->crl_state.stamp);
        server->crl_state.expiry_reloaded = crl->next_update() < now;
    }
    server->ctx = server->make_ctx(server->crl.get());

    std::uint64_t fds = raise_fd_limit();
    std::size_t fd_room = fds > 64 ? static_cast<std::size_t>(fds - 64) : 16;
    server->max_conns = opt.max_conns != 0 ? opt.max_conns : fd_room;
    if (server->max_conns > fd_room)
        log()->warn("--max-conns {} is above what the descriptor limit ({}) allows", server->max_conns, fds);

    unsigned threads = opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) server->workers.push_back(std::make_unique<Worker>(*server));

    error_code ec;
    auto address = asio::ip::make_address(listen.host, ec);
    if (ec)
        throw minica::Error(minica::ErrorKind::invalid_argument,
                            "listening on " + opt.listen + ": the host must be an IP address");
    tcp::endpoint ep(address, listen.port);
    auto& acceptor = server->acceptor;
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(4096, ec);
    if (ec) throw minica::Error(minica::ErrorKind::io, "listening on " + opt.listen + ": " + ec.message());
    auto local = acceptor.local_endpoint();
    std::string where = Endpoint{local.address().to_string(), local.port()}.to_string();

    log()->info("serving {} on {}: {} thread(s), client CA {}, {}max {} connections, "
                "handshake timeout {:g} s, idle timeout {:g} s, max line {}",
                opt.http ? "HTTPS (mTLS)" : "mTLS echo", where, threads, roots.front().subject(),
                crl ? "CRL " + opt.crl->string() + ", " : std::string(), server->max_conns,
                opt.handshake_timeout, opt.idle_timeout, opt.max_line);
    std::printf("listening on %s\n", where.c_str());
    std::fflush(stdout);

    for (auto& w : server->workers) {
        w->arm_sweep();
        w->thread = std::thread([wp = w.get()] { wp->io.run(); });
    }
    Server* s = server.get();
    s->signals.async_wait([s](const error_code& e, int signo) {
        if (!e) s->on_signal(signo);
    });
    s->accept_next();
    s->arm_trim();
    if (opt.crl) s->arm_crl_check();
    std::thread joiner;
    {
        // The control loop (accept + signals) ends when every worker has finished.
        asio::executor_work_guard<asio::io_context::executor_type> keep(s->control.get_executor());
        joiner = std::thread([s] {
            for (auto& w : s->workers) w->thread.join();
            s->control.stop();
        });
        s->control.run();
    }
    joiner.join();
    log()->info("stopped: {} connection(s) served, {} refused", s->established.load(), s->refused.load());
    return exit_ok;
}

}  // namespace echo
