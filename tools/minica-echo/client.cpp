#include "client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <spdlog/fmt/fmt.h>

#include "common.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/tls.hpp"

namespace echo {

const char* const connect_exit_codes =
    "Exit codes:\n"
    "  0  every line was echoed back\n"
    "  1  bad arguments or files, or another error\n"
    "  2  the command line could not be parsed\n"
    "  3  could not connect: name resolution, TCP connect, timeout, connection lost\n"
    "  4  the server's certificate failed verification: chain to --ca, validity dates, name\n"
    "  5  the server's public key does not match --pin\n"
    "  6  the TLS handshake failed otherwise: the server refused our client certificate\n"
    "     (or none was given), or there is no TLS version or cipher suite in common";

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    int release() {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    void reset(int fd) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// Waits until fd is readable/writable; false on timeout.
bool wait_fd(int fd, bool for_write, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r > 0) return true;
        if (r == 0) return false;
        if (errno != EINTR) return false;
    }
}

int tcp_connect(const Endpoint& ep, Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(ep.port);
    int rc = ::getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) throw Failure{exit_connect, "resolving " + ep.host + ": " + ::gai_strerror(rc)};
    std::string last = "no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
        if (fd.get() < 0) {
            last = std::strerror(errno);
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last = std::strerror(errno);
                continue;
            }
            if (!wait_fd(fd.get(), true, deadline)) {
                last = "timed out";
                continue;
            }
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                last = std::strerror(err);
                continue;
            }
        }
        int one = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::freeaddrinfo(res);
        return fd.release();
    }
    ::freeaddrinfo(res);
    throw Failure{exit_connect, "connecting to " + ep.to_string() + ": " + last};
}

struct Outcome {
    int result = 0;      // the SSL call's return value
    int ssl_error = 0;   // SSL_get_error, or -1 on timeout
    int saved_errno = 0;
};

// Runs one SSL operation to completion over the non-blocking socket.
template <class Op>
Outcome drive(SSL* ssl, int fd, Clock::time_point deadline, Op op) {
    for (;;) {
        ERR_clear_error();
        errno = 0;
        Outcome o;
        o.result = op();
        if (o.result > 0) return o;
        o.saved_errno = errno;
        o.ssl_error = SSL_get_error(ssl, o.result);
        bool want_write = o.ssl_error == SSL_ERROR_WANT_WRITE;
        if (o.ssl_error != SSL_ERROR_WANT_READ && !want_write) return o;
        if (!wait_fd(fd, want_write, deadline)) {
            o.ssl_error = -1;
            return o;
        }
    }
}

// A failure after the handshake: in TLS 1.3 the server judges our certificate
// after we have finished, so its refusal arrives as an alert on the first read.
Failure session_failure(const Outcome& o, std::string_view doing, double timeout, bool sent_cert) {
    if (o.ssl_error == -1)
        return {exit_connect, std::string(doing) + ": no answer within " + fmt::format("{:g}", timeout) + " s"};
    auto f = tls_failure(o.ssl_error, o.saved_errno);
    if (f.certificate_alert)
        return {exit_tls, std::string("the server refused our client certificate (") + f.text + ")" +
                              (sent_cert ? "" : ": none was sent, pass --cert and --key")};
    if (f.closed) return {exit_connect, std::string(doing) + ": " + f.text};
    return {exit_tls, std::string(doing) + ": " + f.text};
}

void report(SSL* ssl, const Endpoint& ep, const std::string& name, const ConnectOptions& opt) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    std::cerr << "minica-echo: connected to " << ep.to_string() << " with " << SSL_get_version(ssl) << ", "
              << SSL_get_cipher_name(ssl) << "\n";
    if (peer != nullptr) {
        auto cert = minica::Certificate::from_native(peer);
        std::cerr << "server certificate:\n"
                  << "  subject:  " << cert.subject() << "\n"
                  << "  issuer:   " << cert.issuer() << "\n"
                  << "  validity: " << minica::format_time(cert.not_before()) << " to "
                  << minica::format_time(cert.not_after()) << "\n"
                  << "  SANs:     " << describe_names(peer) << "\n"
                  << "  serial:   " << cert.serial_hex() << "\n"
                  << "  SPKI pin: " << minica::spki_pin_of(peer) << "\n";
    }
    std::cerr << "verified: chain to " << opt.ca.string() << ", name \"" << name << "\""
              << (opt.pin ? ", SPKI pin" : "") << "\n";
}

}  // namespace

