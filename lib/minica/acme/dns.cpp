// The validator's DNS over c-ares (acme/detail/dns.hpp).
//
// Deliberate choices:
// - Names are looked up fully qualified ("a.test."): a validation is about
//   exactly that name, never one completed by resolv.conf's search list.
// - With --dns-resolver, ARES_OPT_LOOKUPS "b": DNS only, so a test's or an
//   operator's resolver answers every lookup (as Pebble's -dnsserver), not
//   /etc/hosts.
// - c-ares is waited on with poll(), not select(): a busy server's file
//   descriptors go past FD_SETSIZE.
// - Each c-ares attempt times out after 2 s (2 tries): the validation's
//   own deadline bounds the whole lookup anyway.
#include "minica/acme/resources.hpp"
#include "minica/acme/detail/dns.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

#include "minica/acme/detail/checks.hpp"
#include "minica/acme/detail/validation.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica::acme::detail {

namespace {

// How often a wait looks at the stop flag.
constexpr std::chrono::milliseconds kStopPoll{100};

void library_init() {
    static std::once_flag once;
    static int status = ARES_SUCCESS;
    std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (status != ARES_SUCCESS)
        throw Error(ErrorKind::io, std::string("starting c-ares: ") + ares_strerror(status));
}

std::string fqdn(const std::string& name) { return !name.empty() && name.back() == '.' ? name : name + "."; }

Problem dns_problem(const std::string& what, const std::string& name, int status) {
    std::string why;
    switch (status) {
        case ARES_ENOTFOUND: why = "no such name (NXDOMAIN)"; break;
        case ARES_ENODATA: why = "no records"; break;
        case ARES_ESERVFAIL: why = "the server failed (SERVFAIL)"; break;
        case ARES_EREFUSED: why = "the server refused the query (REFUSED)"; break;
        case ARES_ETIMEOUT:
        case ARES_ECANCELLED: why = "timed out"; break;
        case ARES_ECONNREFUSED: why = "no DNS server answers (connection refused)"; break;
        default: why = ares_strerror(status);
    }
    return Problem::make(ProblemType::dns, "DNS " + what + " lookup of " + name + ": " + why);
}

struct AddrQuery {
    bool done = false;
    int status = ARES_SUCCESS;
    std::vector<std::string> v6, v4;
};

void on_addrinfo(void* arg, int status, int, ares_addrinfo* result) {
    auto* q = static_cast<AddrQuery*>(arg);
    q->done = true;
    q->status = status;
    if (result == nullptr) return;
    for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        if (n->ai_family == AF_INET6) {
            const auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
            if (inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text) != nullptr) q->v6.emplace_back(text);
        } else if (n->ai_family == AF_INET) {
            const auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
            if (inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text) != nullptr) q->v4.emplace_back(text);
        }
    }
    ares_freeaddrinfo(result);
}

struct TxtQuery {
    bool done = false;
    int status = ARES_SUCCESS;
    std::vector<std::string> records;
};

void on_txt(void* arg, int status, int, unsigned char* answer, int length) {
    auto* q = static_cast<TxtQuery*>(arg);
    q->done = true;
    q->status = status;
    if (status != ARES_SUCCESS) return;
    ares_txt_ext* txt = nullptr;
    q->status = ares_parse_txt_reply_ext(answer, length, &txt);
    if (q->status != ARES_SUCCESS) return;
    // One TXT record is one or more character-strings (RFC 1035 §3.3.14);
    // c-ares lists the strings and flags the first of each record.
    for (ares_txt_ext* t = txt; t != nullptr; t = t->next) {
        if (t->record_start || q->records.empty()) q->records.emplace_back();
        q->records.back().append(reinterpret_cast<const char*>(t->txt), t->length);
    }
    ares_free_data(txt);
}

template <class T> void dedupe(std::vector<T>& v) {
    std::vector<T> out;
    for (auto& x : v)
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(std::move(x));
    v = std::move(out);
}

}  // namespace

