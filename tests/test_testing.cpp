// minica::testing: the fixture API, used the way a test suite uses it.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#include <openssl/ssl.h>

#include "minica/error.hpp"
#include "minica/testing.hpp"
#include "minica/verify.hpp"

using namespace std::chrono;
using minica::Certificate;
using minica::ErrorKind;
using minica::KeyType;
using minica::Profile;
using minica::testing::TestCA;

namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

unsigned mode_of(const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

// Waits (at most 10 s) for a condition another thread makes true.
template <class F>
bool eventually(F f) {
    for (int i = 0; i < 1000; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(milliseconds(10));
    }
    return f();
}

minica::testing::SslContext raw_context(const SSL_METHOD* method) {
    minica::testing::SslContext ctx(SSL_CTX_new(method));
    REQUIRE(ctx);
    return ctx;
}

}  // namespace

TEST_CASE("a TestCA is a P-256 root in memory and issues leaves for both uses") {
    TestCA ca;
    const Certificate& root = ca.certificate();
    CHECK(root.is_ca());
    CHECK(root.self_signed());
    CHECK(root.key_type() == KeyType::ec_p256);
    CHECK(root.subject().find("minica test CA ") != std::string::npos);
    CHECK(ca.intermediates().empty());

    auto leaf = ca.issue("localhost", "127.0.0.1", "::1");
    CHECK(leaf.certificate().names().dns == std::vector<std::string>{"localhost"});
    CHECK(leaf.certificate().names().ip.size() == 2);
    CHECK(leaf.certificate().common_name() == "localhost");
    CHECK(leaf.certificate().extended_key_usage() == std::vector<std::string>{"serverAuth", "clientAuth"});
    CHECK(leaf.certificate().key_type() == KeyType::ec_p256);
    CHECK(leaf.certificate().matches(leaf.key()));
    CHECK(leaf.chain().size() == 1);
    CHECK(leaf.certificate().signed_by(root));

    for (auto purpose : {minica::Purpose::server, minica::Purpose::client}) {
        auto r = minica::verify_chain(leaf.certificate(), {}, {root}, {.purpose = purpose, .host = "localhost"});
        CHECK_MESSAGE(r.ok, r.reason);
    }
    auto by_ip = minica::verify_chain(leaf.certificate(), {}, {root}, {.ip = "::1"});
    CHECK_MESSAGE(by_ip.ok, by_ip.reason);

    // Two CAs never share a name (one trust store may hold both).
    TestCA other;
    CHECK(other.certificate().subject() != root.subject());
}

TEST_CASE("issue takes options: profile, key type, subject, validity") {
    TestCA ca({.now = minica::testing::reference_time});
    auto client = ca.issue({.names = {"alice@example.test", "spiffe://example.test/alice"},
                            .profile = Profile::client,
                            .key_type = KeyType::ed25519,
                            .common_name = "Alice",
                            .organization = "Example",
                            .validity = days{30}});
    const Certificate& c = client.certificate();
    CHECK(c.extended_key_usage() == std::vector<std::string>{"clientAuth"});
    CHECK(c.key_type() == KeyType::ed25519);
    CHECK(c.subject() == "O=Example, CN=Alice");
    CHECK(c.names().email == std::vector<std::string>{"alice@example.test"});
    CHECK(c.names().uri == std::vector<std::string>{"spiffe://example.test/alice"});
    CHECK(c.not_before() == minica::testing::reference_time - minutes{5});
    CHECK(c.not_after() == minica::testing::reference_time + days{30});
    CHECK(ca.certificate().not_before() == minica::testing::reference_time - minutes{5});

    CHECK_THROWS_AS(ca.issue(minica::testing::IssueOptions{}), minica::Error);
    try {
        ca.issue("not a name!");
        FAIL("an invalid name was accepted");
    } catch (const minica::Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
    }
    CHECK_THROWS_AS(TestCA({.intermediates = -1}), minica::Error);
}

