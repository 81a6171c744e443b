// minica::Error — the one exception type of the library (DESIGN §6).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace minica {

enum class ErrorKind {
    invalid_argument,  // a caller-supplied value is malformed (bad name, bad option)
    parse,             // input could not be decoded (PEM/DER/JSON)
    crypto,            // OpenSSL refused an operation
    passphrase,        // wrong or missing passphrase
    policy,            // refused by policy or name constraints (CSR CA:TRUE, name outside...)
    verify,            // chain or signature verification failed
    io,                // file-system error
    exists,            // refusing to overwrite something that exists
    not_found,         // a file, serial or record does not exist
    store,             // the inventory database is corrupt or unusable
    tls,               // TLS configuration or handshake failure
};

std::string_view to_string(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
public:
    // message reads "context: detail"; openssl_queue is the drained OpenSSL
    // error queue (may be empty), kept apart so programs show it only with -v.
    Error(ErrorKind kind, std::string message, std::string openssl_queue = {});

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& openssl_queue() const noexcept { return queue_; }

private:
    ErrorKind kind_;
    std::string queue_;
};

// Throws Error(kind, "context: <reason>"), where the reason is the first entry
// of the OpenSSL error queue (or fallback when the queue is empty). Drains the queue.
[[noreturn]] void throw_openssl(ErrorKind kind, std::string_view context,
                                std::string_view fallback = "operation failed");

// Drains the OpenSSL error queue into one string, entries separated by "; ".
std::string drain_openssl_errors();

}  // namespace minica