Resolver::Resolver(const std::optional<std::string>& server, const std::atomic<bool>* stop) : stop_(stop) {
    library_init();
    ares_options options{};
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    options.timeout = 2000;
    options.tries = 2;
    char lookups[] = "b";
    if (server) {
        options.lookups = lookups;
        mask |= ARES_OPT_LOOKUPS;
    }
    ares_channel channel = nullptr;
    int status = ares_init_options(&channel, &options, mask);
    if (status != ARES_SUCCESS) throw Error(ErrorKind::io, std::string("starting c-ares: ") + ares_strerror(status));
    channel_ = channel;
    if (server) {
        status = ares_set_servers_ports_csv(channel_, server->c_str());
        if (status != ARES_SUCCESS) {
            ares_destroy(channel_);
            throw Error(ErrorKind::invalid_argument,
                        "DNS resolver \"" + *server + "\": " + ares_strerror(status) + " (expected IP:port)");
        }
    }
}

Resolver::~Resolver() {
    if (channel_ != nullptr) ares_destroy(channel_);
}

void Resolver::wait(const bool* done, Clock::time_point deadline) {
    while (!*done) {
        auto now = Clock::now();
        if (now >= deadline || (stop_ != nullptr && stop_->load())) {
            ares_cancel(channel_);  // completes the queries with ARES_ECANCELLED
            return;
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
        pollfd fds[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
            short events = 0;
            if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
            if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
            if (events == 0) continue;
            fds[n++] = pollfd{.fd = socks[i], .events = events, .revents = 0};
        }
        // Sleep until c-ares' next retry, the deadline or the next look at
        // the stop flag, whichever comes first.
        auto limit = std::min<Clock::duration>(deadline - now, kStopPoll);
        timeval max{.tv_sec = 0, .tv_usec = static_cast<long>(
                                             std::chrono::duration_cast<std::chrono::microseconds>(limit).count())};
        timeval tv{};
        timeval* t = ares_timeout(channel_, &max, &tv);
        int ms = static_cast<int>(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
        int ready = ::poll(fds, n, ms);
        if (ready <= 0) {
            ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
            continue;
        }
        for (nfds_t i = 0; i < n; ++i) {
            if (fds[i].revents == 0) continue;
            bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
            bool writable = (fds[i].revents & POLLOUT) != 0;
            ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD, writable ? fds[i].fd : ARES_SOCKET_BAD);
        }
    }
}

std::variant<std::vector<std::string>, Problem> Resolver::addresses(const std::string& name,
                                                                     Clock::time_point deadline) {
    AddrQuery q;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(channel_, fqdn(name).c_str(), nullptr, &hints, on_addrinfo, &q);
    wait(&q.done, deadline);
    if (q.status != ARES_SUCCESS) return dns_problem("A/AAAA", name, q.status);
    dedupe(q.v6);
    dedupe(q.v4);
    std::vector<std::string> all = std::move(q.v6);  // AAAA first, as RFC 8555 §8.3 suggests (RFC 6555)
    all.insert(all.end(), q.v4.begin(), q.v4.end());
    if (all.empty()) return dns_problem("A/AAAA", name, ARES_ENODATA);
    return all;
}

std::variant<std::vector<std::string>, Problem> Resolver::txt(const std::string& name, Clock::time_point deadline) {
    TxtQuery q;
    ares_query(channel_, fqdn(name).c_str(), ns_c_in, ns_t_txt, on_txt, &q);
    wait(&q.done, deadline);
    if (q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA) return std::vector<std::string>{};
    if (q.status != ARES_SUCCESS) return dns_problem("TXT", name, q.status);
    return std::move(q.records);
}

// dns-01 (§8.4): the TXT records at _acme-challenge.<name>.
ValidationResult validate_dns01(Context& c, const ValidationTask& task) {
    ValidationResult result;
    const std::string name = "_acme-challenge." + task.identifier.value;
    result.record.push_back({{"hostname", task.identifier.value}});
    auto txts = c.resolver.txt(name, c.deadline);
    if (auto* p = std::get_if<Problem>(&txts)) {
        result.problem = std::move(*p);
        return result;
    }
    const std::string value = dns01_value(task.key_authorization);
    result.problem = check_dns01(std::get<std::vector<std::string>>(txts), name, value);
    result.valid = !result.problem;
    return result;
}

}  // namespace minica::acme::detail
