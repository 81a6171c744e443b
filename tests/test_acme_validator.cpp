// The ACME challenge validator (acme/validator.hpp): the pure checks as
// tables, then http-01, tls-alpn-01 and dns-01 against responders in this
// process, on loopback only (127.0.0.1; 127.0.0.2 stands for "another host":
// Linux routes all of 127/8 locally). DNS goes to knotd when it is installed
// (a zone written here) or to a port where nothing answers. Every wait is
// bounded: a validator that hangs fails the test, it does not stall it.
#include <doctest/doctest.h>

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include "minica/detail/beast_http.hpp"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "minica/acme/resources.hpp"
#include "minica/acme/detail/checks.hpp"
#include "minica/acme/detail/dns.hpp"
#include "minica/acme/validator.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"
#include "minica/testing/ca.hpp"

using namespace minica;
using namespace minica::acme;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using minica::detail::X509Ptr;
namespace checks = minica::acme::detail;

namespace {

// ---- digests computed here with OpenSSL, not with the code under test -------

std::string sha256_raw(std::string_view s) {
    unsigned char md[32];
    unsigned n = 0;
    REQUIRE(EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr) == 1);
    return std::string(reinterpret_cast<char*>(md), n);
}

std::string b64url(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

const std::string kKeyAuth = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

Identifier dns_id(std::string v) { return {.type = IdentifierType::dns, .value = std::move(v)}; }
Identifier ip_id(std::string v) { return {.type = IdentifierType::ip, .value = std::move(v)}; }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// ---- certificates for tls-alpn-01, built with raw OpenSSL -------------------
// The library's Authority writes only the extensions its profiles know;
// a test certificate needs arbitrary ones (a non-critical acmeIdentifier,
// two of them, a malformed value), so it is assembled here.

struct AcmeCertSpec {
    std::vector<std::string> dns;
    std::vector<std::string> ips;
    bool acme_ext = true;
    bool critical = true;
    std::string digest;          // the OCTET STRING's content
    bool raw_value = false;      // the extension's value is `digest` itself, not an OCTET STRING of it
    bool second_ext = false;     // a second acmeIdentifier extension
};

X509Ptr make_acme_cert(const PrivateKey& key, const AcmeCertSpec& spec) {
    X509Ptr cert(X509_new());
    REQUIRE(cert);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("acme"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.native());

    if (!spec.dns.empty() || !spec.ips.empty()) {
        minica::detail::Ptr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
        for (const auto& d : spec.dns) {
            GENERAL_NAME* gn = GENERAL_NAME_new();
            ASN1_IA5STRING* s = ASN1_IA5STRING_new();
            ASN1_STRING_set(s, d.data(), static_cast<int>(d.size()));
            GENERAL_NAME_set0_value(gn, GEN_DNS, s);
            sk_GENERAL_NAME_push(names.get(), gn);
        }
        for (const auto& ip : spec.ips) {
            GENERAL_NAME* gn = GENERAL_NAME_new();
            GENERAL_NAME_set0_value(gn, GEN_IPADD, a2i_IPADDRESS(ip.c_str()));
            sk_GENERAL_NAME_push(names.get(), gn);
        }
        REQUIRE(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1);
    }
    auto add_acme = [&] {
        minica::detail::Ptr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
        std::string value = spec.digest;
        if (!spec.raw_value) {
            minica::detail::Ptr<ASN1_STRING> octets(ASN1_OCTET_STRING_new());
            ASN1_OCTET_STRING_set(octets.get(), reinterpret_cast<const unsigned char*>(spec.digest.data()),
                                  static_cast<int>(spec.digest.size()));
            value = minica::detail::to_der(i2d_ASN1_OCTET_STRING, octets.get(), "acmeIdentifier");
        }
        minica::detail::Ptr<ASN1_STRING> data(ASN1_OCTET_STRING_new());
        ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(value.data()),
                              static_cast<int>(value.size()));
        minica::detail::Ptr<X509_EXTENSION> ext(
            X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), spec.critical ? 1 : 0, data.get()));
        REQUIRE(ext);
        REQUIRE(X509_add_ext(cert.get(), ext.get(), -1) == 1);
    };
    if (spec.acme_ext) add_acme();
    if (spec.second_ext) add_acme();
    REQUIRE(X509_sign(cert.get(), key.native(), EVP_sha256()) > 0);
    return cert;
}

// ---- an HTTP responder: one thread accepting, one per connection -----------

