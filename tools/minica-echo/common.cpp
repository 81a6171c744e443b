#include "common.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "minica/certificate.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"
#include "minica/log.hpp"

namespace echo {

std::string Endpoint::to_string() const {
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

Endpoint parse_endpoint(std::string_view text, bool allow_zero_port) {
    auto bad = [&](std::string_view why) {
        return minica::Error(minica::ErrorKind::invalid_argument,
                             "invalid address \"" + std::string(text) + "\": " + std::string(why));
    };
    Endpoint ep;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            throw bad("expected [IPv6]:PORT");
        ep.host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad("expected HOST:PORT");
        ep.host = std::string(text.substr(0, colon));
        if (ep.host.find(':') != std::string::npos) throw bad("write IPv6 addresses as [ADDRESS]:PORT");
        port = text.substr(colon + 1);
    }
    if (ep.host.empty()) throw bad("empty host");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535 ||
        (value == 0 && !allow_zero_port))
        throw bad(allow_zero_port ? "port must be 0-65535" : "port must be 1-65535");
    ep.port = static_cast<std::uint16_t>(value);
    return ep;
}

std::shared_ptr<spdlog::logger> log() {
    static std::shared_ptr<spdlog::logger> logger = [] {
        auto l = spdlog::stderr_color_mt("minica-echo");
        l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
        return l;
    }();
    return logger;
}

void setup_logging(const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    log()->set_level(lvl);
    log()->flush_on(spdlog::level::trace);
    // The library's own logger follows, but never louder than a warning.
    minica::logger()->set_level(std::max(lvl, spdlog::level::warn));
}

minica::TlsIdentity load_identity(const std::filesystem::path& cert, const std::filesystem::path& key) {
    auto certs = minica::Certificate::load_chain(cert);
    minica::TlsIdentity id{.certificate = certs.front(),
                           .key = minica::PrivateKey::load(key),
                           .chain = {}};
    id.chain.assign(certs.begin() + 1, certs.end());
    if (!id.certificate.matches(id.key))
        throw minica::Error(minica::ErrorKind::invalid_argument,
                            "the key in " + key.string() + " does not match the certificate in " + cert.string());
    return id;
}

std::vector<minica::Certificate> load_roots(const std::filesystem::path& ca) {
    return minica::Certificate::load_chain(ca);
}

std::uint64_t raise_fd_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit want = lim;
        want.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) lim = want;
    }
    return lim.rlim_cur;
}

TlsFailure tls_failure(int ssl_error, int saved_errno) {
    TlsFailure f;
    unsigned long e = ERR_peek_error();
    if (e != 0) {
        const char* r = ERR_reason_error_string(e);
        std::string reason = r != nullptr ? r : "OpenSSL error " + std::to_string(ERR_GET_REASON(e));
        if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
            switch (ERR_GET_REASON(e)) {
                case SSL_R_UNEXPECTED_EOF_WHILE_READING:
                    f.text = "the peer closed the connection (unexpected EOF)";
                    f.closed = true;
                    break;
                case SSL_R_WRONG_VERSION_NUMBER:
                    f.text = "not TLS, or a TLS version below 1.2 (wrong version number)";
                    break;
                case SSL_R_HTTP_REQUEST:
                    f.text = "plain HTTP sent to a TLS port (http request)";
                    break;
                case SSL_R_UNSUPPORTED_PROTOCOL:
                    f.text = "no TLS version in common: only 1.2 and 1.3 are accepted (unsupported protocol)";
                    break;
                case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
                    f.text = "no client certificate presented (peer did not return a certificate)";
                    break;
                case SSL_R_NO_SHARED_CIPHER:
                    f.text = "no cipher suite in common (no shared cipher)";
                    break;
                case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
                case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
                case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
                case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
                case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
                case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
                case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
                case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
                    f.certificate_alert = true;
                    f.text = reason;
                    break;
                default:
                    f.text = reason;
            }
        } else {
            f.text = reason;
        }
        ERR_clear_error();
        return f;
    }
    switch (ssl_error) {
        case SSL_ERROR_ZERO_RETURN:
            f.text = "the peer closed the connection";
            f.closed = true;
            break;
        case SSL_ERROR_SYSCALL:
            if (saved_errno != 0) {
                f.text = std::strerror(saved_errno);
                f.closed = saved_errno == ECONNRESET || saved_errno == EPIPE;
            } else {
                f.text = "the peer closed the connection";
                f.closed = true;
            }
            break;
        default:
            f.text = "TLS error " + std::to_string(ssl_error);
    }
    return f;
}

std::string subject_of(X509* cert) {
    if (cert == nullptr) return "-";
    try {
        return minica::Certificate::from_native(cert).subject();
    } catch (const std::exception&) {
        return "?";
    }
}

std::string describe_names(X509* cert) {
    if (cert == nullptr) return "-";
    try {
        std::string out = minica::Certificate::from_native(cert).names().to_string();
        return out.empty() ? "-" : out;
    } catch (const std::exception&) {
        return "?";
    }
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace echo
