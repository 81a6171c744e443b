// The load generator: one io_context thread per core, each running its share
// of the concurrent connections. Every connection is a fresh TCP connect and a
// full mTLS handshake (no session resumption), one echo of --payload bytes,
// then close_notify and close; its latency runs from connect() to the echo.
#include "bench.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/fmt/fmt.h>

#include "common.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/tls.hpp"

namespace echo {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Shared {
    const BenchOptions& opt;
    SSL_CTX* ctx;
    tcp::endpoint endpoint;
    std::string server_name;
    std::string payload;
    Clock::time_point start;
    Clock::time_point end;  // load mode: no new connection after this
    Clock::duration timeout;
    std::atomic<std::size_t> claimed{0};  // hold mode: connections started
    std::atomic<std::size_t> held{0};
    std::atomic<bool> abandon{false};
    std::mutex mutex;
    std::string version, cipher;
};

struct Thread;

class Slot : public std::enable_shared_from_this<Slot> {
public:
    explicit Slot(Thread& t);
    void begin();
    void check(Clock::time_point now);
    void drop();

private:
    using Step = void (Slot::*)();
    void handshake();
    void send();
    void receive();
    void complete();
    void fail(const std::string& why);
    void wait(asio::socket_base::wait_type type, Step step);
    void close();
    template <class Op> bool run(Op op, Step again, const char* doing, int& result);

    Thread& t_;
    tcp::socket socket_;
    minica::detail::SslPtr ssl_;
    Clock::time_point started_;
    std::size_t sent_ = 0;
    std::size_t got_ = 0;
    bool active_ = false;
    bool saw_newline_ = false;
    std::uint64_t generation_ = 0;  // bumps on close: stale handlers do nothing
};

struct Thread {
    explicit Thread(Shared& s) : shared(s) {}
    Shared& shared;
    asio::io_context io{1};
    asio::steady_timer sweep{io};
    std::vector<std::shared_ptr<Slot>> slots;
    std::vector<double> latencies_ms;
    std::map<std::string, std::uint64_t> errors;
    std::vector<std::pair<tcp::socket, minica::detail::SslPtr>> held;
    bool stopping = false;
    std::thread thread;

