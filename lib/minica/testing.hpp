// minica::testing — certificates for someone else's test suite (DESIGN §12).
//
// What Python's trustme and Go's httptest.NewTLSServer give their users, for
// C++ over OpenSSL: a CA in memory in one line, leaves with their keys and
// chains, trust and identity for any SSL_CTX, PEM text and files for tools that
// want paths, a TLS handshake over a BIO pair (no sockets) and a loopback TLS
// server on an ephemeral port.
//
//     minica::testing::TestCA ca;                       // ECDSA P-256 root, in memory
//     auto leaf = ca.issue("localhost", "127.0.0.1");  // key + certificate + chain
//     ca.configure_trust(client_ctx);                  // trust the root, verify peers
//     leaf.configure_cert(server_ctx);                 // certificate, chain and key
//
// Every certificate the fixture makes is an ordinary minica certificate: it
// verifies under `openssl verify -x509_strict` and Go's crypto/x509.
//
// This umbrella header includes the three parts: testing/ca.hpp (the CA
// fixture), testing/memory_tls.hpp (the in-memory handshake) and
// testing/server.hpp (the loopback server). None includes Asio, Boost, spdlog
// or JSON (only the minica value types and the standard library); OpenSSL
// types are forward-declared.
#pragma once

#include "minica/testing/ca.hpp"          // TempDir, LeafCert, TestCA
#include "minica/testing/memory_tls.hpp"  // MemoryTls, handshake
#include "minica/testing/server.hpp"      // Connection, TlsServer, handlers
