// minica serve: Beast sessions over the transport-free AcmeService.
//
// Threads: `threads` run one io_context. Each connection lives on its own
// strand, so its handlers never run at once; AcmeService::handle runs on
// the io threads (its slow parts, an fsync'd commit and a signature, take a
// millisecond or so: no separate pool). Validations run on the validator's
// own threads and come back through when_validated, posted to the strand.
#include "minica/acme/server.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include "minica/detail/beast_http.hpp"
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "minica/acme/service.hpp"
#include "minica/acme/validator.hpp"
#include "minica/ca_directory.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/log.hpp"
#include "minica/text.hpp"
#include "minica/tls.hpp"

namespace minica::acme {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t max_header = 8 * 1024;
constexpr std::size_t max_body = 64 * 1024;
constexpr auto handshake_timeout = std::chrono::seconds(10);
constexpr auto idle_timeout = std::chrono::seconds(30);
constexpr auto request_timeout = std::chrono::seconds(30);
constexpr auto drain_timeout = std::chrono::seconds(10);
constexpr auto cert_check_interval = std::chrono::minutes(10);
constexpr auto crl_check_interval = std::chrono::seconds(1);

class Server;
std::mutex running_mutex;
Server* running = nullptr;  // the serve() of this process, for stop_serving()
bool stop_requested = false;

tcp::endpoint parse_endpoint(const std::string& text, const char* what) {
    std::string host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw Error(ErrorKind::invalid_argument, std::string(what) + " " + quote(text) + ": expected [ADDRESS]:PORT");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos)
            throw Error(ErrorKind::invalid_argument, std::string(what) + " " + quote(text) + ": expected HOST:PORT");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty() || host == "localhost") host = "127.0.0.1";
    error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec)
        throw Error(ErrorKind::invalid_argument,
                    std::string(what) + " " + quote(text) + ": the host must be an IP address (or localhost)");
    unsigned long p = 0;
    try {
        std::size_t used = 0;
        p = std::stoul(port, &used);
        if (used != port.size() || p > 65535) throw std::out_of_range("port");
    } catch (const std::exception&) {
        throw Error(ErrorKind::invalid_argument, std::string(what) + " " + quote(text) + ": bad port");
    }
    return {addr, static_cast<unsigned short>(p)};
}

// The server's own certificate, <ca-dir>/serve/{cert,key}.pem, issued by
// the CA for `names`; reused while it covers them and a third of its life
// is left.
struct OwnCertificate {
    TlsIdentity identity;
    Time renew_at{};
};

OwnCertificate own_certificate(CaDirectory& ca, const Authority& auth, const std::vector<std::string>& names,
                               const std::function<std::string()>& passphrase, bool force_new) {
    const std::filesystem::path dir = ca.path() / "serve";
    const Time t = now();
    auto renew_point = [](const Certificate& c) { return c.not_before() + (c.not_after() - c.not_before()) * 2 / 3; };
    if (!force_new && std::filesystem::exists(dir / "cert.pem") && std::filesystem::exists(dir / "key.pem")) {
        try {
            Certificate cert = Certificate::load(dir / "cert.pem");
            PrivateKey key = PrivateKey::load(dir / "key.pem");
            const SubjectAltNames want = parse_identities(names);
            bool same_names = cert.names() == want;
            if (same_names && cert.matches(key) && cert.signed_by(auth.certificate()) && t < renew_point(cert) &&
                !ca.inventory().find(cert.serial_hex()).value_or(InventoryRecord{}).revoked_at) {
                logger()->info("serve: reusing the server certificate {} (renewed after {})", cert.serial_hex(),
                               format_time(renew_point(cert)));
                return {{cert, key, auth.intermediates()}, renew_point(cert)};
            }
        } catch (const Error& e) {
            logger()->info("serve: a new server certificate ({})", e.what());
        }
    }
    IssueRequest req;
    req.names = names;
    req.profile = Profile::server;
    req.ca_passphrase = passphrase;
    OutputFiles files;
    files.directory = dir;
    files.overwrite = true;
    req.files = files;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    Issued issued = ca.issue(req);
    logger()->info("serve: issued the server certificate {} for {}", issued.certificate.serial_hex(), join(names));
    return {{issued.certificate, *issued.key, issued.intermediates}, renew_point(issued.certificate)};
}