    bool load_over(Clock::time_point now) const {
        if (shared.abandon.load(std::memory_order_relaxed)) return true;
        if (shared.opt.hold > 0) return shared.claimed.load(std::memory_order_relaxed) >= shared.opt.hold;
        return now >= shared.end;
    }
    void arm_sweep() {
        sweep.expires_after(std::chrono::milliseconds(100));
        sweep.async_wait([this](const error_code& ec) {
            if (ec) return;
            auto now = Clock::now();
            for (auto& s : slots) s->check(now);
            if (stopping) return;
            arm_sweep();
        });
    }
};

thread_local std::array<char, 4096> read_buffer;

Slot::Slot(Thread& t) : t_(t), socket_(t.io) {}

void Slot::begin() {
    Shared& sh = t_.shared;
    auto now = Clock::now();
    if (t_.load_over(now)) return;
    if (sh.opt.hold > 0 && sh.claimed.fetch_add(1, std::memory_order_relaxed) >= sh.opt.hold) return;
    active_ = true;
    started_ = now;
    sent_ = got_ = 0;
    saw_newline_ = false;
    std::uint64_t gen = generation_;
    socket_ = tcp::socket(t_.io);
    socket_.async_connect(sh.endpoint, [self = shared_from_this(), gen](const error_code& ec) {
        if (gen != self->generation_) return;
        if (ec) return self->fail("connect: " + ec.message());
        error_code e;
        self->socket_.set_option(tcp::no_delay(true), e);
        self->socket_.non_blocking(true, e);
        ERR_clear_error();
        self->ssl_.reset(SSL_new(self->t_.shared.ctx));
        if (!self->ssl_ || SSL_set_fd(self->ssl_.get(), self->socket_.native_handle()) != 1)
            return self->fail("SSL_new failed");
        try {
            minica::expect_server_name(self->ssl_.get(), self->t_.shared.server_name);
        } catch (const std::exception& x) {
            return self->fail(x.what());
        }
        SSL_set_connect_state(self->ssl_.get());
        SSL_set_mode(self->ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        self->handshake();
    });
}

void Slot::wait(asio::socket_base::wait_type type, Step step) {
    std::uint64_t gen = generation_;
    socket_.async_wait(type, [self = shared_from_this(), gen, step](const error_code& ec) {
        if (gen != self->generation_) return;
        if (ec) return self->fail("socket: " + ec.message());
        ((*self).*step)();
    });
}

// One SSL call; true when it made progress (result > 0). On WANT_* it waits
// and re-enters `again`; on error it fails the attempt.
template <class Op> bool Slot::run(Op op, Step again, const char* doing, int& result) {
    ERR_clear_error();
    errno = 0;
    result = op();
    if (result > 0) return true;
    int saved_errno = errno;
    int e = SSL_get_error(ssl_.get(), result);
    if (e == SSL_ERROR_WANT_READ) {
        wait(tcp::socket::wait_read, again);
        return false;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        wait(tcp::socket::wait_write, again);
        return false;
    }
    std::string why = minica::peer_verify_error(ssl_.get());
    if (why.empty()) why = tls_failure(e, saved_errno).text;
    ERR_clear_error();
    fail(std::string(doing) + ": " + why);
    return false;
}

void Slot::handshake() {
    int r;
    if (run([&] { return SSL_do_handshake(ssl_.get()); }, &Slot::handshake, "handshake", r)) send();
}

void Slot::send() {
    const std::string& p = t_.shared.payload;
    while (sent_ < p.size()) {
        int r;
        if (!run([&] { return SSL_write(ssl_.get(), p.data() + sent_, static_cast<int>(p.size() - sent_)); },
                 &Slot::send, "write", r))
            return;
        sent_ += static_cast<std::size_t>(r);
    }
    receive();
}

void Slot::receive() {
    while (!saw_newline_) {
        int r;
        if (!run([&] { return SSL_read(ssl_.get(), read_buffer.data(), static_cast<int>(read_buffer.size())); },
                 &Slot::receive, "read", r))
            return;
        got_ += static_cast<std::size_t>(r);
        saw_newline_ = std::find(read_buffer.begin(), read_buffer.begin() + r, '\n') != read_buffer.begin() + r;
    }
    complete();
}

void Slot::complete() {
    Shared& sh = t_.shared;
    auto now = Clock::now();
    if (sh.opt.hold == 0 && now > sh.end) {
        close();  // finished after the bell: not counted
        return;
    }
    t_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - started_).count());
    if (sh.version.empty()) {
        std::lock_guard lock(sh.mutex);
        if (sh.version.empty()) {
            sh.version = SSL_get_version(ssl_.get());
            sh.cipher = SSL_get_cipher_name(ssl_.get());
        }
    }
    if (sh.opt.hold > 0) {
        ++generation_;
        active_ = false;
        t_.held.emplace_back(std::move(socket_), std::move(ssl_));
        socket_ = tcp::socket(t_.io);
        if (sh.held.fetch_add(1) + 1 == sh.opt.hold)
            std::fprintf(stderr, "minica-echo: holding %zu connections\n", sh.opt.hold);
    } else {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());  // close_notify, so the server logs a clean close
        ERR_clear_error();
        close();
    }
    begin();
}

void Slot::fail(const std::string& why) {
    ++t_.errors[why];
    close();
    if (t_.shared.opt.hold > 0) t_.shared.claimed.fetch_sub(1, std::memory_order_relaxed);
    // Do not hammer a server that refuses: retry a little later.
    auto timer = std::make_shared<asio::steady_timer>(t_.io, std::chrono::milliseconds(10));
    timer->async_wait([self = shared_from_this(), timer](const error_code& ec) {
        if (!ec && !self->active_) self->begin();
    });
}

