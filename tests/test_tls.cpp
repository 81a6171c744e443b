// The hardened TLS context builders, exercised by real handshakes over an
// in-memory BIO pair (no sockets, DESIGN §12).
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "minica/authority.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/names.hpp"
#include "minica/revocation.hpp"
#include "minica/tls.hpp"

using namespace minica;
using detail::SslCtxPtr;
using detail::SslPtr;

namespace {

struct Pki {
    // Backdated so that it can have issued the expired certificate below.
    Authority root = Authority::create_root({.subject = {.common_name = "tls test root"},
                                             .now = now() - std::chrono::days(60)});
    Authority intermediate = root.create_intermediate({.subject = {.common_name = "tls test intermediate"}});
    Authority other = Authority::create_root({.subject = {.common_name = "some other CA"}});
    IssuedCertificate server =
        root.issue({.names = parse_identities({"localhost", "127.0.0.1"}), .profile = Profile::server});
    IssuedCertificate client = root.issue({.names = parse_identities({"alice"}), .profile = Profile::client});
    IssuedCertificate revoked = root.issue({.names = parse_identities({"revoked"}), .profile = Profile::client});
    IssuedCertificate expired = root.issue({.names = parse_identities({"expired"}),
                                            .profile = Profile::client,
                                            .validity = std::chrono::days(10),
                                            .now = now() - std::chrono::days(30)});
    IssuedCertificate server_as_client =
        root.issue({.names = parse_identities({"server.example"}), .profile = Profile::server});
    IssuedCertificate stranger = other.issue({.names = parse_identities({"mallory"}), .profile = Profile::client});
    IssuedCertificate server_int =
        intermediate.issue({.names = parse_identities({"localhost"}), .profile = Profile::server});
    IssuedCertificate client_int =
        intermediate.issue({.names = parse_identities({"carol"}), .profile = Profile::client});
};

const Pki& pki() {
    static const Pki p;
    return p;
}

TlsIdentity identity(const IssuedCertificate& i) { return {.certificate = i.certificate, .key = i.key, .chain = i.chain}; }

SslCtxPtr server_ctx(const IssuedCertificate& id, std::vector<Certificate> client_roots,
                     std::vector<const Crl*> crls = {}) {
    return SslCtxPtr(make_server_context(
        {.identity = identity(id), .client_roots = std::move(client_roots), .crls = std::move(crls)}));
}

SslCtxPtr client_ctx(std::optional<TlsIdentity> id, std::vector<Certificate> roots,
                     std::optional<std::string> pin = std::nullopt) {
    return SslCtxPtr(make_client_context({.identity = std::move(id), .roots = std::move(roots), .pin = std::move(pin)}));
}

struct Side {
    bool done = false;
    bool failed = false;
    std::string error;  // the first OpenSSL reason
};

void step(SSL* ssl, Side& side) {
    if (side.done || side.failed) return;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        side.done = true;
        return;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    side.failed = true;
    unsigned long code = ERR_peek_error();
    const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
    side.error = reason != nullptr ? reason : "error " + std::to_string(e);
    ERR_clear_error();
}

// A client and a server joined by a BIO pair.
struct Handshake {
    SslPtr client, server;
    Side c, s;

    Handshake(SSL_CTX* cctx, SSL_CTX* sctx, std::string_view name = "localhost")
        : client(SSL_new(cctx)), server(SSL_new(sctx)) {
        REQUIRE(client);
        REQUIRE(server);
        BIO* cb = nullptr;
        BIO* sb = nullptr;
        REQUIRE(BIO_new_bio_pair(&cb, 0, &sb, 0) == 1);
        SSL_set_bio(client.get(), cb, cb);
        SSL_set_bio(server.get(), sb, sb);
        SSL_set_connect_state(client.get());
        SSL_set_accept_state(server.get());
        if (!name.empty()) expect_server_name(client.get(), name);
    }