TEST_CASE("in-memory mTLS handshake with the ready contexts, for every key type") {
    for (KeyType type : {KeyType::ec_p256, KeyType::ed25519, KeyType::rsa_2048}) {
        CAPTURE(minica::to_string(type));
        TestCA ca({.key_type = type});
        auto server_cert = ca.issue("localhost");
        auto client_cert = ca.issue("client.test");
        auto server = ca.server_context(server_cert, {.require_client_cert = true});
        auto client = ca.client_context(client_cert);

        minica::testing::MemoryTls tls(client.get(), server.get(), "localhost");
        auto r = tls.handshake();
        REQUIRE_MESSAGE(r.ok, r.error());
        CHECK(r.version == "TLSv1.3");
        REQUIRE(r.server_certificate);
        CHECK(*r.server_certificate == server_cert.certificate());
        REQUIRE(r.client_certificate);
        CHECK(*r.client_certificate == client_cert.certificate());
        CHECK(tls.client_to_server("ping") == "ping");
        std::string big(100000, 'x');
        CHECK(tls.server_to_client(big) == big);
    }
}

TEST_CASE("configure_trust and configure_cert on plain OpenSSL contexts") {
    TestCA ca;
    auto server_cert = ca.issue("localhost");
    auto client_cert = ca.issue("client.test");

    auto server = raw_context(TLS_server_method());
    server_cert.configure_cert(server.get());
    ca.configure_trust(server.get());  // a server that trusts the CA requires client certificates
    auto client = raw_context(TLS_client_method());
    ca.configure_trust(client.get());
    client_cert.configure_cert(client.get());

    auto r = minica::testing::handshake(client.get(), server.get());
    REQUIRE_MESSAGE(r.ok, r.error());
    REQUIRE(r.client_certificate);
    CHECK(r.client_certificate->common_name() == "client.test");

    SUBCASE("a client without a certificate is refused") {
        auto anonymous = raw_context(TLS_client_method());
        ca.configure_trust(anonymous.get());
        auto refused = minica::testing::handshake(anonymous.get(), server.get());
        CHECK_FALSE(refused.ok);
        CHECK_MESSAGE(refused.server_error.find("certificate") != std::string::npos, refused.error());
        CHECK_MESSAGE(!refused.client_error.empty(), refused.error());
    }
    SUBCASE("a client that trusts another CA refuses the server") {
        TestCA stranger;
        auto wary = raw_context(TLS_client_method());
        stranger.configure_trust(wary.get());
        auto refused = minica::testing::handshake(wary.get(), server.get());
        CHECK_FALSE(refused.ok);
        // OpenSSL's server may send the root too (it builds its chain from its
        // own store, which holds the CA): the client then refuses an unknown root.
        CHECK_MESSAGE((refused.client_error.find("issuer certificate") != std::string::npos ||
                       refused.client_error.find("self-signed certificate in certificate chain") != std::string::npos),
                      refused.error());
    }
    SUBCASE("the server name is checked") {
        auto refused = minica::testing::handshake(client.get(), server.get(), "other.test");
        CHECK_FALSE(refused.ok);
        CHECK_MESSAGE(refused.client_error.find("hostname mismatch") != std::string::npos, refused.error());
    }
}

TEST_CASE("a fixed clock makes certificates reproducible and verifies at that instant") {
    // reference_time + 397 days is long past: only the fixture's clock accepts these.
    TestCA ca({.now = minica::testing::reference_time});
    auto leaf = ca.issue("localhost");
    CHECK(leaf.certificate().not_after() < minica::now());

    auto server = ca.server_context(leaf);
    auto client = ca.client_context();
    auto ok = minica::testing::handshake(client.get(), server.get());
    CHECK_MESSAGE(ok.ok, ok.error());

    // A client on the system clock sees the truth.
    minica::testing::SslContext today(minica::make_client_context({.roots = {ca.certificate()}}));
    auto expired = minica::testing::handshake(today.get(), server.get());
    CHECK_FALSE(expired.ok);
    CHECK_MESSAGE(expired.client_error.find("expired") != std::string::npos, expired.error());
}

