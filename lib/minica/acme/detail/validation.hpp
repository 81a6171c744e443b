// What the validator's worker threads share with the three challenge
// clients (acme/http01.cpp, tls_alpn01.cpp, dns.cpp). Internal.
//
// Each worker owns an io_context and runs it for one operation at a time:
// a validation reads as straight-line code, every operation bounded by a
// Beast stream expiry (the connect timeout, else the validation's
// deadline), and shutdown() interrupts a wait with io_context::stop().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "minica/acme/detail/dns.hpp"
#include "minica/acme/validator.hpp"

namespace minica::acme::detail {

// A worker's io_context, run until one operation completes.
class Io {
public:
    explicit Io(const std::atomic<bool>& stop) : stop_(stop) {}
    boost::asio::io_context& context() noexcept { return io_; }
    bool stopping() const noexcept { return stop_.load(); }
    // Runs the operation just started until `done` turns true. When the
    // validator stops meanwhile, `cancel` runs (it closes the stream, which
    // ends the operation with operation_aborted) and the handlers drain.
    void run_until(const bool& done, const std::function<void()>& cancel);
    // From another thread: interrupts run_until (after setting the stop flag).
    void interrupt() { io_.stop(); }

private:
    boost::asio::io_context io_;
    const std::atomic<bool>& stop_;
};

struct Context {
    const ValidatorOptions& options;
    Io& io;
    Resolver& resolver;
    boost::asio::ssl::context& tls;  // make_acme_validation_context()
    Clock::time_point deadline;
};

// Where to connect for an identifier: an IP identifier is its own address;
// a name's addresses come from DNS (IPv6 first).
std::variant<std::vector<std::string>, Problem> addresses_of(Context& c, const Identifier& id);

// Connects `stream` to the first of `addresses` (each attempt bounded by
// the connect timeout and the deadline) on `port`. The address used, or a
// connection problem listing why each attempt failed; `what` starts the
// detail ("http-01", "tls-alpn-01").
std::variant<std::string, Problem> connect_first(Context& c, boost::beast::tcp_stream& stream,
                                                 const std::vector<std::string>& addresses, std::uint16_t port,
                                                 std::string_view what);

// "1.5 s" for a duration, for timeouts in problem details.
std::string seconds_text(std::chrono::milliseconds d);

ValidationResult validate_http01(Context& c, const ValidationTask& task);
ValidationResult validate_tls_alpn01(Context& c, const ValidationTask& task);
ValidationResult validate_dns01(Context& c, const ValidationTask& task);

}  // namespace minica::acme::detail
