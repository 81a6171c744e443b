#include "http.hpp"

#include <algorithm>
#include <cctype>

namespace echo::http {
namespace {

// Strict-Transport-Security for a year: the page exists to show that the
// certificates work in a browser, and HSTS is what a real site would send.
constexpr std::string_view kHsts = "max-age=31536000";

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string head(int status, std::string_view reason, std::string_view type, std::size_t length, bool close,
                 std::string_view extra = {}) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    h += "Server: minica-echo\r\n";
    h += "Strict-Transport-Security: " + std::string(kHsts) + "\r\n";
    h += "Content-Type: " + std::string(type) + "\r\n";
    h += "Content-Length: " + std::to_string(length) + "\r\n";
    h += "Cache-Control: no-store\r\n";
    h += "X-Content-Type-Options: nosniff\r\n";
    h += extra;
    if (close) h += "Connection: close\r\n";
    h += "\r\n";
    return h;
}

}  // namespace

Request parse_request(std::string_view text) {
    Request r;
    auto eol = text.find("\r\n");
    std::string_view line = text.substr(0, eol);
    std::string_view rest = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 2);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
        r.close = true;
        return r;
    }
    r.method = std::string(line.substr(0, sp1));
    r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    r.version = std::string(line.substr(sp2 + 1));
    r.valid = (r.version == "HTTP/1.1" || r.version == "HTTP/1.0") && !r.method.empty() && !r.target.empty() &&
              r.target.find(' ') == std::string::npos;
    bool keep_alive = false;
    while (!rest.empty()) {
        auto e = rest.find("\r\n");
        std::string_view h = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
        auto colon = h.find(':');
        if (colon == std::string_view::npos) {
            r.valid = false;
            continue;
        }
        std::string name = lower(trim(h.substr(0, colon)));
        std::string value = lower(trim(h.substr(colon + 1)));
        if (name == "connection") {
            if (value.find("close") != std::string::npos) r.close = true;
            if (value.find("keep-alive") != std::string::npos) keep_alive = true;
        } else if (name == "content-length") {
            if (value != "0") r.has_body = true;
        } else if (name == "transfer-encoding") {
            r.has_body = true;
        }
    }
    if (r.version == "HTTP/1.0" && !keep_alive) r.close = true;
    if (!r.valid) r.close = true;
    return r;
}

std::string error_response(int status, std::string_view reason) {
    std::string body = std::to_string(status) + " " + std::string(reason) + "\n";
    return head(status, reason, "text/plain; charset=utf-8", body.size(), true) + body;
}

Response respond(const Request& request, const PeerInfo& peer) {
    Response r;
    if (!request.valid) {
        r.status = 400;
        r.bytes = error_response(400, "Bad Request");
        r.close = true;
        return r;
    }
    if (request.has_body) {
        // We do not read bodies; the connection cannot be reused after one.
        r.status = 413;
        r.bytes = error_response(413, "Content Too Large");
        r.close = true;
        return r;
    }
    if (request.method != "GET" && request.method != "HEAD") {
        r.status = 405;
        std::string body = "405 Method Not Allowed\n";
        r.bytes = head(405, "Method Not Allowed", "text/plain; charset=utf-8", body.size(), request.close,
                       "Allow: GET, HEAD\r\n") +
                  body;
        r.close = request.close;
        return r;
    }
    std::string body =
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>minica-echo</title></head>\n"
        "<body>\n<h1>minica-echo</h1>\n<p>Hello, <b>" +
        escape(peer.subject.empty() ? "anonymous" : peer.subject) + "</b>.</p>\n<table>\n" +
        "<tr><th align=\"left\">TLS</th><td>" + escape(peer.version) + ", " + escape(peer.cipher) + "</td></tr>\n" +
        "<tr><th align=\"left\">client certificate</th><td>" + escape(peer.subject) + "</td></tr>\n" +
        "<tr><th align=\"left\">issuer</th><td>" + escape(peer.issuer) + "</td></tr>\n" +
        "<tr><th align=\"left\">serial</th><td>" + escape(peer.serial) + "</td></tr>\n" +
        "<tr><th align=\"left\">names</th><td>" + escape(peer.names) + "</td></tr>\n" +
        "<tr><th align=\"left\">expires</th><td>" + escape(peer.not_after) + "</td></tr>\n" +
        "<tr><th align=\"left\">path</th><td>" + escape(request.target) + "</td></tr>\n" +
        "</table>\n</body>\n</html>\n";
    r.close = request.close;
    r.bytes = head(200, "OK", "text/html; charset=utf-8", body.size(), request.close);
    if (request.method == "GET") r.bytes += body;
    return r;
}

}  // namespace echo::http
