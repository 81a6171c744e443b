// minica::testing, the in-memory handshake: a client and a server SSL over
// a BIO pair, no sockets, one thread.
//
// Includes no Asio, Boost, spdlog or JSON; OpenSSL types are forward-declared.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "minica/certificate.hpp"
#include "minica/error.hpp"  // what every call here throws

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace minica::testing {

struct HandshakeResult {
    bool ok = false;
    // Empty when ok. Otherwise why each side stopped: the certificate
    // refusal when there was one ("certificate has expired (depth 0: ...)"),
    // else OpenSSL's reason ("tlsv13 alert certificate required").
    std::string client_error;
    std::string server_error;
    std::string version;  // "TLSv1.3"
    std::string cipher;   // "TLS_AES_128_GCM_SHA256"
    std::optional<Certificate> server_certificate;  // as the client received it
    std::optional<Certificate> client_certificate;  // as the server received it (mTLS)
    // "client: <client_error>; server: <server_error>", for failure messages.
    std::string error() const;
    explicit operator bool() const noexcept { return ok; }
};

// A client and a server SSL joined by a BIO pair: no sockets, no threads, one
// thread drives both. The client expects `server_name` (minica::expect_server_name).
class MemoryTls {
public:
    MemoryTls(SSL_CTX* client, SSL_CTX* server, std::string_view server_name = "localhost");
    ~MemoryTls();
    MemoryTls(const MemoryTls&) = delete;
    MemoryTls& operator=(const MemoryTls&) = delete;

    // Runs both sides until both finish or one fails (the other then reads
    // the alert). Call once.
    HandshakeResult handshake();
    // After a successful handshake: writes on one side, returns what the other read.
    std::string client_to_server(std::string_view data);
    std::string server_to_client(std::string_view data);

    SSL* client() const noexcept;
    SSL* server() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// One handshake: MemoryTls(client, server, server_name).handshake(), without
// TLS 1.3 session tickets (nothing can resume from it; use MemoryTls for that).
HandshakeResult handshake(SSL_CTX* client, SSL_CTX* server, std::string_view server_name = "localhost");

}  // namespace minica::testing