TEST_CASE("intermediates on request: in the options or as a child CA") {
    TestCA ca({.intermediates = 2});
    auto leaf = ca.issue("localhost");
    REQUIRE(leaf.chain().size() == 3);
    CHECK(ca.intermediates().size() == 2);
    CHECK(leaf.chain()[1].path_len() == 0);
    CHECK(leaf.chain()[2].path_len() == 1);
    CHECK(leaf.chain_pem() == leaf.chain()[1].to_pem() + leaf.chain()[2].to_pem());
    CHECK(leaf.fullchain_pem() == leaf.cert_pem() + leaf.chain_pem());
    auto v = minica::verify_chain(leaf.certificate(), {leaf.chain()[1], leaf.chain()[2]}, {ca.certificate()},
                                  {.host = "localhost"});
    CHECK_MESSAGE(v.ok, v.reason);
    auto server = ca.server_context(leaf);
    auto client = ca.client_context();
    auto r = minica::testing::handshake(client.get(), server.get());
    CHECK_MESSAGE(r.ok, r.error());

    TestCA root;
    TestCA child = root.create_child_ca();
    CHECK(child.certificate() == root.certificate());  // trusted through the same root
    TestCA grandchild = child.create_child_ca();
    auto deep = grandchild.issue("deep.test");
    CHECK(deep.chain().size() == 3);
    auto rs = root.server_context(deep);
    auto rc = root.client_context();
    auto r2 = minica::testing::handshake(rc.get(), rs.get(), "deep.test");
    CHECK_MESSAGE(r2.ok, r2.error());
}

TEST_CASE("PEM blobs and files for tools that want paths") {
    TestCA ca({.intermediates = 1});
    auto leaf = ca.issue("localhost");
    CHECK(Certificate::from_pem(ca.cert_pem()) == ca.certificate());
    CHECK(leaf.certificate().matches(minica::PrivateKey::from_pem(leaf.key_pem())));
    CHECK(Certificate::from_pem(leaf.cert_pem()) == leaf.certificate());

    std::filesystem::path where;
    {
        minica::testing::TempDir dir;
        where = dir.path();
        CHECK(std::filesystem::is_directory(where));
        CHECK(mode_of(where) == 0700);
        auto ca_files = ca.write_to(dir.path());
        auto files = leaf.write_to(dir.path(), "server");
        CHECK(files.cert == dir / "server.pem");
        CHECK(files.key == dir / "server-key.pem");
        CHECK(ca_files.cert == dir / "ca.pem");
        CHECK(slurp(files.cert) == leaf.fullchain_pem());
        CHECK(slurp(files.key) == leaf.key_pem());
        CHECK(slurp(ca_files.cert) == ca.cert_pem());
        CHECK(mode_of(files.key) == 0600);
        CHECK(mode_of(ca_files.key) == 0600);
        CHECK(mode_of(files.cert) == 0644);
        // What a tool reads back verifies.
        auto chain = Certificate::load_chain(files.cert);
        auto v = minica::verify_chain(chain.front(), chain, {Certificate::load(ca_files.cert)}, {.host = "localhost"});
        CHECK_MESSAGE(v.ok, v.reason);
        // Writing again replaces the files.
        auto again = ca.issue("localhost").write_to(dir.path(), "server");
        CHECK(slurp(again.cert) != leaf.fullchain_pem());
        minica::testing::TempDir moved = std::move(dir);
        CHECK(std::filesystem::exists(where));
    }
    CHECK_FALSE(std::filesystem::exists(where));
}

