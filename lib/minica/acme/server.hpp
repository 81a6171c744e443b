// `minica serve`: the ACME service (service.hpp) over HTTPS, and the CRL
// over plain HTTP. Internal (not installed); the CLI verb is one call to
// serve().
//
// HTTP is Boost.Beast over Boost.Asio (no parser of ours): a request head
// of at most 8 KiB and a body of at most 64 KiB (beyond: 413 with a
// malformed problem, and the connection closes), 10 s for the TLS
// handshake, 30 s for an idle keep-alive connection.
//
// TLS: the library's hardened server context (tls.hpp: TLS 1.2+, AEAD and
// forward secrecy only) with a certificate this CA issues for the server's
// own hostnames, kept in <ca-dir>/serve/ (key 0600) and reused across
// restarts while more than a third of its life is left; a timer renews it
// at two thirds (new connections get the new one).
//
// SIGINT/SIGTERM: the listeners close, idle connections close, requests in
// flight are answered (a challenge POST waiting for its validation answers
// at once with what the store says), then serve() returns 0. A validation
// cut off stays `processing` in the inventory and runs again at the next
// start (AcmeService::resume_validations).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace minica::acme {

struct ServeOptions {
    std::filesystem::path ca_dir;
    std::string listen = "127.0.0.1:14000";  // HOST:PORT ([v6]:port); port 0 picks a free one
    // The names in the server's certificate; the first is the directory's
    // host. Default: "localhost".
    std::vector<std::string> hostnames;
    // The base URL clients use, when not https://<first hostname>:<port>
    // (behind a proxy, say).
    std::optional<std::string> external_url;
    std::optional<std::string> http_listen;   // plain HTTP: /crl, /root-crl
    std::optional<std::string> dns_resolver;  // every validator lookup goes there
    std::uint16_t http01_port = 80;
    std::uint16_t tls_alpn01_port = 443;
    bool eab_required = false;
    std::optional<std::string> terms_of_service;
    std::optional<std::chrono::days> validity;  // of the certificates issued
    std::chrono::seconds crl_validity{std::chrono::hours(24 * 7)};
    std::chrono::milliseconds validation_wait{5000};  // a challenge POST holds its answer this long at most
    int threads = 2;
    std::function<std::string()> ca_passphrase;  // for an encrypted CA key
    // Called once the listeners are open, with the directory URL and the
    // plain-HTTP base URL ("" without --http-listen): tests and the CLI
    // print them.
    std::function<void(const std::string& directory_url, const std::string& http_url)> on_ready;
};

// Runs until SIGINT or SIGTERM (or stop_serving()); returns the exit code
// (0 after a clean stop). Errors before the listeners are open (no CA, a
// port in use) are thrown as minica::Error.
int serve(const ServeOptions& options);
// Asks a running serve() in this process to stop as on SIGTERM (tests).
void stop_serving() noexcept;

}  // namespace minica::acme
