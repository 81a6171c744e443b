// An mTLS echo over loopback with Boost.Asio; every certificate comes
// from minica::testing, configured on Asio's contexts through native_handle().
#include <iostream>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <minica/testing.hpp>
#include <minica/tls.hpp>

namespace asio = boost::asio;

int main() try {
    minica::testing::TestCA ca;
    auto server_cert = ca.issue("localhost");
    auto client_cert = ca.issue("client.example.test");

    asio::ssl::context server_ctx(asio::ssl::context::tls_server);
    server_cert.configure_cert(server_ctx.native_handle());
    ca.configure_trust(server_ctx.native_handle());  // on a server: require a client certificate
    asio::ssl::context client_ctx(asio::ssl::context::tls_client);
    client_cert.configure_cert(client_ctx.native_handle());
    ca.configure_trust(client_ctx.native_handle());

    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    std::string client_name;
    std::thread server([&] {
        asio::ssl::stream<asio::ip::tcp::socket> stream(acceptor.accept(), server_ctx);
        stream.handshake(asio::ssl::stream_base::server);
        client_name = minica::Certificate::from_native(SSL_get0_peer_certificate(stream.native_handle())).subject();
        char buf[256];
        std::size_t n = stream.read_some(asio::buffer(buf));
        asio::write(stream, asio::buffer(buf, n));
        boost::system::error_code ignored;
        stream.shutdown(ignored);
    });

    asio::ssl::stream<asio::ip::tcp::socket> client(io, client_ctx);
    client.next_layer().connect(acceptor.local_endpoint());
    minica::expect_server_name(client.native_handle(), "localhost");  // SNI + name check
    client.handshake(asio::ssl::stream_base::client);
    asio::write(client, asio::buffer(std::string("hello over mTLS")));
    char reply[256];
    std::size_t n = client.read_some(asio::buffer(reply));
    boost::system::error_code ignored;
    client.shutdown(ignored);  // close_notify both ways
    server.join();

    std::cout << "echo: " << std::string(reply, n) << "\n"
              << "server saw client: " << client_name << "\n"
              << "protocol: " << SSL_get_version(client.native_handle()) << "\n";
    return std::string(reply, n) == "hello over mTLS" ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << "asio_mtls: " << e.what() << "\n";
    return 1;
}