std::shared_ptr<asio::ssl::context> make_tls(const TlsIdentity& id) {
    ServerTlsOptions o;
    o.identity = id;
    SSL_CTX* ctx = make_server_context(o);
    // asio::ssl::context takes ownership of a native handle.
    return std::make_shared<asio::ssl::context>(ctx);
}

// How many connections live, shared by the server and each of them: a
// connection destroyed after the server (a handler still holding it when a
// drain's deadline stopped the io_context, destroyed with it) counts down
// here, never in a server that is gone.
struct ConnectionCount {
    std::mutex mutex;
    std::size_t live = 0;
    std::function<void()> on_drained;  // set while stopping; cleared by ~Server
};

// A connection of either listener, as the server sees it: counted while it
// lives (the drain on stop ends when none is left) and told when the server
// stops.
class Connection {
public:
    explicit Connection(Server& server);
    virtual ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    virtual void stop() = 0;  // the server is stopping: answer what is in hand, then close

protected:
    Server& server_;

private:
    std::shared_ptr<ConnectionCount> count_;
};

class Session : public Connection, public std::enable_shared_from_this<Session> {
public:
    Session(Server& server, tcp::socket socket, std::shared_ptr<asio::ssl::context> tls)
        : Connection(server), tls_(std::move(tls)), stream_(beast::tcp_stream(std::move(socket)), *tls_) {}
    void start();
    void stop() override;

private:
    void read();
    void on_read(error_code ec);
    void respond(Response r);
    void write(bhttp::response<bhttp::string_body> res, bool close);
    void close();
    void linger();
    void drain();

    std::shared_ptr<asio::ssl::context> tls_;  // outlives the stream (a renewal swaps the server's)
    beast::ssl_stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bool idle_ = false;
    bool stopping_ = false;
    std::function<void()> answer_now_;  // a held challenge answer: stop() sends it at once
    bool refused_body_ = false;  // a request over the limits: linger, then close
    unsigned version_ = 11;
    bool keep_alive_ = true;
    std::string method_, target_;
    std::chrono::steady_clock::time_point started_;
    std::string peer_;
};

