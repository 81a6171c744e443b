#include "http.hpp"

#include <algorithm>
#include <cstdint>
#include <sstream>

#include "minica/detail/beast_http.hpp"  // Beast's HTTP, GCC's false warning in it silenced

namespace echo::http {
namespace {

namespace bhttp = boost::beast::http;
using Message = bhttp::response<bhttp::string_body>;

// Strict-Transport-Security for a year: the page exists to show that the
// certificates work in a browser, and HSTS is what a real site would send.
constexpr std::string_view kHsts = "max-age=31536000";

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

// The headers every answer carries, in this order (the tests read them).
Message message(int status, std::string_view type, std::string body) {
    Message m{static_cast<bhttp::status>(status), 11};
    m.set(bhttp::field::server, "minica-echo");
    m.set(bhttp::field::strict_transport_security, kHsts);
    m.set(bhttp::field::content_type, type);
    m.content_length(body.size());
    m.set(bhttp::field::cache_control, "no-store");
    m.set("X-Content-Type-Options", "nosniff");
    m.body() = std::move(body);
    return m;
}

Response finish(Message& m, bool close, bool head_only) {
    if (close) m.keep_alive(false);  // Connection: close
    std::ostringstream out;
    if (head_only)
        out << m.base();  // HEAD: the GET's Content-Length, no body
    else
        out << m;
    return Response{.status = static_cast<int>(m.result_int()), .bytes = out.str(), .close = close};
}

Response error_response(int status) {
    std::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    Message m = message(status, "text/plain; charset=utf-8", std::to_string(status) + " " + std::string(reason) + "\n");
    return finish(m, true, false);
}

}  // namespace

struct RequestReader::Parser {
    bhttp::request_parser<bhttp::empty_body> parser;
};

RequestReader::RequestReader(std::size_t max_head) : max_head_(max_head) {}
RequestReader::~RequestReader() = default;
RequestReader::RequestReader(RequestReader&&) noexcept = default;
RequestReader& RequestReader::operator=(RequestReader&&) noexcept = default;

std::optional<Request> RequestReader::next(std::string& in) {
    if (in.empty()) return std::nullopt;
    if (!parser_) {
        // Kept while the head is incomplete: the parser remembers how far it
        // has looked for the blank line, so a head sent a byte at a time is
        // scanned once, not once per byte.
        parser_ = std::make_unique<Parser>();
        parser_->parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max_head_, UINT32_MAX)));
    }
    auto& parser = parser_->parser;
    boost::beast::error_code ec;
    // Not eager: put() stops at the end of the head, so a body is never read.
    std::size_t used = parser.put(boost::asio::buffer(in), ec);
    if (ec == bhttp::error::need_more) return std::nullopt;
    Request r;
    if (ec) {
        r.refused = ec == bhttp::error::header_limit ? 431 : 400;
        r.why = ec.message();
        r.close = true;
        parser_.reset();
        return r;
    }
    in.erase(0, used);
    const auto& head = parser.get();
    r.method = std::string(head.method_string());
    r.target = std::string(head.target());
    r.version = "HTTP/" + std::to_string(head.version() / 10) + "." + std::to_string(head.version() % 10);
    if (head.version() != 10 && head.version() != 11) {
        r.refused = 400;
        r.why = "unsupported version " + r.version;
    }
    r.has_body = parser.chunked() || parser.content_length().value_or(0) > 0 ||
                 head.count(bhttp::field::transfer_encoding) > 0;
    r.close = !parser.keep_alive() || r.refused != 0;
    parser_.reset();  // a parser reads one message
    return r;
}

Response respond(const Request& request, const PeerInfo& peer) {
    if (request.refused != 0) return error_response(request.refused);
    // We do not read bodies; the connection cannot be reused after one.
    if (request.has_body) return error_response(413);
    if (request.method != "GET" && request.method != "HEAD") {
        Message m = message(405, "text/plain; charset=utf-8", "405 Method Not Allowed\n");
        m.set(bhttp::field::allow, "GET, HEAD");
        return finish(m, request.close, false);
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
    Message m = message(200, "text/html; charset=utf-8", std::move(body));
    return finish(m, request.close, request.method == "HEAD");
}

}  // namespace echo::http