    // Steps both sides until each is done or has failed (bounded).
    void run() {
        for (int i = 0; i < 50 && !((c.done || c.failed) && (s.done || s.failed)); ++i) {
            step(client.get(), c);
            step(server.get(), s);
        }
        // TLS 1.3: the client finishes before the server judges its
        // certificate; the verdict (an alert) arrives on the client's next read.
        if (c.done && s.failed) {
            ERR_clear_error();
            char byte;
            int r = SSL_read(client.get(), &byte, 1);
            if (r <= 0 && SSL_get_error(client.get(), r) == SSL_ERROR_SSL) {
                unsigned long code = ERR_peek_error();
                const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
                c.error = reason != nullptr ? reason : "error";
            }
            ERR_clear_error();
        }
    }
    bool ok() const { return c.done && s.done; }

    // One line each way once connected.
    bool echo(const std::string& line) {
        if (SSL_write(client.get(), line.data(), static_cast<int>(line.size())) != static_cast<int>(line.size()))
            return false;
        char buf[256];
        int n = SSL_read(server.get(), buf, sizeof buf);
        if (n <= 0) return false;
        if (SSL_write(server.get(), buf, n) != n) return false;
        int m = SSL_read(client.get(), buf, sizeof buf);
        return m > 0 && std::string(buf, static_cast<std::size_t>(m)) == line;
    }
};

ErrorKind kind_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.kind();
    }
    FAIL("no minica::Error thrown");
    return ErrorKind::io;
}

}  // namespace

TEST_CASE("mutual TLS 1.3 handshake with AEAD over a BIO pair") {
    auto sctx = server_ctx(pki().server, {pki().root.certificate()});
    auto cctx = client_ctx(identity(pki().client), {pki().root.certificate()});
    Handshake h(cctx.get(), sctx.get());
    h.run();
    REQUIRE_MESSAGE(h.ok(), "client: " << h.c.error << ", server: " << h.s.error);
    CHECK(SSL_version(h.client.get()) == TLS1_3_VERSION);
    std::string cipher = SSL_get_cipher_name(h.client.get());
    CHECK((cipher == "TLS_AES_128_GCM_SHA256" || cipher == "TLS_AES_256_GCM_SHA384" ||
           cipher == "TLS_CHACHA20_POLY1305_SHA256"));
    X509* peer = SSL_get0_peer_certificate(h.server.get());
    REQUIRE(peer != nullptr);
    CHECK(Certificate::from_native(peer) == pki().client.certificate);
    CHECK(SSL_get_verify_result(h.server.get()) == X509_V_OK);
    CHECK(SSL_get_current_compression(h.client.get()) == nullptr);
    CHECK(h.echo("hello\n"));
    CHECK(peer_verify_error(h.client.get()).empty());
}

TEST_CASE("TLS 1.2 negotiates only ECDHE with AES-GCM or ChaCha20-Poly1305") {
    auto sctx = server_ctx(pki().server, {pki().root.certificate()});
    auto cctx = client_ctx(identity(pki().client), {pki().root.certificate()});
    SSL_CTX_set_max_proto_version(cctx.get(), TLS1_2_VERSION);
    Handshake h(cctx.get(), sctx.get());
    h.run();
    REQUIRE_MESSAGE(h.ok(), "client: " << h.c.error << ", server: " << h.s.error);
    CHECK(SSL_version(h.client.get()) == TLS1_2_VERSION);
    std::string cipher = SSL_get_cipher_name(h.client.get());
    CHECK(cipher.rfind("ECDHE-", 0) == 0);
    CHECK((cipher.find("GCM") != std::string::npos || cipher.find("CHACHA20") != std::string::npos));
    CHECK(h.echo("over TLS 1.2\n"));

    SUBCASE("a client offering only CBC suites is refused") {
        SslCtxPtr raw(SSL_CTX_new(TLS_client_method()));
        SSL_CTX_set_max_proto_version(raw.get(), TLS1_2_VERSION);
        REQUIRE(SSL_CTX_set_cipher_list(raw.get(), "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256") == 1);
        use_identity(raw.get(), identity(pki().client));
        Handshake cbc(raw.get(), sctx.get());
        cbc.run();
        CHECK_FALSE(cbc.s.done);
        CHECK(cbc.s.error == "no shared cipher");
    }
}

