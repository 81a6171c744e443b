// tls-alpn-01 (RFC 8737, RFC 8738 §6): a TLS handshake offering only ALPN
// "acme-tls/1", with the name validated as SNI (an IP identifier: its
// reverse-DNS name), then the certificate checked by checks.hpp's
// check_tls_alpn01_certificate. The certificate is self-signed by design,
// so no chain is verified (tls.hpp's make_acme_validation_context says so).
#include <string>

#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "minica/acme/resources.hpp"
#include "minica/acme/detail/checks.hpp"
#include "minica/acme/detail/validation.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica::acme::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

constexpr std::string_view kAcmeTls1 = "acme-tls/1";

Problem tls_problem(std::string detail) { return Problem::make(ProblemType::tls, std::move(detail)); }

}  // namespace

ValidationResult validate_tls_alpn01(Context& c, const ValidationTask& task) {
    ValidationResult result;
    const Identifier& id = task.identifier;
    const std::uint16_t port = c.options.tls_alpn01_port;
    const std::string sni = id.type == IdentifierType::ip ? reverse_dns_name(id.value) : id.value;

    auto resolved = addresses_of(c, id);
    if (auto* p = std::get_if<Problem>(&resolved)) {
        result.problem = std::move(*p);
        return result;
    }
    const auto& addresses = std::get<std::vector<std::string>>(resolved);
    nlohmann::json entry = {{"hostname", id.value}, {"port", std::to_string(port)}, {"addressesResolved", addresses}};
    auto fail = [&](Problem p) {
        result.record.push_back(std::move(entry));
        result.problem = std::move(p);
        return result;
    };

    beast::ssl_stream<beast::tcp_stream> stream(c.io.context(), c.tls);
    auto used = connect_first(c, stream.next_layer(), addresses, port, "tls-alpn-01");
    if (auto* p = std::get_if<Problem>(&used)) return fail(std::move(*p));
    const std::string& address = std::get<std::string>(used);
    entry["addressUsed"] = address;
    const std::string where = address.find(':') != std::string::npos
                                  ? "[" + address + "]:" + std::to_string(port)
                                  : address + ":" + std::to_string(port);

    if (SSL_set_tlsext_host_name(stream.native_handle(), sni.c_str()) != 1)
        throw_openssl(ErrorKind::tls, "tls-alpn-01: setting the server name " + sni);
    stream.next_layer().expires_at(c.deadline);
    bool done = false;
    error_code ec;
    stream.async_handshake(asio::ssl::stream_base::client, [&](const error_code& e) {
        ec = e;
        done = true;
    });
    c.io.run_until(done, [&] { stream.next_layer().close(); });
    ERR_clear_error();  // what a failed handshake left: ec carries the reason
    error_code ignored;
    stream.next_layer().socket().close(ignored);
    if (ec == beast::error::timeout)
        return fail(Problem::make(ProblemType::connection, "tls-alpn-01: " + where + ": no TLS handshake within " +
                                                               seconds_text(c.options.timeout)));
    if (ec) return fail(tls_problem("tls-alpn-01: TLS handshake with " + where + " (SNI " + sni + "): " + ec.message()));

    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn == nullptr ? 0 : alpn_len) != kAcmeTls1)
        return fail(tls_problem("tls-alpn-01: " + where + " did not select ALPN protocol acme-tls/1"));

    minica::detail::X509Ptr cert(SSL_get1_peer_certificate(stream.native_handle()));
    result.record.push_back(std::move(entry));
    result.problem = check_tls_alpn01_certificate(cert.get(), id, tls_alpn01_digest(task.key_authorization));
    result.valid = !result.problem;
    return result;
}

}  // namespace minica::acme::detail
