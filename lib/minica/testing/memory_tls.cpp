// The in-memory handshake: MemoryTls, handshake().
#include "minica/testing/memory_tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/testing/detail.hpp"
#include "minica/tls.hpp"

namespace minica::testing {

std::string detail::describe_failure(const SSL* ssl, int ssl_error) {
    std::string why = peer_verify_error(ssl);
    unsigned long first = ERR_peek_error();
    if (why.empty() && first != 0) {
        const char* reason = ERR_reason_error_string(first);
        why = reason != nullptr ? reason : "unknown OpenSSL error";
    }
    ERR_clear_error();
    if (!why.empty()) return why;
    switch (ssl_error) {
        case SSL_ERROR_ZERO_RETURN: return "the peer closed the connection";
        case SSL_ERROR_SYSCALL: return "the connection closed unexpectedly";
        case SSL_ERROR_WANT_READ: return "the peer stopped answering";
        default: return "TLS error " + std::to_string(ssl_error);
    }
}

std::optional<Certificate> detail::peer_cert_of(const SSL* ssl) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr) return std::nullopt;
    return Certificate::from_native(peer);
}

// ---- MemoryTls -------------------------------------------------------------

std::string HandshakeResult::error() const {
    if (ok) return {};
    std::string out = "client: " + (client_error.empty() ? std::string("no error") : client_error);
    out += "; server: " + (server_error.empty() ? std::string("no error") : server_error);
    return out;
}

struct MemoryTls::Impl {
    minica::detail::SslPtr client;
    minica::detail::SslPtr server;
    bool handshaken = false;
};

MemoryTls::MemoryTls(SSL_CTX* client, SSL_CTX* server, std::string_view server_name) : impl_(std::make_unique<Impl>()) {
    if (client == nullptr || server == nullptr)
        throw Error(ErrorKind::invalid_argument, "an in-memory handshake needs a client and a server context");
    ERR_clear_error();
    impl_->client.reset(SSL_new(client));
    impl_->server.reset(SSL_new(server));
    if (!impl_->client || !impl_->server) throw_openssl(ErrorKind::tls, "creating the in-memory TLS connection");
    BIO* c = nullptr;
    BIO* s = nullptr;
    if (BIO_new_bio_pair(&c, 0, &s, 0) != 1) throw_openssl(ErrorKind::tls, "creating a BIO pair");
    SSL_set_bio(impl_->client.get(), c, c);  // each SSL owns its end
    SSL_set_bio(impl_->server.get(), s, s);
    SSL_set_connect_state(impl_->client.get());
    SSL_set_accept_state(impl_->server.get());
    if (!server_name.empty()) expect_server_name(impl_->client.get(), server_name);
}

MemoryTls::~MemoryTls() = default;

SSL* MemoryTls::client() const noexcept { return impl_->client.get(); }
SSL* MemoryTls::server() const noexcept { return impl_->server.get(); }

namespace {

using detail::describe_failure;
using detail::peer_cert_of;

struct Side {
    SSL* ssl;
    bool done = false;
    bool failed = false;
    std::string error;

    bool finished() const { return done || failed; }
    // One step of the handshake; true when something changed.
    bool step() {
        if (finished()) return false;
        ERR_clear_error();
        int r = SSL_do_handshake(ssl);
        if (r == 1) {
            done = true;
            return true;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return false;
        }
        failed = true;
        error = describe_failure(ssl, e);
        return true;
    }
    // After the handshake: reads whatever the peer sent (an alert, tickets).
    void absorb() {
        if (failed) return;
        ERR_clear_error();
        char byte;
        int r = SSL_peek(ssl, &byte, 1);
        if (r > 0) return;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return;
        }
        failed = true;
        error = describe_failure(ssl, e);
    }
};

}  // namespace

HandshakeResult MemoryTls::handshake() {
    if (impl_->handshaken) throw Error(ErrorKind::invalid_argument, "the in-memory handshake has already run");
    impl_->handshaken = true;
    Side client{impl_->client.get()};
    Side server{impl_->server.get()};
    // Each round moves at least one flight; a TLS 1.2 or 1.3 handshake needs
    // a handful. A side that waits with nothing to read has been abandoned.
    for (int round = 0; round < 32 && !(client.finished() && server.finished()); ++round) {
        bool moved = client.step();
        moved = server.step() || moved;
        if (!moved && (client.failed || server.failed)) break;
        if (!moved && BIO_ctrl_pending(SSL_get_rbio(client.ssl)) == 0 &&
            BIO_ctrl_pending(SSL_get_rbio(server.ssl)) == 0 && round > 0)
            break;
    }
    // TLS 1.3: the client finishes before the server has checked its
    // certificate; a refusal arrives as an alert afterwards.
    if (client.done) client.absorb();
    if (server.done) server.absorb();
    if (!client.finished()) {
        client.failed = true;
        client.error = "the handshake stopped: " + (server.failed ? std::string("the server failed") : "no progress");
    }
    if (!server.finished()) {
        server.failed = true;
        server.error = "the handshake stopped: " + (client.failed ? std::string("the client failed") : "no progress");
    }
    HandshakeResult out;
    out.ok = client.done && server.done && !client.failed && !server.failed;
    out.client_error = client.error;
    out.server_error = server.error;
    if (client.done) {
        out.version = SSL_get_version(client.ssl);
        const char* cipher = SSL_get_cipher_name(client.ssl);
        out.cipher = cipher != nullptr ? cipher : "";
        out.server_certificate = peer_cert_of(client.ssl);
    }
    if (server.done) out.client_certificate = peer_cert_of(server.ssl);
    return out;
}

namespace {

// Moves `data` from one SSL to the other over the BIO pair; returns what the other read.
std::string transfer(SSL* from, SSL* to, std::string_view data) {
    std::string received;
    auto drain = [&] {
        char buf[16384];
        for (;;) {
            std::size_t n = 0;
            ERR_clear_error();
            int r = SSL_read_ex(to, buf, sizeof buf, &n);
            if (r == 1) {
                received.append(buf, n);
                continue;
            }
            int e = SSL_get_error(to, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_ZERO_RETURN) {
                ERR_clear_error();
                return;
            }
            throw Error(ErrorKind::tls, "reading in memory: " + describe_failure(to, e));
        }
    };
    std::size_t offset = 0;
    while (offset < data.size()) {
        std::size_t n = 0;
        ERR_clear_error();
        int r = SSL_write_ex(from, data.data() + offset, data.size() - offset, &n);
        if (r == 1) {
            offset += n;
            continue;
        }
        int e = SSL_get_error(from, r);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
            throw Error(ErrorKind::tls, "writing in memory: " + describe_failure(from, e));
        drain();  // the pair's buffer is full: make room
    }
    drain();
    return received;
}

}  // namespace

std::string MemoryTls::client_to_server(std::string_view data) {
    return transfer(impl_->client.get(), impl_->server.get(), data);
}

std::string MemoryTls::server_to_client(std::string_view data) {
    return transfer(impl_->server.get(), impl_->client.get(), data);
}

HandshakeResult handshake(SSL_CTX* client, SSL_CTX* server, std::string_view server_name) {
    MemoryTls tls(client, server, server_name);
    // Nothing can resume from this connection: the TLS 1.3 session tickets a
    // server sends by default (two, each re-encoding the session with the
    // client's certificate) would be a fifth of the handshake's CPU time.
    SSL_set_num_tickets(tls.server(), 0);
    return tls.handshake();
}

}  // namespace minica::testing