TEST_CASE("versions below TLS 1.2 are refused") {
    auto sctx = server_ctx(pki().server, {pki().root.certificate()});
    SslCtxPtr old(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(old.get(), 0);
    REQUIRE(SSL_CTX_set_cipher_list(old.get(), "DEFAULT@SECLEVEL=0") == 1);
    SSL_CTX_set_min_proto_version(old.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old.get(), TLS1_1_VERSION);
    Handshake h(old.get(), sctx.get());
    h.run();
    CHECK(h.s.failed);
    CHECK(h.s.error == "unsupported protocol");
    CHECK(h.c.failed);
}

TEST_CASE("client certificates are required and verified") {
    const Certificate& root = pki().root.certificate();
    auto sctx = server_ctx(pki().server, {root});

    SUBCASE("no certificate") {
        auto cctx = client_ctx(std::nullopt, {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.s.failed);
        CHECK(h.s.error == "peer did not return a certificate");
        CHECK(h.c.error.find("certificate required") != std::string::npos);
    }
    SUBCASE("another CA") {
        auto cctx = client_ctx(identity(pki().stranger), {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.s.failed);
        std::string why = peer_verify_error(h.server.get());
        CHECK(why.find("unable to get local issuer certificate") != std::string::npos);
        CHECK(why.find("CN=mallory") != std::string::npos);
        CHECK(h.c.error.find("unknown ca") != std::string::npos);
    }
    SUBCASE("expired") {
        auto cctx = client_ctx(identity(pki().expired), {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.s.failed);
        CHECK(peer_verify_error(h.server.get()).find("certificate has expired") != std::string::npos);
        CHECK(h.c.error.find("certificate expired") != std::string::npos);
    }
    SUBCASE("a server certificate (no clientAuth) used as a client certificate") {
        auto cctx = client_ctx(identity(pki().server_as_client), {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.s.failed);
        CHECK(h.s.failed);
        CHECK(peer_verify_error(h.server.get()).find("unsuitable certificate purpose") != std::string::npos);
    }
    SUBCASE("a client certificate (no serverAuth) used by a server") {
        auto bad = server_ctx(pki().client, {root});
        auto cctx = client_ctx(identity(pki().client), {root});
        Handshake h(cctx.get(), bad.get(), "");
        h.run();
        CHECK(h.c.failed);
        CHECK(peer_verify_error(h.client.get()).find("unsuitable certificate purpose") != std::string::npos);
    }
}

TEST_CASE("a CRL refuses the revoked client and keeps the others") {
    const Certificate& root = pki().root.certificate();
    Crl crl = Crl::build(pki().root, {{.serial_hex = pki().revoked.certificate.serial_hex(), .revoked_at = now()}}, {});
    auto sctx = server_ctx(pki().server, {root}, {&crl});
    {
        auto cctx = client_ctx(identity(pki().revoked), {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.s.failed);
        CHECK(peer_verify_error(h.server.get()).find("certificate revoked") != std::string::npos);
        CHECK(h.c.error.find("certificate revoked") != std::string::npos);
    }
    {
        auto cctx = client_ctx(identity(pki().client), {root});
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK_MESSAGE(h.ok(), "client: " << h.c.error << ", server: " << h.s.error);
    }
    CHECK(kind_of([&] { server_ctx(pki().server, {}, {&crl}); }) == ErrorKind::invalid_argument);
}

TEST_CASE("the client checks the server's name or address") {
    const Certificate& root = pki().root.certificate();
    auto sctx = server_ctx(pki().server, {root});
    auto cctx = client_ctx(identity(pki().client), {root});
    for (std::string good : {"localhost", "LOCALHOST", "127.0.0.1"}) {
        Handshake h(cctx.get(), sctx.get(), good);
        h.run();
        CHECK_MESSAGE(h.ok(), good << ": " << h.c.error);
    }
    for (std::string bad : {"example.org", "127.0.0.2", "::1", "local"}) {
        Handshake h(cctx.get(), sctx.get(), bad);
        h.run();
        CHECK_MESSAGE(h.c.failed, bad);
        std::string why = peer_verify_error(h.client.get());
        CHECK_MESSAGE((why.find("hostname mismatch") != std::string::npos ||
                       why.find("IP address mismatch") != std::string::npos),
                      bad << ": " << why);
    }
    // SNI carries DNS names only (RFC 6066 3).
    {
        Handshake h(cctx.get(), sctx.get(), "127.0.0.1");
        h.run();
        CHECK(SSL_get_servername(h.server.get(), TLSEXT_NAMETYPE_host_name) == nullptr);
    }
    {
        Handshake h(cctx.get(), sctx.get(), "localhost");
        h.run();
        REQUIRE(SSL_get_servername(h.server.get(), TLSEXT_NAMETYPE_host_name) != nullptr);
        CHECK(std::string(SSL_get_servername(h.server.get(), TLSEXT_NAMETYPE_host_name)) == "localhost");
    }
    CHECK(kind_of([&] {
              SslPtr ssl(SSL_new(cctx.get()));
              expect_server_name(ssl.get(), "");
          }) == ErrorKind::invalid_argument);
}

TEST_CASE("SPKI pins") {
    const Certificate& root = pki().root.certificate();
    auto sctx = server_ctx(pki().server, {root});
    const std::string pin = pki().server.certificate.spki_pin();
    CHECK(spki_pin_of(pki().server.certificate.native()) == pin);
    const std::string other = pki().client.certificate.spki_pin();

    SUBCASE("match") {
        auto cctx = client_ctx(identity(pki().client), {root}, pin);
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.ok());
    }
    SUBCASE("one of several") {
        auto cctx = client_ctx(identity(pki().client), {root}, other + ";" + pin);
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.ok());
    }
    SUBCASE("mismatch") {
        auto cctx = client_ctx(identity(pki().client), {root}, other);
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.c.failed);
        CHECK(SSL_get_verify_result(h.client.get()) == X509_V_ERR_APPLICATION_VERIFICATION);
        std::string why = peer_verify_error(h.client.get());
        CHECK(why.find("SPKI pin mismatch") != std::string::npos);
        CHECK(why.find(pin) != std::string::npos);
    }
    SUBCASE("the chain is checked before the pin") {
        auto cctx = client_ctx(identity(pki().client), {pki().other.certificate()}, pin);
        Handshake h(cctx.get(), sctx.get());
        h.run();
        CHECK(h.c.failed);
        CHECK(SSL_get_verify_result(h.client.get()) != X509_V_ERR_APPLICATION_VERIFICATION);
    }
    SUBCASE("malformed pins are refused up front") {
        for (std::string bad : {"", "sha256//", "sha1//T7IzeoXPz1KO0IYqqzA5+QGBaqpeFy53RyWfgLIls4A=",
                                "sha256//T7IzeoXPz1KO0IYqqzA5+QGBaqpeFy53RyWfgLIls4A", "sha256//not base64!"}) {
            CHECK_MESSAGE(kind_of([&] { client_ctx(std::nullopt, {root}, bad); }) == ErrorKind::invalid_argument,
                          bad);
        }
    }
}

TEST_CASE("chains through an intermediate") {
    const Certificate& root = pki().root.certificate();
    auto sctx = server_ctx(pki().server_int, {root});
    auto cctx = client_ctx(identity(pki().client_int), {root});
    Handshake h(cctx.get(), sctx.get());
    h.run();
    CHECK_MESSAGE(h.ok(), "client: " << h.c.error << ", server: " << h.s.error);

    SUBCASE("trusting the intermediate alone is enough (partial chain)") {
        const Certificate& inter = pki().intermediate.certificate();
        auto s2 = server_ctx(pki().server_int, {inter});
        auto c2 = client_ctx(identity(pki().client_int), {inter});
        Handshake h2(c2.get(), s2.get());
        h2.run();
        CHECK_MESSAGE(h2.ok(), "client: " << h2.c.error << ", server: " << h2.s.error);
        // ...and does not admit what the root issued outside it.
        auto c3 = client_ctx(identity(pki().client), {root});
        Handshake h3(c3.get(), s2.get());
        h3.run();
        CHECK(h3.s.failed);
    }
}

TEST_CASE("the server sends the chain it was given, not one built from its trust store") {
    // The server trusts the intermediate for client certificates; its own
    // certificate comes without the intermediate: OpenSSL would otherwise
    // complete the chain from the client-trust store.
    const Certificate& inter = pki().intermediate.certificate();
    TlsIdentity bare{.certificate = pki().server_int.certificate, .key = pki().server_int.key, .chain = {}};
    SslCtxPtr sctx(make_server_context({.identity = bare, .client_roots = {inter, pki().root.certificate()}}));
    auto cctx = client_ctx(identity(pki().client), {pki().root.certificate()});
    Handshake h(cctx.get(), sctx.get());
    h.run();
    CHECK(h.c.failed);
    CHECK(peer_verify_error(h.client.get()).find("unable to get local issuer certificate") != std::string::npos);
    STACK_OF(X509)* sent = SSL_get_peer_cert_chain(h.client.get());
    REQUIRE(sent != nullptr);
    CHECK(sk_X509_num(sent) == 1);
}

TEST_CASE("the contexts are hardened") {
    auto sctx = server_ctx(pki().server, {pki().root.certificate()});
    auto cctx = client_ctx(std::nullopt, {pki().root.certificate()});
    for (SSL_CTX* ctx : {sctx.get(), cctx.get()}) {
        CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
        CHECK(SSL_CTX_get_max_proto_version(ctx) == TLS1_3_VERSION);
        CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION) != 0);
        CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0);
        CHECK((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
        CHECK((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0);
        // Every TLS 1.2 suite left is ECDHE + AEAD.
        SslPtr ssl(SSL_new(ctx));
        STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl.get());
        for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
            const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
            if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) continue;  // TLS 1.3: always (EC)DHE + AEAD
            CHECK(SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe);
            CHECK(SSL_CIPHER_is_aead(c) == 1);
        }
    }
    CHECK((SSL_CTX_get_verify_mode(sctx.get()) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) != 0);
    // A server without client roots does not ask for a certificate.
    SslCtxPtr plain(make_server_context({.identity = identity(pki().server)}));
    CHECK(SSL_CTX_get_verify_mode(plain.get()) == SSL_VERIFY_NONE);
}

