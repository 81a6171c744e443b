// Challenge validation (RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737
// tls-alpn-01): the only part of the ACME server that connects out.
// Internal (not installed).
//
// The service hands a task to a Validator and is called back once with the
// result, from one of the validator's threads. The real validator resolves
// names with c-ares (every A/AAAA/TXT lookup through --dns-resolver when
// set, like Pebble's -dnsserver), connects only to the addresses the
// identifier resolves to (an IP identifier: that address), on the port the
// options say (80 / 443 unless a test overrides them), follows no redirect
// to another host, port or scheme, and bounds every validation in time and
// size.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "minica/acme/problem.hpp"
#include "minica/acme/resources.hpp"

namespace minica::acme {

struct ValidationTask {
    std::int64_t authz_id = 0;
    Identifier identifier;  // the base name (no "*."): what is validated
    ChallengeType type = ChallengeType::http_01;
    std::string token;
    std::string key_authorization;  // key_authorization(token, thumbprint)
};

struct ValidationResult {
    bool valid = false;
    std::optional<Problem> problem;  // set when !valid: dns, connection, tls, incorrectResponse, unauthorized...
    // validationRecord entries (§8.3: url, hostname, port, addressesResolved,
    // addressUsed), a JSON array.
    nlohmann::json record = nlohmann::json::array();
    // Cut short or never started (the validator is shutting down, or its
    // queue is full): no outcome to record; the authorization stays as it
    // is, for a restart or the client to retry.
    bool no_outcome = false;
};

class Validator {
public:
    virtual ~Validator() = default;
    // Starts a validation; `done` runs exactly once, on another thread --
    // or at once, in this thread, when the validator is shutting down (a
    // connection problem) or already holds queue_limit waiting tasks (a
    // rateLimited problem). Never throws for a bad target: that is a result.
    virtual void submit(ValidationTask task, std::function<void(ValidationResult)> done) = 0;
    // Cancels what is queued or running (each `done` is called with a
    // connection problem "server shutting down") and joins the threads.
    // Idempotent; not to be called from a `done` callback (it would join
    // the thread it runs on).
    virtual void shutdown() = 0;
};

struct ValidatorOptions {
    std::optional<std::string> dns_resolver;  // "127.0.0.1:5353"; unset: the system's resolver
    std::uint16_t http01_port = 80;
    std::uint16_t tls_alpn01_port = 443;
    std::chrono::milliseconds timeout{10'000};          // a whole validation
    std::chrono::milliseconds connect_timeout{5'000};   // each connection attempt
    std::size_t max_response_head = 4096;                // http-01: status line and headers
    std::size_t max_response_body = 1024;                // http-01: the key authorization and some slack
    int max_redirects = 3;                               // same host, port and scheme only
    int threads = 4;
    std::size_t queue_limit = 1024;  // beyond it: a rateLimited result at once
};

std::unique_ptr<Validator> make_validator(const ValidatorOptions& options);

}  // namespace minica::acme
