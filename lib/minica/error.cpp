#include "minica/error.hpp"

#include <openssl/err.h>

namespace minica {

std::string_view to_string(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::invalid_argument: return "invalid argument";
        case ErrorKind::parse: return "parse error";
        case ErrorKind::crypto: return "crypto error";
        case ErrorKind::passphrase: return "passphrase error";
        case ErrorKind::policy: return "refused by policy";
        case ErrorKind::verify: return "verification failed";
        case ErrorKind::io: return "I/O error";
        case ErrorKind::exists: return "already exists";
        case ErrorKind::not_found: return "not found";
        case ErrorKind::store: return "store error";
        case ErrorKind::tls: return "TLS error";
    }
    return "error";
}

Error::Error(ErrorKind kind, std::string message, std::string openssl_queue)
    : std::runtime_error(std::move(message)), kind_(kind), queue_(std::move(openssl_queue)) {}

std::string drain_openssl_errors() {
    std::string out;
    unsigned long code;
    const char* file = nullptr;
    int line = 0;
    const char* data = nullptr;
    int flags = 0;
    while ((code = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
        if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
            out += " (";
            out += data;
            out += ")";
        }
    }
    return out;
}

[[noreturn]] void throw_openssl(ErrorKind kind, std::string_view context, std::string_view fallback) {
    // The first entry's reason string is the most specific human-readable cause.
    std::string reason;
    unsigned long first = ERR_peek_error();
    if (first != 0) {
        const char* r = ERR_reason_error_string(first);
        reason = r != nullptr ? r : "unknown OpenSSL error";
    } else {
        reason = fallback;
    }
    std::string queue = drain_openssl_errors();
    throw Error(kind, std::string(context) + ": " + reason, std::move(queue));
}

}  // namespace minica