TEST_CASE("renegotiation is refused") {
    const Certificate& root = pki().root.certificate();
    auto sctx = server_ctx(pki().server, {root});
    // A client that would renegotiate if allowed (not made by make_client_context).
    SslCtxPtr raw(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_max_proto_version(raw.get(), TLS1_2_VERSION);
    use_identity(raw.get(), identity(pki().client));
    Handshake h(raw.get(), sctx.get(), "");
    h.run();
    REQUIRE_MESSAGE(h.ok(), "client: " << h.c.error << ", server: " << h.s.error);
    REQUIRE(SSL_renegotiate(h.client.get()) == 1);
    // The client sends a new ClientHello; the server answers no_renegotiation.
    ERR_clear_error();
    SSL_do_handshake(h.client.get());
    char buf[16];
    ERR_clear_error();
    int n = SSL_read(h.server.get(), buf, sizeof buf);
    CHECK(n <= 0);
    ERR_clear_error();
    int r = SSL_do_handshake(h.client.get());
    CHECK(r != 1);
    ERR_clear_error();
    // Our own client refuses to start one.
    auto cctx = client_ctx(identity(pki().client), {root});
    SSL_CTX_set_max_proto_version(cctx.get(), TLS1_2_VERSION);
    Handshake h2(cctx.get(), sctx.get());
    h2.run();
    REQUIRE(h2.ok());
    CHECK(SSL_renegotiate(h2.client.get()) == 0);
    ERR_clear_error();
}

TEST_CASE("builder errors") {
    const Certificate& root = pki().root.certificate();
    CHECK(kind_of([&] { client_ctx(std::nullopt, {}); }) == ErrorKind::invalid_argument);
    TlsIdentity mismatched{.certificate = pki().server.certificate, .key = pki().client.key, .chain = {}};
    CHECK(kind_of([&] { SslCtxPtr(make_server_context({.identity = mismatched, .client_roots = {root}})); }) ==
          ErrorKind::tls);
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    CHECK(kind_of([&] { trust(ctx.get(), {}); }) == ErrorKind::invalid_argument);
    CHECK(kind_of([&] { harden(nullptr); }) == ErrorKind::invalid_argument);
    // Trusting the same root twice is fine.
    trust(ctx.get(), {root, root});
}
