// minica-echo serve --http: just enough HTTP/1.1 for curl and browsers.
#pragma once

#include <string>
#include <string_view>

namespace echo::http {

struct Request {
    std::string method;
    std::string target;
    std::string version;  // "HTTP/1.1"
    bool valid = false;
    bool close = false;     // "Connection: close", or HTTP/1.0 without keep-alive
    bool has_body = false;  // Content-Length > 0 or Transfer-Encoding: we take no bodies
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

Request parse_request(std::string_view head);  // the request head, without the final CRLFCRLF
Response respond(const Request& request, const PeerInfo& peer);
std::string error_response(int status, std::string_view reason);  // with Connection: close

}  // namespace echo::http