TEST_CASE("a loopback TLS server: echo over mTLS, in one call") {
    TestCA ca;
    minica::testing::TlsServer server(ca, {.require_client_cert = true});
    CHECK(server.port() != 0);
    CHECK(server.url() == "https://127.0.0.1:" + std::to_string(server.port()));
    CHECK(server.certificate().certificate().names().dns == std::vector<std::string>{"localhost"});

    auto client = server.client_context();  // trusts the CA, carries a client certificate
    {
        auto conn = server.connect(client.get());
        CHECK(conn.version() == "TLSv1.3");
        REQUIRE(conn.peer_certificate());
        CHECK(*conn.peer_certificate() == server.certificate().certificate());
        conn.write("hello");
        CHECK(conn.read_some() == "hello");
        std::string big(200000, 'z');
        conn.write(big);
        std::string back;
        while (back.size() < big.size()) back += conn.read_some();
        CHECK(back == big);
        conn.close();
        CHECK(conn.read_all().empty());
    }

    SUBCASE("several clients at once") {
        std::vector<std::thread> threads;
        std::atomic<int> good{0};
        for (int i = 0; i < 8; ++i)
            threads.emplace_back([&, i] {
                auto conn = server.connect(client.get());
                std::string msg = "client " + std::to_string(i);
                conn.write(msg);
                if (conn.read_some() == msg) ++good;
            });
        for (auto& t : threads) t.join();
        CHECK(good == 8);
    }
    SUBCASE("a client without a certificate is refused, and the server says why") {
        auto anonymous = ca.client_context();
        auto conn = server.connect(anonymous.get());  // TLS 1.3: the refusal comes after
        CHECK_THROWS_AS(conn.read_some(), minica::Error);
        CHECK(eventually([&] { return !server.errors().empty(); }));
        auto errors = server.errors();
        REQUIRE(!errors.empty());
        CHECK_MESSAGE(errors.back().find("certificate") != std::string::npos, errors.back());
    }
    SUBCASE("connecting with the wrong trust fails with the reason") {
        TestCA stranger;
        auto wary = stranger.client_context();
        try {
            server.connect(wary.get());
            FAIL("the handshake succeeded");
        } catch (const minica::Error& e) {
            CHECK(e.kind() == ErrorKind::tls);
            std::string what = e.what();
            CHECK_MESSAGE(what.find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos, what);
            // "unable to get local issuer certificate", or "self-signed certificate
            // in certificate chain" when the server sends the root as well.
            CHECK_MESSAGE((what.find("issuer certificate") != std::string::npos ||
                           what.find("self-signed certificate in certificate chain") != std::string::npos),
                          what);
        }
    }
    CHECK(server.accepted() >= 1);
}

TEST_CASE("the server stops with idle clients still connected") {
    TestCA ca;
    auto client = ca.client_context();
    std::optional<minica::testing::Connection> idle;
    auto t0 = steady_clock::now();
    {
        minica::testing::TlsServer server(ca);
        idle.emplace(server.connect(client.get()));
        idle->write("x");
        CHECK(idle->read_some() == "x");
    }
    CHECK(steady_clock::now() - t0 < seconds{5});
    // The server is gone: the client sees the end of the stream.
    CHECK(idle->read_all().empty());
}

TEST_CASE("an HTTP handler, with the client certificate in the request") {
    TestCA ca;
    minica::testing::TlsServer server(
        ca, {.require_client_cert = true,
             .handler = minica::testing::http_handler([](const minica::testing::HttpRequest& req) {
                 if (req.target == "/boom") throw std::runtime_error("boom");
                 std::string who = req.client_certificate ? req.client_certificate->common_name() : "nobody";
                 return minica::testing::HttpResponse{
                     .body = req.method + " " + req.target + " from " + who + " [" + req.body + "]",
                     .headers = {{"X-Test", "yes"}}};
             })});
    auto client = ca.client_context(ca.issue("alice.test"));
    auto conn = server.connect(client.get());
    conn.write("POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody");
    std::string response;
    while (response.find("]") == std::string::npos) {
        std::string more = conn.read_some();
        REQUIRE(!more.empty());
        response += more;
    }
    CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(response.find("X-Test: yes\r\n") != std::string::npos);
    CHECK(response.find("Content-Length: 34\r\n") != std::string::npos);
    CHECK(response.find("POST /hello from alice.test [body]") != std::string::npos);

    // Keep-alive: a second request on the same connection; a failing handler is a 500.
    conn.write("GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n");
    std::string second = conn.read_all();
    CHECK(second.rfind("HTTP/1.1 500 ", 0) == 0);
    CHECK(eventually([&] { return !server.errors().empty(); }));
    CHECK(server.errors().back().find("boom") != std::string::npos);
}

namespace {

// An HTTP server that answers "<method> <target> [<body>]" to every request.
minica::testing::TlsServer echoing_http_server(const TestCA& ca) {
    return minica::testing::TlsServer(
        ca, {.handler = minica::testing::http_handler([](const minica::testing::HttpRequest& req) {
            return minica::testing::HttpResponse{.body = req.method + " " + req.target + " [" + req.body + "]"};
        })});
}

}  // namespace