void Slot::close() {
    ++generation_;
    active_ = false;
    error_code ec;
    socket_.close(ec);
    ssl_.reset();
}

void Slot::check(Clock::time_point now) {
    if (!active_) return;
    if (t_.shared.abandon.load(std::memory_order_relaxed) || (t_.shared.opt.hold == 0 && now > t_.shared.end))
        return close();
    if (now - started_ > t_.shared.timeout) fail("timed out");
}

void Slot::drop() { close(); }

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double rss_mib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return 0;
}

double round2(double v) { return static_cast<double>(static_cast<long long>(v * 100 + 0.5)) / 100; }
double round3(double v) { return static_cast<double>(static_cast<long long>(v * 1000 + 0.5)) / 1000; }

}  // namespace

int bench(const BenchOptions& opt) {
    if (opt.connections == 0) throw minica::Error(minica::ErrorKind::invalid_argument, "--connections must be positive");
    if (opt.duration <= 0 || opt.timeout <= 0)
        throw minica::Error(minica::ErrorKind::invalid_argument, "--duration and --timeout must be positive");
    if (opt.payload == 0 || opt.payload > 16384)
        throw minica::Error(minica::ErrorKind::invalid_argument, "--payload must be 1-16384 bytes");
    Endpoint ep = parse_endpoint(opt.target, false);
    auto fds = raise_fd_limit();
    if (opt.hold + 64 > fds)
        throw minica::Error(minica::ErrorKind::invalid_argument,
                            "--hold " + std::to_string(opt.hold) + " needs more file descriptors than the limit (" +
                                std::to_string(fds) + ")");

    minica::ClientTlsOptions tls;
    tls.roots = load_roots(opt.ca);
    tls.identity = load_identity(opt.cert, opt.key);
    minica::detail::SslCtxPtr ctx(minica::make_client_context(tls));
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);  // every handshake is a full one
    // Read whole flights at once, not a 5-byte header then a body per record
    // (one read(2) instead of up to eight per handshake).
    SSL_CTX_set_read_ahead(ctx.get(), 1);

    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    error_code ec;
    auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec || results.empty()) throw Failure{exit_connect, "resolving " + ep.host + ": " + ec.message()};

    std::string payload(opt.payload - 1, 'x');
    payload += '\n';
    Shared sh{.opt = opt,
              .ctx = ctx.get(),
              .endpoint = results.begin()->endpoint(),
              .server_name = opt.servername.value_or(ep.host),
              .payload = payload,
              .start = {},
              .end = {},
              .timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout))};

    unsigned nthreads = opt.threads != 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    nthreads = std::min(nthreads, opt.connections);
    std::vector<std::unique_ptr<Thread>> threads;
    for (unsigned i = 0; i < nthreads; ++i) threads.push_back(std::make_unique<Thread>(sh));
    for (unsigned c = 0; c < opt.connections; ++c) {
        auto& t = *threads[c % nthreads];
        t.slots.push_back(std::make_shared<Slot>(t));
    }

    double cpu0 = cpu_seconds();
    sh.start = Clock::now();
    sh.end = sh.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));
    if (opt.hold > 0) sh.end = Clock::time_point::max();
    for (auto& t : threads) {
        for (auto& s : t->slots) asio::post(t->io, [s] { s->begin(); });
        t->arm_sweep();
        // The sweep keeps run() going until the end; then idle slots leave no work.
        t->thread = std::thread([tp = t.get()] { tp->io.run(); });
    }

    // Wait for the load to end (or, holding, for every connection to be open).
    double open_seconds = 0;
    if (opt.hold > 0) {
        auto give_up = sh.start + std::chrono::seconds(600);
        while (sh.held.load() < opt.hold && Clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        open_seconds = seconds_since(sh.start);
        sh.abandon = true;
        std::this_thread::sleep_for(std::chrono::duration<double>(opt.duration));
    } else {
        std::this_thread::sleep_until(sh.end);
    }
    double rss_held = rss_mib();
    for (auto& t : threads) {
        asio::post(t->io, [tp = t.get()] {
            tp->stopping = true;
            tp->sweep.cancel();
            for (auto& s : tp->slots) s->drop();
        });
    }
    for (auto& t : threads) t->thread.join();
    double elapsed = opt.hold > 0 ? open_seconds : opt.duration;
    double cpu = cpu_seconds() - cpu0;

    std::vector<double> lat;
    std::map<std::string, std::uint64_t> errors;
    std::size_t held = 0;
    for (auto& t : threads) {
        lat.insert(lat.end(), t->latencies_ms.begin(), t->latencies_ms.end());
        for (auto& [k, v] : t->errors) errors[k] += v;
        held += t->held.size();
        for (auto& [sock, ssl] : t->held) {
            error_code ignored;
            sock.close(ignored);
        }
        t->held.clear();
    }
    std::sort(lat.begin(), lat.end());
    std::uint64_t error_count = 0;
    for (auto& [k, v] : errors) error_count += v;
    double rate = elapsed > 0 ? static_cast<double>(lat.size()) / elapsed : 0;

    nlohmann::json j;
    j["target"] = ep.to_string();
    j["mode"] = opt.hold > 0 ? "hold" : "handshakes";
    j["connections"] = opt.connections;
    j["threads"] = nthreads;
    j["payload_bytes"] = opt.payload;
    j["tls_version"] = sh.version;
    j["cipher"] = sh.cipher;
    j["handshakes"] = lat.size();
    j["handshakes_per_s"] = round2(rate);
    j["latency_ms"] = {{"p50", round2(percentile(lat, 0.50))},
                       {"p90", round2(percentile(lat, 0.90))},
                       {"p99", round2(percentile(lat, 0.99))},
                       {"max", round2(lat.empty() ? 0 : lat.back())}};
    j["cpu_ms_per_handshake"] = lat.empty() ? 0.0 : round3(cpu * 1000 / static_cast<double>(lat.size()));
    j["client_cpu_s"] = round2(cpu);
    j["errors"] = errors;
    j["error_count"] = error_count;
    if (opt.hold > 0) {
        j["held"] = held;
        j["requested"] = opt.hold;
        j["open_seconds"] = round2(open_seconds);
        j["hold_seconds"] = opt.duration;
        j["client_rss_mib"] = round2(rss_held);
    } else {
        j["duration_s"] = opt.duration;
    }
    if (opt.json) {
        std::cout << j.dump(2) << "\n";
    } else {
        std::cout << "minica-echo bench " << ep.to_string() << ": " << opt.connections << " connections, "
                  << nthreads << " threads, " << sh.version << " " << sh.cipher << "\n";
        if (opt.hold > 0)
            std::cout << "  held " << held << " of " << opt.hold << " connections, opened in "
                      << fmt::format("{:.1f}", open_seconds) << " s; client RSS "
                      << fmt::format("{:.1f}", rss_held) << " MiB\n";
        std::cout << "  handshakes: " << lat.size() << " (" << fmt::format("{:.1f}", rate) << "/s), errors: "
                  << error_count << "\n"
                  << "  latency: p50 " << fmt::format("{:.2f}", percentile(lat, 0.5)) << " ms, p99 "
                  << fmt::format("{:.2f}", percentile(lat, 0.99)) << " ms\n"
                  << "  client CPU: "
                  << fmt::format("{:.3f}", lat.empty() ? 0.0 : cpu * 1000 / static_cast<double>(lat.size()))
                  << " ms per handshake\n";
        for (auto& [k, v] : errors) std::cout << "  error x" << v << ": " << k << "\n";
    }
    if (lat.empty()) return exit_connect;
    if (opt.hold > 0 && held < opt.hold) return exit_connect;
    return exit_ok;
}

}  // namespace echo
