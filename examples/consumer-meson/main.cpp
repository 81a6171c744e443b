// Built against an installed minica: a CA, a leaf, a chain check and an
// in-memory TLS handshake, using only the installed headers and library.
#include <iostream>

#include <minica/authority.hpp>
#include <minica/testing.hpp>
#include <minica/verify.hpp>

int main() try {
    minica::testing::TestCA ca({.intermediates = 1});
    auto leaf = ca.issue("localhost", "127.0.0.1");
    auto verified = minica::verify_chain(leaf.certificate(), leaf.chain(), {ca.certificate()},
                                         {.purpose = minica::Purpose::server, .host = "localhost"});
    if (!verified) {
        std::cerr << "consumer: " << verified.reason << "\n";
        return 1;
    }
    auto server = ca.server_context(leaf);
    auto client = ca.client_context();
    auto tls = minica::testing::handshake(client.get(), server.get(), "localhost");
    if (!tls) {
        std::cerr << "consumer: " << tls.error() << "\n";
        return 1;
    }
    std::cout << "minica consumer: ok (" << leaf.certificate().subject() << ", chain of "
              << verified.chain.size() << ", " << tls.version << ")\n";
    return 0;
} catch (const minica::Error& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
}