class HttpResponder {
public:
    // Listens on address:port (0: a free port).
    explicit HttpResponder(const std::string& address, unsigned short port = 0)
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address(address), port)) {
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { accept_loop(); });
    }
    ~HttpResponder() {
        stop_ = true;
        try {  // wake the blocking accept
            asio::io_context io;
            tcp::socket s(io);
            boost::system::error_code ec;
            s.connect(acceptor_.local_endpoint(), ec);
        } catch (...) {
        }
        thread_.join();
        for (auto& t : connections_) t.join();
    }
    unsigned short port() const { return port_; }
    int accepted() const { return accepted_.load(); }
    std::vector<std::pair<std::string, std::string>> requests() {  // (target, Host)
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    void accept_loop() {
        for (;;) {
            auto socket = std::make_shared<tcp::socket>(io_);
            boost::system::error_code ec;
            acceptor_.accept(*socket, ec);
            if (stop_) return;
            if (ec) continue;
            ++accepted_;
            connections_.emplace_back([this, socket] { serve(*socket); });
        }
    }

    void serve(tcp::socket& socket) {
        boost::system::error_code ec;
        boost::beast::flat_buffer buffer;
        bhttp::request<bhttp::string_body> request;
        bhttp::read(socket, buffer, request, ec);
        if (ec) return;
        const std::string target(request.target());
        {
            std::lock_guard lock(mutex_);
            requests_.emplace_back(target, std::string(request[bhttp::field::host]));
        }
        const std::string token = target.substr(target.rfind('/') + 1);
        const std::string origin = "http://127.0.0.1:" + std::to_string(port_);
        const std::string ok_path = "/.well-known/acme-challenge/ok";
        auto answer = [&](unsigned status, std::string body, std::string location = {}) {
            bhttp::response<bhttp::string_body> r(static_cast<bhttp::status>(status), 11);
            if (!location.empty()) r.set(bhttp::field::location, location);
            r.body() = std::move(body);
            r.prepare_payload();
            bhttp::write(socket, r, ec);
        };
        auto raw = [&](const std::string& bytes) { asio::write(socket, asio::buffer(bytes), ec); };
        if (token == "ok") answer(200, kKeyAuth);
        else if (token == "crlf") answer(200, kKeyAuth + "\r\n");
        else if (token == "wrong") answer(200, "not the key authorization");
        else if (token == "redirect") answer(302, "", ok_path);
        else if (token == "redirect-absolute") answer(302, "", origin + ok_path);
        else if (token == "elsewhere") answer(302, "", "http://127.0.0.2:" + std::to_string(port_) + ok_path);
        else if (token == "https") answer(302, "", "https://127.0.0.1:" + std::to_string(port_) + ok_path);
        else if (token == "loop") answer(302, "", target);
        else if (token == "big") {
            raw("HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n");
            const std::string chunk(64 * 1024, 'x');
            for (int i = 0; i < 160 && !ec && !stop_; ++i) raw(chunk);
        } else if (token == "bigchunked") {
            raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
            for (int i = 0; i < 160 && !ec && !stop_; ++i) raw(chunk);
        } else if (token == "bighead") {
            raw("HTTP/1.1 200 OK\r\nX-Filler: " + std::string(8000, 'h') + "\r\nContent-Length: 0\r\n\r\n");
        } else if (token == "drip") {
            // A byte every 100 ms: alive, never done before the deadline.
            raw("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            for (int i = 0; i < 1000 && !ec && !stop_; ++i) {
                raw("x");
                std::this_thread::sleep_for(100ms);
            }
        } else {
            answer(404, "no such token");
        }
        socket.shutdown(tcp::socket::shutdown_both, ec);
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread thread_;
    std::vector<std::thread> connections_;  // only the accept thread touches it
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> requests_;
};

// ---- a TLS-ALPN responder: handshakes, then closes ---------------------------

class TlsResponder {
public:
    TlsResponder(X509* cert, const PrivateKey& key, bool select_alpn = true)
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), select_alpn_(select_alpn) {
        ctx_.reset(SSL_CTX_new(TLS_server_method()));
        REQUIRE(ctx_);
        REQUIRE(SSL_CTX_use_certificate(ctx_.get(), cert) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(ctx_.get(), key.native()) == 1);
        SSL_CTX_set_num_tickets(ctx_.get(), 0);  // the validator hangs up after the handshake
        SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsResponder::select, this);
        SSL_CTX_set_tlsext_servername_callback(ctx_.get(), &TlsResponder::servername);
        SSL_CTX_set_tlsext_servername_arg(ctx_.get(), this);
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { loop(); });
    }
    ~TlsResponder() {
        stop_ = true;
        asio::io_context io;
        tcp::socket s(io);
        boost::system::error_code ec;
        s.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }
    unsigned short port() const { return port_; }
    std::string sni() {
        std::lock_guard lock(mutex_);
        return sni_;
    }
    std::string offered() {
        std::lock_guard lock(mutex_);
        return offered_;
    }

