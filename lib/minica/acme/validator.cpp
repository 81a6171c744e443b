// The validator (acme/validator.hpp): a bounded queue and N worker threads,
// each with its own io_context and c-ares channel, running one validation
// at a time as straight-line code (acme/http01.cpp, tls_alpn01.cpp,
// dns.cpp). A validation is short and bounded (10 s by default); a few
// workers each blocking on one is simpler to read and to bound than one
// event loop juggling them, and the queue bound keeps a flood of challenge
// POSTs from growing memory (beyond it: rateLimited at once).
#include "minica/acme/validator.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/spdlog.h>

#include "minica/acme/detail/validation.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"
#include "minica/tls.hpp"

namespace minica::acme {

namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

void Io::run_until(const bool& done, const std::function<void()>& cancel) {
    bool cancelled = false;
    while (!done) {
        io_.restart();
        // Checked after restart(): a stop() that lands before it was
        // cleared by it, one that lands after makes run() return at once.
        if (stop_.load() && !cancelled) {
            cancel();
            cancelled = true;
        }
        io_.run();
    }
}

std::string seconds_text(std::chrono::milliseconds d) {
    auto ms = d.count();
    std::string text = std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
        std::string frac = std::to_string(1000 + ms % 1000).substr(1);
        while (frac.back() == '0') frac.pop_back();
        text += "." + frac;
    }
    return text + " s";
}

std::variant<std::vector<std::string>, Problem> addresses_of(Context& c, const Identifier& id) {
    if (id.type == IdentifierType::ip) return std::vector<std::string>{id.value};
    return c.resolver.addresses(id.value, c.deadline);
}

std::variant<std::string, Problem> connect_first(Context& c, beast::tcp_stream& stream,
                                                 const std::vector<std::string>& addresses, std::uint16_t port,
                                                 std::string_view what) {
    std::string failures;
    for (const auto& text : addresses) {
        const std::string where = text.find(':') != std::string::npos ? "[" + text + "]:" + std::to_string(port)
                                                                      : text + ":" + std::to_string(port);
        if (!failures.empty()) failures += "; ";
        const auto now = Clock::now();
        if (now >= c.deadline || c.io.stopping()) {
            failures += where + ": not tried, out of time";
            continue;
        }
        error_code ec;
        const auto address = asio::ip::make_address(text, ec);
        if (ec) {
            failures += where + ": not an IP address";
            continue;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now);
        const auto limit = std::min(c.options.connect_timeout, left);
        stream.expires_after(limit);
        bool done = false;
        stream.async_connect(asio::ip::tcp::endpoint(address, port), [&](const error_code& e) {
            ec = e;
            done = true;
        });
        c.io.run_until(done, [&] { stream.close(); });
        if (!ec) {
            stream.expires_never();
            return text;
        }
        failures += where + ": " + (ec == beast::error::timeout ? "timed out after " + seconds_text(limit) : ec.message());
        error_code ignored;
        stream.socket().close(ignored);  // the next address may be of the other family
    }
    return Problem::make(ProblemType::connection, std::string(what) + ": connecting failed: " + failures);
}

}  // namespace detail

