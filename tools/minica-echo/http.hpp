// minica-echo serve --http: just enough HTTP/1.1 for curl and browsers.
// Requests are parsed by Boost.Beast's parser (http.cpp); responses are
// Beast messages. The server takes no request bodies.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace echo::http {

struct Request {
    std::string method;
    std::string target;
    std::string version;  // "HTTP/1.1"
    // 0, or the status a request that cannot be served gets (400 malformed,
    // 431 a head over the limit), with Beast's reason for the log.
    int refused = 0;
    std::string why;
    bool close = false;     // "Connection: close", or HTTP/1.0 without keep-alive
    bool has_body = false;  // Content-Length > 0 or Transfer-Encoding: we take no bodies
};

// Takes requests off the front of a connection's decrypted bytes with Beast's
// request parser (a fresh one per request; the head at most `max_head` bytes).
class RequestReader {
public:
    explicit RequestReader(std::size_t max_head);
    ~RequestReader();
    RequestReader(RequestReader&&) noexcept;
    RequestReader& operator=(RequestReader&&) noexcept;

    // The next request at the front of `in`, whose head it erases from `in`;
    // nullopt while `in` holds no whole request head. Bodies are never read:
    // a request with one is answered and the connection closed.
    std::optional<Request> next(std::string& in);

private:
    struct Parser;
    std::unique_ptr<Parser> parser_;  // while a request head is incomplete
    std::size_t max_head_;
};

struct PeerInfo {
    std::string version, cipher;                               // TLS
    std::string subject, issuer, serial, names, not_after;     // client certificate
};

struct Response {
    int status = 200;
    std::string bytes;  // status line, headers, body
    bool close = false;
};

Response respond(const Request& request, const PeerInfo& peer);

}  // namespace echo::http