private:
    static int select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                      unsigned inlen, void* arg) {
        auto* self = static_cast<TlsResponder*>(arg);
        {
            std::lock_guard lock(self->mutex_);
            self->offered_.assign(reinterpret_cast<const char*>(in), inlen);
        }
        if (!self->select_alpn_) return SSL_TLSEXT_ERR_NOACK;
        static const unsigned char proto[] = "\x0a" "acme-tls/1";
        unsigned char* chosen = nullptr;
        if (SSL_select_next_proto(&chosen, outlen, proto, sizeof proto - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    static int servername(SSL* ssl, int*, void* arg) {
        auto* self = static_cast<TlsResponder*>(arg);
        const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        std::lock_guard lock(self->mutex_);
        self->sni_ = name != nullptr ? name : "";
        return SSL_TLSEXT_ERR_OK;
    }
    void loop() {
        // OpenSSL writes to the raw socket with write(2): a validator that
        // has already hung up would raise SIGPIPE. Blocked in this thread,
        // the write fails with EPIPE instead.
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
        for (;;) {
            tcp::socket socket(io_);
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);
            if (stop_) return;
            if (ec) continue;
            timeval tv{.tv_sec = 5, .tv_usec = 0};
            setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            minica::detail::SslPtr ssl(SSL_new(ctx_.get()));
            SSL_set_fd(ssl.get(), socket.native_handle());
            if (SSL_accept(ssl.get()) == 1) SSL_shutdown(ssl.get());
            ERR_clear_error();
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    bool select_alpn_;
    minica::detail::SslCtxPtr ctx_;
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::string sni_, offered_;
};

// A UDP port nothing listens on (bound, then released).
unsigned short silent_udp_port() {
    asio::io_context io;
    asio::ip::udp::socket s(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return s.local_endpoint().port();
}

// Submits and waits (bounded) for the one result.
ValidationResult validate(Validator& v, ValidationTask task, std::chrono::seconds bound = 20s) {
    auto promise = std::make_shared<std::promise<ValidationResult>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    v.submit(std::move(task), [promise, calls](ValidationResult r) {
        if (++*calls == 1) promise->set_value(std::move(r));
    });
    REQUIRE(future.wait_for(bound) == std::future_status::ready);
    return future.get();
}

ValidationTask http_task(std::string token, Identifier id = ip_id("127.0.0.1")) {
    return {.authz_id = 1, .identifier = std::move(id), .type = ChallengeType::http_01, .token = std::move(token),
            .key_authorization = kKeyAuth};
}

}  // namespace

// ---- pure checks --------------------------------------------------------------

TEST_CASE("http-01 body: trailing whitespace is trimmed, anything else must match exactly") {
    using checks::check_http01_body;
    CHECK_FALSE(check_http01_body(kKeyAuth, kKeyAuth));
    CHECK_FALSE(check_http01_body(kKeyAuth + "\r\n", kKeyAuth));
    CHECK_FALSE(check_http01_body(kKeyAuth + " \t\r\n\n", kKeyAuth));
    for (std::string body : {" " + kKeyAuth, kKeyAuth + ".", kKeyAuth.substr(1), std::string(), kKeyAuth + "\v",
                             "\n" + kKeyAuth}) {
        auto p = check_http01_body(body, kKeyAuth);
        REQUIRE(p);
        CHECK(p->type == ProblemType::incorrect_response);
    }
    auto p = check_http01_body(std::string(500, 'A') + "\x01\xff", kKeyAuth);
    REQUIRE(p);
    CHECK(contains(p->detail, "\"" + std::string(64, 'A') + "\""));
    CHECK(contains(p->detail, "502 bytes"));
    p = check_http01_body("bad\x01\xff\"", kKeyAuth);
    REQUIRE(p);
    CHECK(contains(p->detail, "\"bad\\x01\\xFF\\\"\""));
    CHECK_NOTHROW((void)nlohmann::json(p->detail).dump());  // valid UTF-8 whatever came back
}

TEST_CASE("redirect_allowed: only the same host, port and http, read without guessing") {
    using checks::redirect_allowed;
    struct Row {
        std::string location;
        std::optional<std::string> target;
    };
    const std::vector<Row> rows = {
        {"/.well-known/acme-challenge/x", "/.well-known/acme-challenge/x"},
        {"/x?y=1#frag", "/x?y=1"},
        {"http://a.test:8080/x", "/x"},
        {"HTTP://A.TEST:8080/x", "/x"},           // scheme and host have no case
        {"http://a.test:08080/x", "/x"},          // the same port, spelled with a zero
        {"//a.test:8080/x", "/x"},                // network-path: the scheme stays http
        {"http://a.test:8080", "/"},
        {"http://a.test:8080?q", "/?q"},
        {"http://a.test/x", std::nullopt},        // port 80, not 8080
        {"http://a.test:/x", std::nullopt},       // empty port = 80
        {"http://a.test:80/x", std::nullopt},
        {"http://a.test:18080/x", std::nullopt},
        {"http://a.test:99999999/x", std::nullopt},
        {"http://a.test:8080x/x", std::nullopt},
        {"https://a.test:8080/x", std::nullopt},  // another scheme
        {"ftp://a.test:8080/x", std::nullopt},
        {"http:/a.test:8080/x", std::nullopt},
        {"http:a.test:8080/x", std::nullopt},
        {"//b.test:8080/x", std::nullopt},        // another host
        {"http://b.test:8080/x", std::nullopt},
        {"http://a.test.:8080/x", std::nullopt},  // a trailing dot is another spelling: refused
        {"http://a.test.evil:8080/x", std::nullopt},
        {"http://user@a.test:8080/x", std::nullopt},        // userinfo
        {"http://a.test:8080@b.test:8080/x", std::nullopt},
        {"http://b.test:8080@a.test:8080/x", std::nullopt},
        {"http://a.test:8080\\@b.test/x", std::nullopt},   // backslashes
        {"\\\\b.test/x", std::nullopt},
        {"/\\b.test/x", std::nullopt},
        {"http:\\\\a.test:8080/x", std::nullopt},
        {"x", std::nullopt},                                // relative path
        {"../x", std::nullopt},
        {"", std::nullopt},
        {"/x y", std::nullopt},                             // whitespace and control characters
        {"/x\r\nSet-Cookie: a=b", std::nullopt},
        {"/x\t", std::nullopt},
        {"/\xc3\xa9", std::nullopt},                        // non-ASCII
        {"http://[::1]:8080/x", std::nullopt},
        {"http://[a.test:8080/x", std::nullopt},
        {"/" + std::string(3000, 'x'), std::nullopt},
    };
    for (const auto& row : rows) {
        CAPTURE(row.location);
        CHECK(redirect_allowed(row.location, "a.test", 8080) == row.target);
    }
    // IPv6 hosts are bracketed, as in a URL.
    CHECK(redirect_allowed("http://[2001:db8::1]:8080/x", "[2001:db8::1]", 8080) == std::optional<std::string>("/x"));
    CHECK(redirect_allowed("http://[2001:DB8::1]:8080/x", "[2001:db8::1]", 8080) == std::optional<std::string>("/x"));
    CHECK_FALSE(redirect_allowed("http://[2001:db8::2]:8080/x", "[2001:db8::1]", 8080));
    CHECK_FALSE(redirect_allowed("http://[2001:db8::1]8080/x", "[2001:db8::1]", 8080));
    CHECK(redirect_allowed("http://127.0.0.1/x", "127.0.0.1", 80) == std::optional<std::string>("/x"));
    CHECK_FALSE(redirect_allowed("http://127.0.0.2/x", "127.0.0.1", 80));
    CHECK_FALSE(redirect_allowed("http://2130706433/x", "127.0.0.1", 80));  // another spelling of 127.0.0.1
}

TEST_CASE("reverse_dns_name: RFC 8738 §6 forms for IPv4 and IPv6") {
    using checks::reverse_dns_name;
    CHECK(reverse_dns_name("1.2.3.4") == "4.3.2.1.in-addr.arpa");
    CHECK(reverse_dns_name("127.0.0.1") == "1.0.0.127.in-addr.arpa");
    CHECK(reverse_dns_name("2001:db8::1") ==
          "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    CHECK(reverse_dns_name("::1") == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
    CHECK_THROWS_AS(reverse_dns_name("a.test"), Error);
    CHECK_THROWS_AS(reverse_dns_name("1.2.3"), Error);
    CHECK_THROWS_AS(reverse_dns_name(""), Error);
}

TEST_CASE("dns-01: one TXT record must equal the value; the problem counts what was found") {
    using checks::check_dns01;
    const std::string value = b64url(sha256_raw(kKeyAuth));
    CHECK_FALSE(check_dns01({value}, "_acme-challenge.a.test", value));
    CHECK_FALSE(check_dns01({"other", value}, "_acme-challenge.a.test", value));
    auto p = check_dns01({}, "_acme-challenge.a.test", value);
    REQUIRE(p);
    CHECK(p->type == ProblemType::unauthorized);
    CHECK(contains(p->detail, "_acme-challenge.a.test"));
    CHECK(contains(p->detail, "0 records found"));
    p = check_dns01({"x", value + " "}, "_acme-challenge.a.test", value);
    REQUIRE(p);
    CHECK(contains(p->detail, "2 records found"));
    CHECK(contains(check_dns01({"x"}, "n", value)->detail, "1 record found"));
}

TEST_CASE("the digests the validator compares agree with OpenSSL computed here") {
    CHECK(tls_alpn01_digest(kKeyAuth) == sha256_raw(kKeyAuth));
    CHECK(dns01_value(kKeyAuth) == b64url(sha256_raw(kKeyAuth)));
}

TEST_CASE("tls-alpn-01 certificate: one SAN equal to the identifier, critical acmeIdentifier with the digest") {
    using checks::check_tls_alpn01_certificate;
    const PrivateKey key = PrivateKey::generate();
    const std::string digest = sha256_raw(kKeyAuth);
    struct Row {
        const char* what;
        Identifier id;
        AcmeCertSpec spec;
        std::optional<std::string> failure;  // a part of the detail; nullopt: passes
    };
    const std::string wrong(32, '\x01');
    const std::vector<Row> rows = {
        {"right", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest}, std::nullopt},
        {"SAN case differs", dns_id("a.test"), {.dns = {"A.Test"}, .digest = digest}, std::nullopt},
        {"IP", ip_id("127.0.0.1"), {.ips = {"127.0.0.1"}, .digest = digest}, std::nullopt},
        {"IPv6", ip_id("2001:db8::1"), {.ips = {"2001:db8:0::1"}, .digest = digest}, std::nullopt},
        {"wrong digest", dns_id("a.test"), {.dns = {"a.test"}, .digest = wrong}, "not the SHA-256"},
        {"short digest", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest.substr(0, 31)}, "31 bytes"},
        {"not critical", dns_id("a.test"), {.dns = {"a.test"}, .critical = false, .digest = digest}, "not critical"},
        {"no extension", dns_id("a.test"), {.dns = {"a.test"}, .acme_ext = false}, "no acmeIdentifier"},
        {"two extensions", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest, .second_ext = true},
         "more than one acmeIdentifier"},
        {"value not an OCTET STRING", dns_id("a.test"), {.dns = {"a.test"}, .digest = digest, .raw_value = true},
         "not one DER OCTET STRING"},
        {"two SANs", dns_id("a.test"), {.dns = {"a.test", "b.test"}, .digest = digest}, "2 subjectAltNames"},
        {"DNS and IP SANs", dns_id("a.test"), {.dns = {"a.test"}, .ips = {"127.0.0.1"}, .digest = digest},
         "2 subjectAltNames"},
        {"other name", dns_id("a.test"), {.dns = {"b.test"}, .digest = digest}, "\"b.test\", not a.test"},
        {"no SAN", dns_id("a.test"), {.digest = digest}, "no subjectAltName"},
        {"IP identifier, DNS SAN", ip_id("127.0.0.1"), {.dns = {"127.0.0.1"}, .digest = digest}, "not an iPAddress"},
        {"DNS identifier, IP SAN", dns_id("a.test"), {.ips = {"127.0.0.1"}, .digest = digest}, "not a dNSName"},
        {"other IP", ip_id("127.0.0.1"), {.ips = {"127.0.0.2"}, .digest = digest}, "iPAddress is not 127.0.0.1"},
    };
    for (const auto& row : rows) {
        CAPTURE(row.what);
        X509Ptr cert = make_acme_cert(key, row.spec);
        auto p = check_tls_alpn01_certificate(cert.get(), row.id, digest);
        if (!row.failure) {
            CHECK_FALSE(p);
            continue;
        }
        REQUIRE(p);
        CHECK(p->type == ProblemType::incorrect_response);
        CAPTURE(p->detail);
        CHECK(contains(p->detail, *row.failure));
    }
    CHECK(check_tls_alpn01_certificate(nullptr, dns_id("a.test"), digest));
}

// ---- http-01 over loopback ---------------------------------------------------

TEST_CASE("http-01 against a loopback responder: each answer and its problem") {
    HttpResponder server("127.0.0.1");
    HttpResponder other_host("127.0.0.2", server.port());  // where a redirect must never lead
    auto v = make_validator({.http01_port = server.port(), .timeout = 3s, .connect_timeout = 2s, .threads = 2});
    const std::string origin = "127.0.0.1:" + std::to_string(server.port());

    SUBCASE("the key authorization: valid, with the validation record") {
        auto r = validate(*v, http_task("ok"));
        CHECK(r.valid);
        CHECK_FALSE(r.problem);
        REQUIRE(r.record.size() == 1);
        CHECK(r.record[0]["url"] == "http://" + origin + "/.well-known/acme-challenge/ok");
        CHECK(r.record[0]["hostname"] == "127.0.0.1");
        CHECK(r.record[0]["port"] == std::to_string(server.port()));
        CHECK(r.record[0]["addressesResolved"] == nlohmann::json::array({"127.0.0.1"}));
        CHECK(r.record[0]["addressUsed"] == "127.0.0.1");
        auto requests = server.requests();
        REQUIRE(requests.size() == 1);
        CHECK(requests[0].first == "/.well-known/acme-challenge/ok");
        CHECK(requests[0].second == origin);  // Host: the IP with the port (not 80)
    }
    SUBCASE("the key authorization and CRLF: valid") { CHECK(validate(*v, http_task("crlf")).valid); }
    SUBCASE("another body: incorrectResponse quoting it") {
        auto r = validate(*v, http_task("wrong"));
        CHECK_FALSE(r.valid);
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::incorrect_response);
        CHECK(contains(r.problem->detail, "\"not the key authorization\""));
    }
    SUBCASE("404: unauthorized with the status") {
        auto r = validate(*v, http_task("missing"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::unauthorized);
        CHECK(contains(r.problem->detail, "404"));
    }
    SUBCASE("302 to a path of the same origin, relative or absolute: followed") {
        for (std::string token : {"redirect", "redirect-absolute"}) {
            CAPTURE(token);
            auto r = validate(*v, http_task(token));
            CHECK(r.valid);
            REQUIRE(r.record.size() == 2);
            CHECK(r.record[1]["url"] == "http://" + origin + "/.well-known/acme-challenge/ok");
        }
    }
    SUBCASE("302 to another host: connection problem naming the Location, never connected to") {
        auto r = validate(*v, http_task("elsewhere"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::connection);
        CHECK(contains(r.problem->detail, "http://127.0.0.2:" + std::to_string(server.port())));
        CHECK(other_host.accepted() == 0);
        CHECK(server.requests().size() == 1);
    }
    SUBCASE("302 to https: connection problem") {
        auto r = validate(*v, http_task("https"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::connection);
        CHECK(contains(r.problem->detail, "https://127.0.0.1"));
    }
    SUBCASE("a redirect loop stops after max_redirects") {
        auto r = validate(*v, http_task("loop"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::connection);
        CHECK(contains(r.problem->detail, "more than 3 redirects"));
        CHECK(server.requests().size() == 4);
    }
    SUBCASE("a 10 MB body, with a Content-Length or chunked: refused at the body limit") {
        for (std::string token : {"big", "bigchunked"}) {
            CAPTURE(token);
            auto r = validate(*v, http_task(token));
            REQUIRE(r.problem);
            CHECK(r.problem->type == ProblemType::unauthorized);
            CAPTURE(r.problem->detail);
            CHECK(contains(r.problem->detail, "response body over 1024 bytes"));
        }
    }
    SUBCASE("an 8 KB header: refused at the head limit") {
        auto r = validate(*v, http_task("bighead"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::unauthorized);
        CHECK(contains(r.problem->detail, "response head over 4096 bytes"));
    }
    SUBCASE("a token that is not base64url never reaches the request line: serverInternal") {
        auto r = validate(*v, http_task("ok HTTP/1.1\r\nX-Injected: 1"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::server_internal);
        CHECK(server.accepted() == 0);
    }
    SUBCASE("nothing listening: connection refused") {
        auto closed = make_validator({.http01_port = silent_udp_port(), .timeout = 3s, .threads = 1});
        auto r = validate(*closed, http_task("ok"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::connection);
        CHECK(contains(r.problem->detail, "refused"));
    }
}

TEST_CASE("http-01: a response dripping past the deadline ends at the deadline") {
    HttpResponder server("127.0.0.1");
    auto v = make_validator({.http01_port = server.port(), .timeout = 1s, .threads = 1});
    const auto start = std::chrono::steady_clock::now();
    auto r = validate(*v, http_task("drip"));
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r.problem);
    CHECK(r.problem->type == ProblemType::connection);
    CHECK(contains(r.problem->detail, "within 1 s"));
    CHECK(took >= 900ms);
    CHECK(took < 3s);
}

TEST_CASE("http-01 for an IPv6 identifier brackets the Host") {
    // ::1 may be absent (a container without IPv6): then the test says so and stops.
    asio::io_context io;
    boost::system::error_code ec;
    tcp::acceptor probe(io);
    probe.open(tcp::v6(), ec);
    if (!ec) probe.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
    if (ec) {
        MESSAGE("no IPv6 loopback here: skipped");
        return;
    }
    probe.close();
    HttpResponder server("::1");
    auto v = make_validator({.http01_port = server.port(), .timeout = 3s, .threads = 1});
    auto r = validate(*v, http_task("ok", ip_id("::1")));
    CHECK(r.valid);
    REQUIRE(server.requests().size() == 1);
    CHECK(server.requests()[0].second == "[::1]:" + std::to_string(server.port()));
}

// ---- tls-alpn-01 over loopback ----------------------------------------------

TEST_CASE("tls-alpn-01 against a loopback responder") {
    const PrivateKey key = PrivateKey::generate();
    const std::string digest = sha256_raw(kKeyAuth);
    auto task = [](Identifier id) {
        return ValidationTask{.authz_id = 1, .identifier = std::move(id), .type = ChallengeType::tls_alpn_01,
                              .token = "t", .key_authorization = kKeyAuth};
    };
    auto run = [&](const AcmeCertSpec& spec, bool alpn, Identifier id, bool check_offer = false) {
        X509Ptr cert = make_acme_cert(key, spec);
        TlsResponder server(cert.get(), key, alpn);
        auto v = make_validator({.tls_alpn01_port = server.port(), .timeout = 3s, .threads = 1});
        auto r = validate(*v, task(std::move(id)));
        if (check_offer) CHECK(server.offered() == std::string("\x0a" "acme-tls/1"));
        return std::make_pair(r, server.sni());
    };
    SUBCASE("right digest: valid; SNI is the name; only acme-tls/1 offered") {
        auto [r, sni] = run({.ips = {"127.0.0.1"}, .digest = digest}, true, ip_id("127.0.0.1"), true);
        CHECK(r.valid);
        CHECK_FALSE(r.problem);
        // RFC 8738 §6: an IP identifier's SNI is its reverse-DNS name.
        CHECK(sni == "1.0.0.127.in-addr.arpa");
        REQUIRE(r.record.size() == 1);
        CHECK(r.record[0]["addressUsed"] == "127.0.0.1");
    }
    SUBCASE("wrong digest: incorrectResponse") {
        auto [r, sni] = run({.ips = {"127.0.0.1"}, .digest = std::string(32, 'x')}, true, ip_id("127.0.0.1"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::incorrect_response);
        CHECK(contains(r.problem->detail, "SHA-256"));
    }
    SUBCASE("non-critical extension: incorrectResponse") {
        auto [r, sni] = run({.ips = {"127.0.0.1"}, .critical = false, .digest = digest}, true, ip_id("127.0.0.1"));
        REQUIRE(r.problem);
        CHECK(contains(r.problem->detail, "not critical"));
    }
    SUBCASE("two SANs: incorrectResponse") {
        auto [r, sni] =
            run({.dns = {"a.test"}, .ips = {"127.0.0.1"}, .digest = digest}, true, ip_id("127.0.0.1"));
        REQUIRE(r.problem);
        CHECK(contains(r.problem->detail, "2 subjectAltNames"));
    }
    SUBCASE("no ALPN negotiated: tls problem") {
        auto [r, sni] = run({.ips = {"127.0.0.1"}, .digest = digest}, false, ip_id("127.0.0.1"));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::tls);
        CHECK(contains(r.problem->detail, "acme-tls/1"));
    }
    SUBCASE("a plain HTTP server: tls problem") {
        HttpResponder http("127.0.0.1");
        auto v = make_validator({.tls_alpn01_port = http.port(), .timeout = 3s, .threads = 1});
        auto r = validate(*v, task(ip_id("127.0.0.1")));
        REQUIRE(r.problem);
        CHECK((r.problem->type == ProblemType::tls || r.problem->type == ProblemType::connection));
    }
}

// ---- the queue and shutdown ---------------------------------------------------

TEST_CASE("beyond queue_limit a submission is rate-limited at once; every done runs exactly once") {
    HttpResponder server("127.0.0.1");
    auto v = make_validator({.http01_port = server.port(), .timeout = 1s, .threads = 1, .queue_limit = 1});
    std::atomic<int> calls{0}, limited{0};
    std::mutex mutex;
    std::map<std::int64_t, int> per_task;
    for (int i = 0; i < 6; ++i) {
        auto task = http_task("drip");
        task.authz_id = i;
        v->submit(task, [&, i](ValidationResult r) {
            ++calls;
            if (r.problem && r.problem->type == ProblemType::rate_limited) ++limited;
            std::lock_guard lock(mutex);
            ++per_task[i];
        });
    }
    CHECK(limited.load() >= 4);  // at most one running and one queued
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (calls.load() < 6 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
    CHECK(calls.load() == 6);
    v->shutdown();
    std::lock_guard lock(mutex);
    for (int i = 0; i < 6; ++i) CHECK(per_task[i] == 1);
}

TEST_CASE("shutdown cuts running and queued validations short, each answered once") {
    HttpResponder server("127.0.0.1");
    auto v = make_validator({.http01_port = server.port(), .timeout = 10s, .threads = 2});
    std::atomic<int> calls{0}, shutting{0};
    for (int i = 0; i < 5; ++i)
        v->submit(http_task("drip"), [&](ValidationResult r) {
            ++calls;
            if (r.problem && r.problem->type == ProblemType::connection && r.problem->detail == "server shutting down")
                ++shutting;
        });
    std::this_thread::sleep_for(300ms);  // two are running, dripping
    const auto start = std::chrono::steady_clock::now();
    v->shutdown();
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    CHECK(calls.load() == 5);
    CHECK(shutting.load() == 5);
    // After shutdown: answered at once, in this thread.
    bool answered = false;
    v->submit(http_task("ok"), [&](ValidationResult r) {
        answered = true;
        CHECK(r.problem);
    });
    CHECK(answered);
    v->shutdown();  // twice is harmless
}

TEST_CASE("make_validator refuses a resolver it cannot read and zero threads") {
    CHECK_THROWS_AS(make_validator({.dns_resolver = "not an address"}), Error);
    CHECK_THROWS_AS(make_validator({.threads = 0}), Error);
}

// ---- DNS ----------------------------------------------------------------------

TEST_CASE("DNS: a resolver that does not answer is a dns problem, in bounded time") {
    const std::string resolver = "127.0.0.1:" + std::to_string(silent_udp_port());
    auto v = make_validator({.dns_resolver = resolver, .timeout = 2s, .threads = 1});
    for (auto type : {ChallengeType::http_01, ChallengeType::dns_01}) {
        const auto start = std::chrono::steady_clock::now();
        auto r = validate(*v, {.identifier = dns_id("a.test"), .type = type, .token = "ok",
                               .key_authorization = kKeyAuth});
        CHECK(std::chrono::steady_clock::now() - start < 4s);
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::dns);
        CHECK(contains(r.problem->detail, "a.test"));
    }
}

namespace {

// A port free for both UDP and TCP on 127.0.0.1 (knotd listens on both).
unsigned short free_dns_port() {
    asio::io_context io;
    for (;;) {
        tcp::acceptor tcp_socket(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const unsigned short port = tcp_socket.local_endpoint().port();
        asio::ip::udp::socket udp(io);
        boost::system::error_code ec;
        udp.open(asio::ip::udp::v4(), ec);
        if (!ec) udp.bind(asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        if (!ec) return port;
    }
}

// knotd serving zone test. on 127.0.0.1:<port>, from a temp dir.
class Knot {
public:
    explicit Knot(const std::string& txt_value) {
        port_ = free_dns_port();
        const auto d = dir_.path();
        std::filesystem::create_directories(d / "run");
        std::filesystem::create_directories(d / "db");
        // The right value split in two character-strings: the validator joins them.
        const std::string first = txt_value.substr(0, 20), rest = txt_value.substr(20);
        std::ofstream(d / "test.zone") << "$ORIGIN test.\n$TTL 60\n"
                                          "@ SOA ns.test. admin.test. 1 3600 600 86400 60\n"
                                          "@ NS ns.test.\n"
                                          "ns A 127.0.0.1\n"
                                          "a A 127.0.0.1\n"
                                          "_acme-challenge.a TXT \"" << first << "\" \"" << rest << "\"\n"
                                          "_acme-challenge.a TXT \"another\"\n"
                                          "b A 127.0.0.1\n"
                                          "_acme-challenge.b TXT \"wrong\"\n"
                                          "v6 AAAA ::1\n"
                                          "v6 A 127.0.0.1\n";
        std::ofstream(d / "knot.conf") << "server:\n"
                                          "    rundir: \"" << (d / "run").string() << "\"\n"
                                          "    listen: 127.0.0.1@" << port_ << "\n"
                                          "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
                                          "database:\n    storage: \"" << (d / "db").string() << "\"\n"
                                          "template:\n  - id: default\n    storage: \"" << d.string() << "\"\n"
                                          "    zonefile-sync: -1\n    journal-content: none\n"
                                          "zone:\n  - domain: test.\n    file: test.zone\n"
                                          "log:\n  - target: stderr\n    any: error\n";
        const std::string conf = (d / "knot.conf").string();
        char arg0[] = "knotd", arg1[] = "-c";
        std::vector<char> conf_arg(conf.begin(), conf.end());
        conf_arg.push_back('\0');
        char* argv[] = {arg0, arg1, conf_arg.data(), nullptr};
        if (posix_spawn(&pid_, "/usr/sbin/knotd", nullptr, nullptr, argv, environ) != 0) pid_ = -1;
    }
    ~Knot() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status = 0;
            waitpid(pid_, &status, 0);
        }
    }
    bool started() const { return pid_ > 0; }
    std::string resolver() const { return "127.0.0.1:" + std::to_string(port_); }
    // Until the zone answers (knotd loads it after it starts listening), ≤ 10 s.
    bool ready() {
        checks::Resolver r(resolver());
        const auto until = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < until) {
            auto a = r.addresses("a.test", std::chrono::steady_clock::now() + 500ms);
            if (std::holds_alternative<std::vector<std::string>>(a)) return true;
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

private:
    testing::TempDir dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("DNS through knotd: dns-01, names for http-01 and tls-alpn-01, NXDOMAIN") {
    if (access("/usr/sbin/knotd", X_OK) != 0) {
        MESSAGE("knotd is not installed (Debian package knot): skipped");
        return;
    }
    const std::string value = b64url(sha256_raw(kKeyAuth));
    // The port may be taken between choosing it and knotd binding it: then
    // knotd exits, and another port is tried.
    std::unique_ptr<Knot> started;
    for (int attempt = 0; attempt < 3 && !started; ++attempt) {
        auto k = std::make_unique<Knot>(value);
        if (k->started() && k->ready()) started = std::move(k);
    }
    REQUIRE(started);
    Knot& knot = *started;
    HttpResponder server("127.0.0.1");
    auto v = make_validator({.dns_resolver = knot.resolver(), .http01_port = server.port(), .timeout = 3s,
                             .connect_timeout = 1s, .threads = 2});
    auto dns01 = [&](std::string name) {
        return validate(*v, {.identifier = dns_id(std::move(name)), .type = ChallengeType::dns_01, .token = "t",
                             .key_authorization = kKeyAuth});
    };

    SUBCASE("dns-01: the split TXT record matches") {
        auto r = dns01("a.test");
        CHECK(r.valid);
        CHECK_FALSE(r.problem);
    }
    SUBCASE("dns-01: a wrong record is unauthorized, counted") {
        auto r = dns01("b.test");
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::unauthorized);
        CHECK(contains(r.problem->detail, "1 record found"));
    }
    SUBCASE("dns-01: no record at all") {
        auto r = dns01("none.test");
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::unauthorized);
        CHECK(contains(r.problem->detail, "0 records found"));
    }
    SUBCASE("http-01 for a name: its A record, Host is the name") {
        auto r = validate(*v, http_task("ok", dns_id("a.test")));
        CHECK(r.valid);
        REQUIRE(r.record.size() == 1);
        CHECK(r.record[0]["addressesResolved"] == nlohmann::json::array({"127.0.0.1"}));
        REQUIRE(server.requests().size() == 1);
        CHECK(server.requests()[0].second == "a.test:" + std::to_string(server.port()));
    }
    SUBCASE("http-01: AAAA is tried first, then A") {
        auto r = validate(*v, http_task("ok", dns_id("v6.test")));
        CHECK(r.valid);
        REQUIRE(r.record.size() == 1);
        CHECK(r.record[0]["addressesResolved"] == nlohmann::json::array({"::1", "127.0.0.1"}));
        CHECK(r.record[0]["addressUsed"] == "127.0.0.1");
    }
    SUBCASE("http-01: NXDOMAIN is a dns problem naming the name") {
        auto r = validate(*v, http_task("ok", dns_id("missing.test")));
        REQUIRE(r.problem);
        CHECK(r.problem->type == ProblemType::dns);
        CHECK(contains(r.problem->detail, "missing.test"));
        CHECK(contains(r.problem->detail, "NXDOMAIN"));
    }
    SUBCASE("tls-alpn-01 for a name: SNI is the name") {
        const PrivateKey key = PrivateKey::generate();
        X509Ptr cert = make_acme_cert(key, {.dns = {"a.test"}, .digest = sha256_raw(kKeyAuth)});
        TlsResponder tls(cert.get(), key);
        auto tv = make_validator({.dns_resolver = knot.resolver(), .tls_alpn01_port = tls.port(), .timeout = 3s,
                                  .threads = 1});
        auto r = validate(*tv, {.identifier = dns_id("a.test"), .type = ChallengeType::tls_alpn_01, .token = "t",
                                .key_authorization = kKeyAuth});
        CHECK(r.valid);
        CHECK(tls.sni() == "a.test");
    }
}