class Server {
public:
    Server(const ServeOptions& options) : opts_(options), signals_(strand_, SIGINT, SIGTERM) {}
    ~Server() {
        // Connections still held by handlers (the drain's deadline stopped
        // the io_context) go with it, after this: they must not call back.
        std::lock_guard lock(count_->mutex);
        count_->on_drained = nullptr;
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    int run();

    AcmeService& service() { return *service_; }
    const ServeOptions& options() const { return opts_; }
    bool stopping() const { return stopping_; }
    // From any thread: stop() on the server's strand.
    void request_stop() {
        asio::post(strand_, [this] { stop(); });
    }
    // Connections, counted from construction to destruction. A weak_ptr
    // per live one, pruned as they go (a make_shared block stays allocated
    // while a weak_ptr to it lives).
    void track(const std::shared_ptr<Connection>& c) {
        std::lock_guard lock(connections_mutex_);
        std::erase_if(connections_, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
        connections_.push_back(c);
    }
    const std::shared_ptr<ConnectionCount>& connection_count() const { return count_; }
    std::shared_ptr<asio::ssl::context> tls() {
        std::lock_guard lock(tls_mutex_);
        return tls_;
    }
    Response handle_crl(const std::string& method, const std::string& target, const std::string& if_none_match);

private:
    void stop();
    void drained();
    void accept();
    void accept_http();
    void accept_again(void (Server::*accept)(), error_code ec);
    void check_certificate();
    void check_crl();
    void publish_crl(const char* why);

    ServeOptions opts_;
    asio::io_context io_;
    // The server's own objects (acceptors, timers, signals) and stop() live
    // on this strand, never two handlers of theirs at once.
    asio::strand<asio::io_context::executor_type> strand_{asio::make_strand(io_)};
    asio::signal_set signals_;
    std::optional<tcp::acceptor> acceptor_;
    std::optional<tcp::acceptor> http_acceptor_;
    std::optional<asio::steady_timer> cert_timer_, crl_timer_, drain_timer_;
    std::optional<CaDirectory> ca_;
    std::shared_ptr<const Authority> authority_;  // the CaDirectory's, loaded once (the key decrypted once)
    // The service before its validator: members go in reverse, and the
    // validator's shutdown (also from its destructor, when run() throws)
    // delivers results into the service.
    std::unique_ptr<AcmeService> service_;
    std::unique_ptr<Validator> validator_;
    std::vector<std::string> names_;
    Time renew_at_{};
    std::mutex tls_mutex_;
    std::shared_ptr<asio::ssl::context> tls_;
    std::shared_ptr<ConnectionCount> count_ = std::make_shared<ConnectionCount>();
    std::mutex connections_mutex_;
    std::vector<std::weak_ptr<Connection>> connections_;
    std::atomic<bool> stopping_{false};

    // The CRL served on --http-listen: DER, re-signed on a revocation (ours
    // at once; another process's when the inventory's revocation count
    // moves) and when half its validity has passed.
    std::mutex crl_mutex_;
    std::string crl_der_, crl_etag_;
    Time crl_this_update_{}, crl_next_update_{};
    std::uint64_t revocations_seen_ = 0;
    std::string root_crl_der_;
    std::filesystem::file_time_type root_crl_mtime_{};
};

// --- sessions ---------------------------------------------------------------

Connection::Connection(Server& server) : server_(server), count_(server.connection_count()) {
    std::lock_guard lock(count_->mutex);
    ++count_->live;
}

Connection::~Connection() {
    std::function<void()> drained;
    {
        std::lock_guard lock(count_->mutex);
        if (--count_->live == 0) drained = count_->on_drained;
    }
    if (drained) drained();
}

void Session::start() {
    error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
        if (ec) {
            logger()->debug("serve: {} TLS handshake: {}", self->peer_, ec.message());
            return;
        }
        self->read();
    });
}

void Session::read() {
    if (stopping_ || server_.stopping()) return close();
    parser_.emplace();
    parser_->header_limit(max_header);
    parser_->body_limit(max_body);
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
        self->on_read(ec);
    });
}

void Session::stop() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
        self->stopping_ = true;
        // Idle (waiting for a request that has not started): close now.
        if (self->idle_ && self->parser_ && !self->parser_->got_some()) {
            beast::get_lowest_layer(self->stream_).cancel();
        }
        // A challenge answer held for its validation: answered now.
        if (auto answer = std::exchange(self->answer_now_, nullptr)) answer();
    });
}