namespace {

using detail::Clock;

ValidationResult failed(Problem p) {
    ValidationResult r;
    r.problem = std::move(p);
    return r;
}

ValidationResult shutting_down() {
    ValidationResult r = failed(Problem::make(ProblemType::connection, "server shutting down"));
    r.no_outcome = true;
    return r;
}

// `done` runs exactly once; what it throws is logged, never passed on to a
// worker thread (which would end the process).
void deliver(const std::function<void(ValidationResult)>& done, ValidationResult result) noexcept {
    try {
        done(std::move(result));
    } catch (const std::exception& e) {
        try {
            logger()->error("acme validator: the result callback threw: {}", e.what());
        } catch (...) {
        }
    } catch (...) {
    }
}

class ThreadedValidator final : public Validator {
public:
    explicit ThreadedValidator(const ValidatorOptions& options)
        : options_(options), tls_(make_acme_validation_context()) {
        if (options_.threads < 1)
            throw Error(ErrorKind::invalid_argument, "ACME validator: threads must be at least 1");
        if (options_.timeout.count() <= 0 || options_.connect_timeout.count() <= 0)
            throw Error(ErrorKind::invalid_argument, "ACME validator: timeouts must be positive");
        // Every resolver is made here, so that a bad --dns-resolver is the
        // caller's error now, not a failed validation later.
        for (int i = 0; i < options_.threads; ++i) {
            auto w = std::make_unique<Worker>(stop_);
            w->resolver = std::make_unique<detail::Resolver>(options_.dns_resolver, &stop_);
            workers_.push_back(std::move(w));
        }
        for (auto& w : workers_) w->thread = std::thread([this, raw = w.get()] { work(*raw); });
    }

    ~ThreadedValidator() override { shutdown(); }

    void submit(ValidationTask task, std::function<void(ValidationResult)> done) override {
        std::unique_lock lock(mutex_);
        if (stopped_) {
            lock.unlock();
            deliver(done, shutting_down());
            return;
        }
        if (queue_.size() >= options_.queue_limit) {
            lock.unlock();
            ValidationResult full = failed(Problem::make(ProblemType::rate_limited,
                                                         "too many validations in progress; retry later"));
            full.no_outcome = true;
            deliver(done, std::move(full));
            return;
        }
        queue_.push_back(Job{std::move(task), std::move(done)});
        lock.unlock();
        ready_.notify_one();
    }

    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            if (stopped_) return;
            stopped_ = true;
            stop_.store(true);
        }
        ready_.notify_all();
        for (auto& w : workers_) w->io.interrupt();
        for (auto& w : workers_)
            if (w->thread.joinable()) w->thread.join();
        std::deque<Job> left;
        {
            std::lock_guard lock(mutex_);
            left.swap(queue_);
        }
        for (auto& job : left) deliver(job.done, shutting_down());
    }

private:
    struct Job {
        ValidationTask task;
        std::function<void(ValidationResult)> done;
    };
    struct Worker {
        explicit Worker(const std::atomic<bool>& stop) : io(stop) {}
        detail::Io io;
        std::unique_ptr<detail::Resolver> resolver;
        std::thread thread;
    };

    void work(Worker& w) {
        for (;;) {
            Job job;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
                if (stopped_) return;  // shutdown() answers what is left
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            ValidationResult result;
            try {
                result = validate(w, job.task);
            } catch (...) {  // out of memory while reporting a failure
                result.problem = Problem{};
            }
            if (stop_.load()) result = shutting_down();  // cut short: its outcome means nothing
            deliver(job.done, std::move(result));
        }
    }

    // Internal failures (OpenSSL, memory) are the server's, not the
    // target's: serverInternal, with the reason in the log only.
    ValidationResult validate(Worker& w, const ValidationTask& task) {
        try {
            detail::Context c{options_, w.io, *w.resolver, tls_, Clock::now() + options_.timeout};
            switch (task.type) {
                case ChallengeType::http_01: return detail::validate_http01(c, task);
                case ChallengeType::tls_alpn_01: return detail::validate_tls_alpn01(c, task);
                case ChallengeType::dns_01: return detail::validate_dns01(c, task);
            }
        } catch (const std::exception& e) {
            logger()->error("acme validator: validating {}: {}", task.identifier.value, e.what());
        }
        return failed(Problem::make(ProblemType::server_internal, "the validation could not be carried out"));
    }

    ValidatorOptions options_;
    boost::asio::ssl::context tls_;  // shared: SSL_new on one SSL_CTX is thread-safe
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Job> queue_;
    bool stopped_ = false;
    std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace

std::unique_ptr<Validator> make_validator(const ValidatorOptions& options) {
    return std::make_unique<ThreadedValidator>(options);
}

}  // namespace minica::acme
