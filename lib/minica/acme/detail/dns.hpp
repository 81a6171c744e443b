// The validator's DNS (c-ares): addresses for http-01 and tls-alpn-01,
// TXT records for dns-01. Internal (not installed).
//
// One Resolver per worker thread, driven synchronously: the worker polls
// c-ares' sockets until the answer or the deadline. Nothing else runs on a
// worker while it waits, so an event loop would buy nothing here.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "minica/acme/problem.hpp"

struct ares_channeldata;

namespace minica::acme::detail {

using Clock = std::chrono::steady_clock;

class Resolver {
public:
    // `server` ("127.0.0.1:5353", "[::1]:53"): every lookup goes there and
    // only there (no /etc/hosts either: ARES_OPT_LOOKUPS "b"); unset: the
    // system's resolv.conf and hosts. `stop` (may be null) cuts a lookup
    // short when it turns true. Error(invalid_argument) for a server c-ares
    // cannot read, Error(io) when c-ares cannot start.
    explicit Resolver(const std::optional<std::string>& server, const std::atomic<bool>* stop = nullptr);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // The addresses of `name` (A and AAAA), IPv6 first, as text; a dns
    // problem naming the name for NXDOMAIN, no address, SERVFAIL, refusal
    // or timeout.
    std::variant<std::vector<std::string>, Problem> addresses(const std::string& name, Clock::time_point deadline);
    // The TXT records at `name`, each record's character-strings joined;
    // none for NXDOMAIN or no data; a dns problem for SERVFAIL, refusal or
    // timeout.
    std::variant<std::vector<std::string>, Problem> txt(const std::string& name, Clock::time_point deadline);

private:
    // Runs c-ares until `*done` or the deadline / stop (then cancels the
    // queries, which completes them with ARES_ECANCELLED).
    void wait(const bool* done, Clock::time_point deadline);

    ares_channeldata* channel_ = nullptr;
    const std::atomic<bool>* stop_;
};

}  // namespace minica::acme::detail