void Session::on_read(error_code ec) {
    idle_ = false;
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::ssl::error::stream_truncated)
        return close();
    started_ = std::chrono::steady_clock::now();
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
        refused_body_ = true;
        version_ = 11;
        keep_alive_ = false;
        method_ = "?";
        target_ = "?";
        Problem p = Problem::make(ProblemType::malformed, ec == bhttp::error::body_limit
                                                              ? "request body over " + std::to_string(max_body) + " bytes"
                                                              : "request head over " + std::to_string(max_header) + " bytes");
        p.status = ec == bhttp::error::body_limit ? 413 : 431;
        Response r;
        r.status = p.status;
        r.headers.emplace_back("Content-Type", "application/problem+json");
        r.body = p.to_json().dump();
        return respond(std::move(r));
    }
    if (ec) {
        logger()->debug("serve: {} read: {}", peer_, ec.message());
        return close();
    }
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target());
    Request r;
    r.method = method_;
    r.target = target_.substr(0, target_.find('?'));
    r.content_type = std::string(req[bhttp::field::content_type]);
    r.body = std::move(req.body());
    beast::get_lowest_layer(stream_).expires_after(request_timeout);
    Response res = server_.service().handle(r);
    if (res.await_authz && server_.stopping())
        return respond(server_.service().held_answer(*res.await_authz, *res.await_type));
    if (res.await_authz) {
        // Hold the answer until the validation is done or the wait is over,
        // whichever first; then answer what the store says (held_answer).
        // The session is held by the wait until it answers, no longer: the
        // service keeps the when_validated callback (and so the wait) until
        // the validation ends, and a session kept alive past its answer
        // would hold a stopping server's drain until its deadline.
        struct Wait {
            std::atomic<bool> done{false};
            asio::steady_timer timer;
            std::shared_ptr<Session> session;
            Id authz;
            ChallengeType type;
            Wait(asio::any_io_executor ex, std::shared_ptr<Session> s, Id a, ChallengeType t)
                : timer(ex), session(std::move(s)), authz(a), type(t) {}
        };
        auto wait = std::make_shared<Wait>(stream_.get_executor(), shared_from_this(), *res.await_authz, *res.await_type);
        auto finish = [wait] {
            if (wait->done.exchange(true)) return;
            std::shared_ptr<Session> self = std::move(wait->session);
            self->answer_now_ = nullptr;
            wait->timer.cancel();
            self->respond(self->server_.service().held_answer(wait->authz, wait->type));
        };
        answer_now_ = [w = std::weak_ptr(wait)] {
            if (auto wt = w.lock()) wt->timer.cancel();  // the timer's handler answers, on this strand
        };
        wait->timer.expires_after(server_.options().validation_wait);
        wait->timer.async_wait(asio::bind_executor(stream_.get_executor(), [finish](error_code) { finish(); }));
        server_.service().when_validated(wait->authz,
                                         [ex = stream_.get_executor(), finish] { asio::post(ex, finish); });
        return;
    }
    respond(std::move(res));
}

void Session::respond(Response r) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version_};
    res.set(bhttp::field::server, "minica");
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    const bool head = method_ == "HEAD";
    const std::size_t size = r.body.size();
    res.body() = head ? std::string() : std::move(r.body);
    res.content_length(size);
    if (head) res.body().clear();
    const bool close = !keep_alive_ || stopping_ || server_.stopping();
    res.keep_alive(!close);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    logger()->info("serve: {} \"{} {}\" {} {} {:.1f}ms", peer_, escape(method_), escape(target_), r.status, size, ms);
    write(std::move(res), close);
}

void Session::write(bhttp::response<bhttp::string_body> res, bool close) {
    auto sp = std::make_shared<bhttp::response<bhttp::string_body>>(std::move(res));
    bhttp::async_write(stream_, *sp, [self = shared_from_this(), sp, close](error_code ec, std::size_t) {
        if (!ec && self->refused_body_) return self->linger();
        if (ec || close) return self->close();
        self->read();
    });
}

// After refusing a request whose body was not read: the client may still be
// sending it, and closing with unread data makes the kernel send a reset,
// which can reach the client before our answer does. So: end our side
// (FIN after the answer) and read what still comes, discarding it, for a
// bounded time (Apache's "lingering close").
void Session::linger() {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    drain();
}

void Session::drain() {
    auto buf = std::make_shared<std::array<char, 16384>>();
    beast::get_lowest_layer(stream_).async_read_some(asio::buffer(*buf), [self = shared_from_this(), buf](error_code ec, std::size_t) {
        if (ec) {
            error_code ignored;
            beast::get_lowest_layer(self->stream_).socket().close(ignored);
            return;
        }
        self->drain();
    });
}

void Session::close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](error_code) {
        error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
}