int connect(const ConnectOptions& opt) {
    if (opt.timeout <= 0) throw minica::Error(minica::ErrorKind::invalid_argument, "--timeout must be positive");
    if (opt.cert.has_value() != opt.key.has_value())
        throw minica::Error(minica::ErrorKind::invalid_argument, "--cert and --key go together");
    Endpoint ep = parse_endpoint(opt.target, false);
    minica::ClientTlsOptions tls{.identity = std::nullopt, .roots = load_roots(opt.ca), .pin = opt.pin};
    if (opt.cert) tls.identity = load_identity(*opt.cert, *opt.key);
    minica::detail::SslCtxPtr ctx(minica::make_client_context(tls));
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    const std::string name = opt.servername.value_or(ep.host);
    const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout));

    Fd fd(tcp_connect(ep, Clock::now() + timeout));
    minica::detail::SslPtr ssl(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) minica::throw_openssl(minica::ErrorKind::tls, "setting up TLS");
    minica::expect_server_name(ssl.get(), name);
    SSL_set_connect_state(ssl.get());

    Outcome hs = drive(ssl.get(), fd.get(), Clock::now() + timeout, [&] { return SSL_do_handshake(ssl.get()); });
    if (hs.result != 1) {
        long verify = SSL_get_verify_result(ssl.get());
        if (verify != X509_V_OK) {
            std::string why = minica::peer_verify_error(ssl.get());
            ERR_clear_error();
            if (verify == X509_V_ERR_APPLICATION_VERIFICATION) throw Failure{exit_pin, why};
            throw Failure{exit_verify, "the server's certificate failed verification: " + why};
        }
        if (hs.ssl_error == -1)
            throw Failure{exit_connect, "TLS handshake with " + ep.to_string() + ": no answer within " +
                                            fmt::format("{:g}", opt.timeout) + " s"};
        auto f = tls_failure(hs.ssl_error, hs.saved_errno);
        if (f.certificate_alert)
            throw Failure{exit_tls, "the server refused our client certificate (" + f.text + ")" +
                                        (opt.cert ? "" : ": none was sent, pass --cert and --key")};
        if (f.closed) throw Failure{exit_connect, "TLS handshake with " + ep.to_string() + ": " + f.text};
        throw Failure{exit_tls, "TLS handshake with " + ep.to_string() + " failed: " + f.text};
    }
    report(ssl.get(), ep, name, opt);

    std::string line;
    std::string pending;  // bytes read past the current echo
    std::uint64_t echoed = 0;
    char buf[16384];
    if (opt.max_line == 0) throw minica::Error(minica::ErrorKind::invalid_argument, "--max-line must be positive");
    while (std::getline(std::cin, line)) {
        if (line.size() > opt.max_line)
            throw Failure{exit_error, "a line of input is longer than " + std::to_string(opt.max_line) +
                                          " bytes (--max-line)"};
        line += '\n';
        std::size_t off = 0;
        while (off < line.size()) {
            Outcome w = drive(ssl.get(), fd.get(), Clock::now() + timeout, [&] {
                return SSL_write(ssl.get(), line.data() + off, static_cast<int>(line.size() - off));
            });
            if (w.result <= 0) {
                Failure f = session_failure(w, "sending", opt.timeout, opt.cert.has_value());
                // The server may have said why before it closed: read its alert.
                Outcome r = drive(ssl.get(), fd.get(), Clock::now() + std::chrono::milliseconds(500),
                                  [&] { return SSL_read(ssl.get(), buf, static_cast<int>(sizeof buf)); });
                if (r.result <= 0 && r.ssl_error == SSL_ERROR_SSL) {
                    Failure why = session_failure(r, "sending", opt.timeout, opt.cert.has_value());
                    if (why.code == exit_tls) throw why;
                }
                throw f;
            }
            off += static_cast<std::size_t>(w.result);
        }
        auto deadline = Clock::now() + timeout;
        std::size_t nl;
        while ((nl = pending.find('\n')) == std::string::npos) {
            Outcome r = drive(ssl.get(), fd.get(), deadline,
                              [&] { return SSL_read(ssl.get(), buf, static_cast<int>(sizeof buf)); });
            if (r.result <= 0) {
                if (r.ssl_error == SSL_ERROR_ZERO_RETURN)
                    throw Failure{exit_connect, "the server closed the connection" +
                                                    (pending.empty() ? std::string() : ": " + pending)};
                throw session_failure(r, "waiting for the echo", opt.timeout, opt.cert.has_value());
            }
            pending.append(buf, static_cast<std::size_t>(r.result));
            // An echo is one line: a server that sends more without a newline
            // is not buffered without end.
            if (pending.find('\n') == std::string::npos && pending.size() > opt.max_line + 1)
                throw Failure{exit_connect, "the server sent more than " + std::to_string(opt.max_line) +
                                                " bytes without a newline (--max-line)"};
        }
        std::cout.write(pending.data(), static_cast<std::streamsize>(nl + 1));
        std::cout.flush();
        pending.erase(0, nl + 1);
        ++echoed;
    }
    // Close both ways: our close_notify, then the server's (briefly). In TLS 1.3
    // this is also where a refusal of our certificate shows when we sent nothing.
    ERR_clear_error();
    if (SSL_shutdown(ssl.get()) == 0) {
        auto deadline = Clock::now() + std::min<Clock::duration>(timeout, std::chrono::seconds(2));
        Outcome r = drive(ssl.get(), fd.get(), deadline,
                          [&] { return SSL_read(ssl.get(), buf, static_cast<int>(sizeof buf)); });
        if (r.result <= 0 && r.ssl_error == SSL_ERROR_SSL) {
            Failure f = session_failure(r, "closing", opt.timeout, opt.cert.has_value());
            if (f.code == exit_tls) throw f;
        }
        ERR_clear_error();
    }
    std::cerr << "minica-echo: " << echoed << " line(s) echoed\n";
    return exit_ok;
}

}  // namespace echo