TEST_CASE("the HTTP handler answers pipelined requests in order, chunked bodies included") {
    TestCA ca;
    auto server = echoing_http_server(ca);
    auto client = server.client_context();
    auto conn = server.connect(client.get());
    // Three requests in one write; the last asks to close.
    conn.write("GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n"
               "POST /two HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
               "PUT /three HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
    std::string all = conn.read_all();
    auto one = all.find("GET /one []");
    auto two = all.find("POST /two [abcde]");
    auto three = all.find("PUT /three [x]");
    REQUIRE_MESSAGE(one != std::string::npos, all);
    REQUIRE_MESSAGE(two != std::string::npos, all);
    REQUIRE_MESSAGE(three != std::string::npos, all);
    CHECK(one < two);
    CHECK(two < three);
    CHECK(all.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(all.find("Connection: close\r\n") > two);  // only the last answer closes
    CHECK(server.errors().empty());
}

TEST_CASE("the HTTP handler refuses what it cannot parse, and closes") {
    TestCA ca;
    auto server = echoing_http_server(ca);
    auto client = server.client_context();
    struct Case {
        std::string request;
        std::string status;
    };
    std::vector<Case> cases{
        {"GET / HTTP/1.1\r\nno colon here\r\n\r\nGET /after HTTP/1.1\r\n\r\n", "400"},
        {"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "400"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"},
        {"GET /" + std::string(70000, 'a') + " HTTP/1.1\r\n\r\n", "431"},
        {"POST / HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", "413"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.status);
        auto conn = server.connect(client.get());
        conn.write(c.request);
        std::string answer = conn.read_all();  // the server closes after its answer
        CHECK_MESSAGE(answer.rfind("HTTP/1.1 " + c.status + " ", 0) == 0, answer);
        CHECK(answer.find("Connection: close\r\n") != std::string::npos);
        CHECK(answer.find("/after") == std::string::npos);  // nothing after the refusal is served
    }
    CHECK(server.errors().empty());
}

TEST_CASE("the HTTP handler: HEAD, Expect: 100-continue, HTTP/1.0") {
    TestCA ca;
    auto server = echoing_http_server(ca);
    auto client = server.client_context();
    {
        auto conn = server.connect(client.get());
        conn.write("POST /wait HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
        std::string interim;
        while (interim.find("\r\n\r\n") == std::string::npos) interim += conn.read_some();
        CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
        conn.write("ok");
        std::string answer;
        while (answer.find("]") == std::string::npos) answer += conn.read_some();
        CHECK(answer.find("POST /wait [ok]") != std::string::npos);

        conn.write("HEAD /head HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        std::string head = conn.read_all();
        CHECK(head.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
        CHECK(head.find("Content-Length: 13\r\n") != std::string::npos);  // "HEAD /head []"
        CHECK(head.size() == head.find("\r\n\r\n") + 4);                 // and no body
    }
    {
        auto conn = server.connect(client.get());
        conn.write("GET /old HTTP/1.0\r\n\r\n");
        std::string answer = conn.read_all();  // one answer, then the server closes
        CHECK(answer.find("GET /old []") != std::string::npos);
        CHECK(answer.find("Connection: close\r\n") != std::string::npos);
    }
}

TEST_CASE("a server with a context made elsewhere and a custom handler") {
    TestCA ca;
    auto leaf = ca.issue("localhost");
    minica::testing::TlsServer server(ca.server_context(leaf), [](minica::testing::Connection& c) {
        std::string line = c.read_some();
        c.write("you said: " + line);
    });
    CHECK_THROWS_AS(server.certificate(), minica::Error);
    CHECK_THROWS_AS(server.client_context(), minica::Error);
    auto client = ca.client_context();
    auto conn = minica::testing::connect(client.get(), "127.0.0.1", server.port(), "localhost");
    conn.write("hi");
    CHECK(conn.read_all() == "you said: hi");
    CHECK(server.errors().empty());
}

TEST_CASE("contexts from the fixture carry minica's hardening") {
    TestCA ca;
    auto leaf = ca.issue("localhost");
    auto server = ca.server_context(leaf);
    CHECK(SSL_CTX_get_min_proto_version(server.get()) == TLS1_2_VERSION);
    // A TLS 1.1 client gets nowhere.
    auto old = raw_context(TLS_client_method());
    SSL_CTX_set_max_proto_version(old.get(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(old.get(), 0);
    ca.configure_trust(old.get());
    auto r = minica::testing::handshake(old.get(), server.get());
    CHECK_FALSE(r.ok);
    CHECK(!r.server_error.empty());
}