// The plain-HTTP listener: /crl and /root-crl only, one request at a time
// per connection, no TLS (a CRL over https would need the CA to verify the
// CA; Windows fetches CRLs over http only).
class PlainSession : public Connection, public std::enable_shared_from_this<PlainSession> {
public:
    PlainSession(Server& server, tcp::socket socket) : Connection(server), stream_(std::move(socket)) {}
    void read() {
        if (server_.stopping()) return close();
        req_ = {};
        reading_ = true;
        stream_.expires_after(idle_timeout);
        bhttp::async_read(stream_, buffer_, req_, [self = shared_from_this()](error_code ec, std::size_t) {
            self->reading_ = false;
            if (ec) return self->close();
            self->answer();
        });
    }
    void stop() override {
        // Waiting for a request: close now; answering one: close after it.
        asio::post(stream_.get_executor(), [self = shared_from_this()] {
            if (self->reading_) self->stream_.cancel();
        });
    }

private:
    void answer() {
        Response r = server_.handle_crl(std::string(req_.method_string()), std::string(req_.target()),
                                        std::string(req_[bhttp::field::if_none_match]));
        auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status),
                                                                          req_.version());
        res->set(bhttp::field::server, "minica");
        for (const auto& [k, v] : r.headers) res->insert(k, v);
        const std::size_t size = r.body.size();
        if (req_.method() != bhttp::verb::head) res->body() = std::move(r.body);
        res->content_length(size);
        const bool close = !req_.keep_alive() || server_.stopping();
        res->keep_alive(!close);
        bhttp::async_write(stream_, *res, [self = shared_from_this(), res, close](error_code ec, std::size_t) {
            if (ec || close) return self->close();
            self->read();
        });
    }
    void close() {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
    }
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bhttp::request<bhttp::empty_body> req_;
    bool reading_ = false;
};

// --- the server -------------------------------------------------------------

