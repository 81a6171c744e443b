// Certificates in a doctest suite: no PEM files in the repository, no
// openssl(1), a real mTLS handshake over loopback.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>

#include <openssl/ssl.h>

#include <minica/testing.hpp>

using minica::testing::TestCA;
using minica::testing::TlsServer;

TEST_CASE("the server accepts a client certificate from our CA") {
    TestCA ca;                                            // ECDSA P-256 root, in memory
    TlsServer server(ca, {.require_client_cert = true});  // echo, 127.0.0.1, ephemeral port

    auto alice = ca.issue("alice.example.test");     // key + certificate + chain
    auto client = ca.client_context(alice);          // trusts the CA, presents alice
    auto conn = server.connect(client.get());        // expects "localhost"
    conn.write("ping");
    CHECK(conn.read_some() == "ping");
    CHECK(conn.peer_certificate()->common_name() == "localhost");
}

TEST_CASE("a client without a certificate is turned away") {
    TestCA ca;
    TlsServer server(ca, {.require_client_cert = true});
    auto anonymous = ca.client_context();
    auto conn = server.connect(anonymous.get());  // TLS 1.3: the server refuses after the handshake
    CHECK_THROWS_AS(conn.read_some(), minica::Error);
}

TEST_CASE("your own SSL_CTX: configure_cert and configure_trust, in memory") {
    TestCA ca;
    auto leaf = ca.issue("localhost", "127.0.0.1");
    minica::testing::SslContext server(SSL_CTX_new(TLS_server_method()));
    minica::testing::SslContext client(SSL_CTX_new(TLS_client_method()));
    leaf.configure_cert(server.get());  // certificate, chain, key
    ca.configure_trust(client.get());   // trust the root, verify the peer

    auto result = minica::testing::handshake(client.get(), server.get(), "localhost");  // a BIO pair
    CHECK_MESSAGE(result.ok, result.error());
    CHECK(result.version == "TLSv1.3");
}

TEST_CASE("tools that want paths") {
    minica::testing::TempDir dir;  // removed at the end of the test
    TestCA ca({.intermediates = 1});
    auto files = ca.issue("localhost").write_to(dir.path(), "server");  // server.pem, server-key.pem
    auto ca_pem = ca.write_to(dir.path()).cert;                         // ca.pem
    CHECK(std::filesystem::exists(files.cert));
    CHECK(std::filesystem::exists(ca_pem));
}
