// minica-echo: pieces shared by serve, connect and bench.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/tls.hpp"

namespace spdlog { class logger; }

namespace echo {

// Exit codes of `connect` (documented in its --help) and of the program.
enum Exit : int {
    exit_ok = 0,
    exit_error = 1,         // bad arguments or files, anything else
    exit_usage = 2,         // command line could not be parsed
    exit_connect = 3,       // resolve / TCP connect / timeout / connection lost
    exit_verify = 4,        // the server's certificate failed verification (chain, dates, name)
    exit_pin = 5,           // the server's SPKI did not match --pin
    exit_tls = 6,           // the TLS handshake failed otherwise (the server refused us, no common version)
};

// Thrown by the subcommands for failures that map to an exit code.
struct Failure {
    int code;
    std::string message;
};

// "host:port", "[v6]:port"; port 0 allowed when listening.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;
};
Endpoint parse_endpoint(std::string_view text, bool allow_zero_port);

std::shared_ptr<spdlog::logger> log();  // the "minica-echo" logger (stderr)
void setup_logging(const std::string& level);

// Loads --cert (the leaf, then any intermediates in the same file) and --key.
minica::TlsIdentity load_identity(const std::filesystem::path& cert, const std::filesystem::path& key);
std::vector<minica::Certificate> load_roots(const std::filesystem::path& ca);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

// Why the last TLS operation failed, in words: the first OpenSSL reason
// (explained when it is a common one), else errno, else the SSL_get_error
// class. Drains the OpenSSL error queue.
struct TlsFailure {
    std::string text;
    bool certificate_alert = false;  // the peer sent an alert about our certificate
    bool closed = false;             // the peer closed or reset the connection
};
TlsFailure tls_failure(int ssl_error, int saved_errno);

// "CN=x" / serial / SANs of a raw certificate, for logs.
std::string subject_of(X509* cert);
std::string describe_names(X509* cert);  // "DNS:localhost, IP:127.0.0.1"; "-" when none

double seconds_since(std::chrono::steady_clock::time_point t);

}  // namespace echo
