// http-01 (RFC 8555 §8.3): GET http://<name>:<port>/.well-known/acme-challenge/<token>
// with Boost.Beast.
//
// Deliberate choices (Pebble's VA follows redirects anywhere and reads any
// body; a CA that connects out on a client's behalf should not):
// - Only the identifier's own addresses are connected to (an IP identifier:
//   that address), IPv6 first, each attempt bounded by the connect timeout.
// - Redirects: at most max_redirects, only within http://host:port
//   (checks.hpp's redirect_allowed), always to the addresses already
//   resolved. A Location elsewhere is a connection problem naming it; it is
//   never connected to.
// - The response head and body are bounded (4 KiB and 1 KiB by default):
//   a key authorization is ~87 bytes, anything far larger is not one.
// - One request per connection (Connection: close), so that a redirect to
//   the same origin cannot reuse a connection the target kept in a strange
//   state.
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include "minica/detail/beast_http.hpp"

#include "minica/acme/detail/checks.hpp"
#include "minica/acme/detail/validation.hpp"
#include "minica/error.hpp"

namespace minica::acme::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using boost::system::error_code;

Problem connection(std::string detail) { return Problem::make(ProblemType::connection, std::move(detail)); }
Problem unauthorized(std::string detail) { return Problem::make(ProblemType::unauthorized, std::move(detail)); }

bool is_redirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Why reading a response failed, as a problem.
Problem read_failure(const error_code& ec, const std::string& url, const ValidatorOptions& o) {
    if (ec == bhttp::error::header_limit)
        return unauthorized("http-01: " + url + ": response head over " + std::to_string(o.max_response_head) +
                            " bytes");
    if (ec == bhttp::error::body_limit)
        return unauthorized("http-01: " + url + ": response body over " + std::to_string(o.max_response_body) +
                            " bytes");
    if (ec == beast::error::timeout)
        return connection("http-01: " + url + ": no complete response within " + seconds_text(o.timeout));
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof)
        return connection("http-01: " + url + ": the connection closed before a complete response");
    return connection("http-01: " + url + ": reading the response: " + ec.message());
}

}  // namespace

ValidationResult validate_http01(Context& c, const ValidationTask& task) {
    ValidationResult result;
    const auto& o = c.options;
    const Identifier& id = task.identifier;
    const bool v6 = id.type == IdentifierType::ip && id.value.find(':') != std::string::npos;
    const std::string host = v6 ? "[" + id.value + "]" : id.value;
    const std::uint16_t port = o.http01_port;
    const std::string host_header = port == 80 ? host : host + ":" + std::to_string(port);

    // The token goes into the request line: the service makes it base64url
    // (new_token); anything else is a bug upstream, not the target's fault.
    if (task.token.empty() || task.token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                           "0123456789-_") != std::string::npos)
        throw Error(ErrorKind::invalid_argument, "http-01: the token is not base64url");

    auto resolved = addresses_of(c, id);
    if (auto* p = std::get_if<Problem>(&resolved)) {
        result.problem = std::move(*p);
        return result;
    }
    const auto& addresses = std::get<std::vector<std::string>>(resolved);

    std::string target = "/.well-known/acme-challenge/" + task.token;
    for (int redirects = 0;; ++redirects) {
        const std::string url = "http://" + host_header + target;
        nlohmann::json entry = {{"url", url},
                                {"hostname", id.value},
                                {"port", std::to_string(port)},
                                {"addressesResolved", addresses}};
        auto fail = [&](Problem p) {
            result.record.push_back(std::move(entry));
            result.problem = std::move(p);
            return result;
        };

        beast::tcp_stream stream(c.io.context());
        auto used = connect_first(c, stream, addresses, port, "http-01");
        if (auto* p = std::get_if<Problem>(&used)) return fail(std::move(*p));
        entry["addressUsed"] = std::get<std::string>(used);

        bhttp::request<bhttp::empty_body> request(bhttp::verb::get, target, 11);
        request.set(bhttp::field::host, host_header);
        request.set(bhttp::field::user_agent, "minica-acme-validator");
        request.set(bhttp::field::accept, "*/*");
        request.set(bhttp::field::connection, "close");
        stream.expires_at(c.deadline);
        bool done = false;
        error_code ec;
        bhttp::async_write(stream, request, [&](const error_code& e, std::size_t) {
            ec = e;
            done = true;
        });
        c.io.run_until(done, [&] { stream.close(); });
        if (ec) {
            if (ec == beast::error::timeout)
                return fail(connection("http-01: " + url + ": sending the request timed out"));
            return fail(connection("http-01: " + url + ": sending the request: " + ec.message()));
        }

        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(o.max_response_head));
        parser.body_limit(static_cast<std::uint64_t>(o.max_response_body));
        // The head first: Beast 1.74 enforces body_limit on chunked and
        // close-delimited bodies but not against a Content-Length (the
        // parser reads a 10 MB body it was told to stop at 1 KiB), so a
        // declared length is checked here before any of the body is read.
        auto read = [&](auto start) {
            done = false;
            start([&](const error_code& e, std::size_t) {
                ec = e;
                done = true;
            });
            c.io.run_until(done, [&] { stream.close(); });
        };
        read([&](auto handler) { bhttp::async_read_header(stream, buffer, parser, handler); });
        if (!ec && parser.content_length() && *parser.content_length() > o.max_response_body)
            ec = bhttp::error::body_limit;
        if (!ec && !parser.is_done())
            read([&](auto handler) { bhttp::async_read(stream, buffer, parser, handler); });
        error_code ignored;
        stream.socket().close(ignored);
        if (ec) return fail(read_failure(ec, url, o));

        const auto& response = parser.get();
        const unsigned status = response.result_int();
        if (is_redirect(status)) {
            const std::string location(response[bhttp::field::location]);
            if (location.empty())
                return fail(unauthorized("http-01: " + url + " answered " + std::to_string(status) +
                                         " without a Location"));
            auto next = redirect_allowed(location, host, port);
            if (!next)
                return fail(connection("http-01: " + url + " redirected to " + quote_received(location, 256) +
                                       ": only redirects to the same host, port and scheme (" + "http://" +
                                       host_header + ") are followed"));
            if (redirects >= o.max_redirects)
                return fail(connection("http-01: " + url + ": more than " + std::to_string(o.max_redirects) +
                                       " redirects"));
            result.record.push_back(std::move(entry));
            target = std::move(*next);
            continue;
        }
        if (status != 200) {
            return fail(unauthorized("http-01: " + url + " answered " + std::to_string(status) + ", not 200"));
        }
        result.record.push_back(std::move(entry));
        result.problem = check_http01_body(response.body(), task.key_authorization);
        result.valid = !result.problem;
        return result;
    }
}

}  // namespace minica::acme::detail
