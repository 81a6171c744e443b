// minica-echo --http's request reader (tools/minica-echo/http.cpp, Beast's
// request_parser underneath) driven as its server drives it
// (server.cpp Connection::consume_http): bytes arrive in chunks, complete
// requests are taken off the front and answered until one closes the connection.
//
// The first byte picks the delivery: its low 6 bits the chunk size (0: all at
// once), bit 6 a 256-byte head limit instead of the server's default 16384
// (--max-line), to reach the 431 path. The rest is the connection's bytes.
// Promises: no exception; an answer is a well-formed HTTP/1.1 response; a
// request that keeps the connection open consumed bytes (else the server
// would answer it forever); the request target never reaches the page unescaped.
#include <optional>

#include "common.hpp"
#include "http.hpp"

namespace {

namespace http = echo::http;

const http::PeerInfo& peer() {
    static const http::PeerInfo p{.version = "TLSv1.3", .cipher = "TLS_AES_128_GCM_SHA256",
                                  .subject = "CN=<b>alice</b>", .issuer = "CN=minica root CA",
                                  .serial = "01", .names = "DNS:alice.test", .not_after = "2030-01-01T00:00:00Z"};
    return p;
}

void check_response(const http::Request& request, const http::Response& response) {
    fuzz::require(response.bytes.rfind("HTTP/1.1 " + std::to_string(response.status) + " ", 0) == 0,
                  "the response does not start with its status line");
    fuzz::require(response.bytes.find("\r\n\r\n") != std::string::npos, "the response has no end of head");
    if (request.refused != 0) {
        fuzz::require(response.status == request.refused && response.close, "a refused request was not answered with its status and a close");
        return;
    }
    // The page's "path" row shows the target: escaped, it holds none of < > " '.
    static constexpr std::string_view row = "<th align=\"left\">path</th><td>";
    std::size_t start = response.bytes.find(row);
    if (start == std::string::npos) return;
    start += row.size();
    std::size_t end = response.bytes.find("</td>", start);
    fuzz::require(end != std::string::npos &&
                      response.bytes.substr(start, end - start).find_first_of("<>\"'") == std::string::npos,
                  "the request target appears unescaped in the page");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = data[0] & 0x3f;
    std::size_t max_head = (data[0] & 0x40) ? 256 : 16384;
    std::string_view bytes = fuzz::as_text(data + 1, size - 1);
    if (chunk == 0) chunk = bytes.size();

    http::RequestReader reader(max_head);
    std::string in;
    bool closed = false;
    for (std::size_t pos = 0; pos < bytes.size() && !closed; pos += chunk) {
        in.append(bytes.substr(pos, chunk));
        while (!closed) {
            std::size_t before = in.size();
            std::optional<http::Request> request;
            fuzz::attempt("RequestReader::next", [&] { request = reader.next(in); });
            if (!request) break;
            http::Response response;
            fuzz::attempt("respond", [&] { response = http::respond(*request, peer()); });
            check_response(*request, response);
            if (response.close) {
                closed = true;
                in.clear();
            } else {
                fuzz::require(in.size() < before, "a request that keeps the connection open consumed no bytes");
            }
        }
    }
    return 0;
}