std::string http_date(Time t) {
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

Response Server::handle_crl(const std::string& method, const std::string& target, const std::string& if_none_match) {
    Response r;
    if (method != "GET" && method != "HEAD") {
        r.status = 405;
        r.headers.emplace_back("Allow", "GET, HEAD");
        return r;
    }
    const std::string path = target.substr(0, target.find('?'));
    std::lock_guard lock(crl_mutex_);
    if (path == "/crl") {
        if (crl_der_.empty()) {
            r.status = 503;
            return r;
        }
        const Time t = now();
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(crl_next_update_ - t).count();
        const long max_age = std::max<long>(0, std::min<long>(300, left));
        r.headers.emplace_back("ETag", crl_etag_);
        r.headers.emplace_back("Last-Modified", http_date(crl_this_update_));
        r.headers.emplace_back("Cache-Control", "public, max-age=" + std::to_string(max_age));
        if (if_none_match == crl_etag_) {
            r.status = 304;
            return r;
        }
        r.status = 200;
        r.headers.emplace_back("Content-Type", "application/pkix-crl");
        r.body = crl_der_;
        return r;
    }
    if (path == "/root-crl") {
        // Read from the file `minica crl` writes where the root key is: the
        // root key never has to be online.
        const auto file = ca_->path() / "root-crl.pem";
        std::error_code ec;
        auto mtime = std::filesystem::last_write_time(file, ec);
        if (ec) {
            r.status = 404;
            return r;
        }
        if (mtime != root_crl_mtime_) {
            try {
                root_crl_der_ = Crl::load(file).der();
                root_crl_mtime_ = mtime;
            } catch (const Error& e) {
                logger()->error("serve: {}", e.what());
                r.status = 503;
                return r;
            }
        }
        r.status = 200;
        r.headers.emplace_back("Content-Type", "application/pkix-crl");
        r.headers.emplace_back("Cache-Control", "public, max-age=300");
        r.body = root_crl_der_;
        return r;
    }
    r.status = 404;
    return r;
}

void Server::publish_crl(const char* why) {
    CrlRequest req;
    req.validity = std::chrono::duration_cast<std::chrono::days>(opts_.crl_validity);
    if (req.validity.count() < 1) req.validity = std::chrono::days(1);
    req.ca_passphrase = opts_.ca_passphrase;
    // Only the issuing CA's CRL: the root's is signed where the root key is.
    req.include_root = false;
    std::lock_guard lock(crl_mutex_);
    try {
        auto ca_lock = service_->lock_ca();
        revocations_seen_ = ca_->inventory().revocation_count();
        PublishedCrls p = ca_->publish_crls(req);
        crl_der_ = p.issuing.crl.der();
        crl_this_update_ = p.issuing.crl.this_update();
        crl_next_update_ = p.issuing.crl.next_update();
        crl_etag_ = "\"crl-" + std::to_string(p.issuing.crl.number()) + "\"";
        logger()->info("serve: CRL {} signed ({}, {} entries)", p.issuing.crl.number(), why, p.issuing.entries);
    } catch (const Error& e) {
        logger()->error("serve: signing the CRL ({}): {}", why, e.what());
    }
}

void Server::check_crl() {
    crl_timer_->expires_after(crl_check_interval);
    crl_timer_->async_wait([this](error_code ec) {
        if (ec || stopping_) return;
        bool resign = false;
        const char* why = "";
        try {
            std::lock_guard lock(crl_mutex_);
            if (ca_->inventory().revocation_count() != revocations_seen_) {
                resign = true;
                why = "a revocation";
            } else if (now() >= crl_this_update_ + (crl_next_update_ - crl_this_update_) / 2) {
                resign = true;
                why = "half its validity passed";
            }
        } catch (const Error& e) {
            logger()->error("serve: {}", e.what());
        }
        if (resign) publish_crl(why);
        check_crl();
    });
}

void Server::check_certificate() {
    cert_timer_->expires_after(cert_check_interval);
    cert_timer_->async_wait([this](error_code ec) {
        if (ec || stopping_) return;
        if (now() >= renew_at_) {
            try {
                auto ca_lock = service_->lock_ca();
                OwnCertificate own = own_certificate(*ca_, *authority_, names_, opts_.ca_passphrase, true);
                ca_lock.unlock();
                auto ctx = make_tls(own.identity);
                std::lock_guard lock(tls_mutex_);
                tls_ = std::move(ctx);
                renew_at_ = own.renew_at;
            } catch (const Error& e) {
                logger()->error("serve: renewing the server certificate: {}", e.what());
            }
        }
        check_certificate();
    });
}

// The accept handlers run on strand_ (the acceptors' executor); each
// connection gets a strand of its own.
void Server::accept() {
    acceptor_->async_accept(asio::make_strand(io_), [this](error_code ec, tcp::socket socket) {
        if (stopping_) return;
        if (ec) return accept_again(&Server::accept, ec);
        auto s = std::make_shared<Session>(*this, std::move(socket), tls());
        track(s);
        s->start();
        accept();
    });
}

void Server::accept_http() {
    http_acceptor_->async_accept(asio::make_strand(io_), [this](error_code ec, tcp::socket socket) {
        if (stopping_) return;
        if (ec) return accept_again(&Server::accept_http, ec);
        auto s = std::make_shared<PlainSession>(*this, std::move(socket));
        track(s);
        s->read();
        accept_http();
    });
}

// After a failed accept (out of file descriptors, say): again in a moment,
// not at once (that would spin).
void Server::accept_again(void (Server::*accept)(), error_code ec) {
    logger()->warn("serve: accepting a connection: {}", ec.message());
    auto pause = std::make_shared<asio::steady_timer>(strand_, std::chrono::milliseconds(100));
    pause->async_wait([this, pause, accept](error_code e) {
        if (!e && !stopping_) (this->*accept)();
    });
}

void Server::stop() {
    if (stopping_) return;
    stopping_ = true;
    logger()->info("serve: stopping (answering requests in flight)");
    error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    if (http_acceptor_) http_acceptor_->close(ignored);
    if (cert_timer_) cert_timer_->cancel();
    if (crl_timer_) crl_timer_->cancel();
    signals_.cancel();
    drain_timer_.emplace(strand_);
    drain_timer_->expires_after(drain_timeout);
    drain_timer_->async_wait([this](error_code ec) {
        if (!ec) {
            logger()->warn("serve: connections still open after {} s: closing them", drain_timeout.count());
            io_.stop();
        }
    });
    std::vector<std::shared_ptr<Connection>> open;
    {
        std::lock_guard lock(connections_mutex_);
        for (auto& w : connections_)
            if (auto c = w.lock()) open.push_back(std::move(c));
        connections_.clear();
    }
    {
        std::lock_guard lock(count_->mutex);
        count_->on_drained = [this] { asio::post(strand_, [this] { drained(); }); };
        if (count_->live == 0) count_->on_drained();
    }
    // Outside the lock: the last reference may go here, and a connection's
    // destructor takes the lock.
    for (auto& c : open) c->stop();
}

// Every connection is gone: nothing to wait for.
void Server::drained() {
    if (drain_timer_) drain_timer_->cancel();
}

int Server::run() {
    ca_ = CaDirectory::open(opts_.ca_dir);
    names_ = opts_.hostnames.empty() ? std::vector<std::string>{"localhost"} : opts_.hostnames;
    const tcp::endpoint ep = parse_endpoint(opts_.listen, "--listen");
    acceptor_.emplace(strand_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    error_code ec;
    acceptor_->bind(ep, ec);
    if (ec) throw Error(ErrorKind::io, "--listen " + opts_.listen + ": " + ec.message());
    acceptor_->listen(asio::socket_base::max_listen_connections);
    const auto port = acceptor_->local_endpoint().port();
    std::string http_url;
    if (opts_.http_listen) {
        const tcp::endpoint hep = parse_endpoint(*opts_.http_listen, "--http-listen");
        http_acceptor_.emplace(strand_);
        http_acceptor_->open(hep.protocol());
        http_acceptor_->set_option(tcp::acceptor::reuse_address(true));
        http_acceptor_->bind(hep, ec);
        if (ec) throw Error(ErrorKind::io, "--http-listen " + *opts_.http_listen + ": " + ec.message());
        http_acceptor_->listen(asio::socket_base::max_listen_connections);
        auto hp = http_acceptor_->local_endpoint();
        http_url = "http://" + (hp.address().is_v6() ? "[" + hp.address().to_string() + "]" : hp.address().to_string()) +
                   ":" + std::to_string(hp.port());
    }

    authority_ = ca_->loaded_authority(opts_.ca_passphrase);
    OwnCertificate own = own_certificate(*ca_, *authority_, names_, opts_.ca_passphrase, false);
    tls_ = make_tls(own.identity);
    renew_at_ = own.renew_at;

    ValidatorOptions vo;
    vo.dns_resolver = opts_.dns_resolver;
    vo.http01_port = opts_.http01_port;
    vo.tls_alpn01_port = opts_.tls_alpn01_port;
    validator_ = make_validator(vo);

    ServiceOptions so;
    const std::string host = names_.front();
    so.base_url = opts_.external_url.value_or("https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                                              ":" + std::to_string(port));
    so.eab_required = opts_.eab_required;
    so.terms_of_service = opts_.terms_of_service;
    so.validity = opts_.validity;
    so.ca_passphrase = opts_.ca_passphrase;
    if (opts_.http_listen) so.on_revoked = [this] { publish_crl("revoked over ACME"); };
    service_ = std::make_unique<AcmeService>(*ca_, *authority_, *validator_, so);
    if (opts_.http_listen) {
        publish_crl("start");
        crl_timer_.emplace(strand_);
        check_crl();
    }
    service_->resume_validations();

    signals_.async_wait([this](error_code e, int sig) {
        if (!e) logger()->info("serve: {} received", sig == SIGINT ? "SIGINT" : "SIGTERM");
        stop();  // on strand_ (the signal set's executor)
    });
    cert_timer_.emplace(strand_);
    check_certificate();
    accept();
    if (http_acceptor_) accept_http();
    {
        std::lock_guard lock(running_mutex);
        running = this;
        if (stop_requested) request_stop();
        stop_requested = false;
    }
    logger()->info("serve: ACME directory {}/directory{}", so.base_url,
                   http_url.empty() ? "" : ", CRL " + http_url + "/crl");
    if (opts_.on_ready) opts_.on_ready(so.base_url + "/directory", http_url);

    std::vector<std::thread> threads;
    for (int i = 1; i < std::max(1, opts_.threads); ++i) threads.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : threads) t.join();
    {
        std::lock_guard lock(running_mutex);
        running = nullptr;
    }
    validator_->shutdown();
    logger()->info("serve: stopped");
    return 0;
}

}  // namespace

int serve(const ServeOptions& options) {
    Server server(options);
    return server.run();
}

void stop_serving() noexcept {
    std::lock_guard lock(running_mutex);
    if (running) {
        running->request_stop();
    } else {
        stop_requested = true;
    }
}

}  // namespace minica::acme
