// The validator's pure checks (RFC 8555 §8.3-8.4, RFC 8737, RFC 8738):
// what a response must be for a challenge to pass, apart from the network
// code that fetches it, so that each rule is table-tested on its own.
// Internal (not installed).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/acme/problem.hpp"
#include "minica/acme/resources.hpp"

typedef struct x509_st X509;

namespace minica::acme::detail {

// http-01 (§8.3): the body, trailing " \t\r\n" trimmed (as Boulder and
// Pebble do: an echo or a text editor adds a newline), must equal the key
// authorization exactly. nullopt when it does; else incorrectResponse
// quoting at most 64 characters of what came back.
std::optional<Problem> check_http01_body(std::string_view body, std::string_view key_authorization);

// tls-alpn-01 (RFC 8737 §3): the certificate has exactly one subjectAltName
// extension holding exactly one name, the identifier (a dNSName compared
// without case, or the iPAddress of an IP identifier), and exactly one
// acmeIdentifier extension (1.3.6.1.5.5.7.1.31), critical, whose value is a
// DER OCTET STRING of 32 bytes equal to `digest` (SHA-256 of the key
// authorization, compared in constant time). nullopt when it passes; else
// incorrectResponse saying which rule failed.
std::optional<Problem> check_tls_alpn01_certificate(X509* cert, const Identifier& id, std::string_view digest);

// dns-01 (§8.4): one of the TXT records at `name` (each record's
// character-strings joined) must equal `value`. nullopt when one does; else
// unauthorized naming the name and how many records were found.
std::optional<Problem> check_dns01(const std::vector<std::string>& txts, std::string_view name,
                                   std::string_view value);

// Where a redirect may go (§8.3 lets a server follow redirects; we follow
// them only within the origin validated, so that a challenge response
// cannot make the CA connect to another host, port or protocol): the
// origin-form target ("/path?query") to request next, or nullopt when the
// Location leaves http://host:port or cannot be read without guessing.
// `host` is as written in a URL (an IPv6 address bracketed), lower case.
// Accepted: an absolute path ("/x"), a network-path ("//host:port/x") or an
// absolute URI ("http://host:port/x"), scheme and host compared without
// case (RFC 3986 §3.1, §3.2.2), a missing or empty port meaning 80; the
// fragment dropped. Refused: any other scheme, userinfo ("user@"),
// backslashes (browsers read them as "/", so the origin would be
// ambiguous), a relative path ("x"), whitespace, control or non-ASCII
// characters, and a target over 2048 characters.
std::optional<std::string> redirect_allowed(std::string_view location, std::string_view host,
                                            std::uint16_t port);

// RFC 8738 §6: the reverse-DNS name an IP identifier's tls-alpn-01 SNI
// carries ("4.3.2.1.in-addr.arpa", or the 32-nibble ".ip6.arpa" form).
// Error(invalid_argument) when `ip` is not an IPv4 or IPv6 address.
std::string reverse_dns_name(std::string_view ip);

// Text a peer sent, for a problem's detail: in double quotes, at most `max`
// bytes (then how many there were), quotes and backslashes escaped, bytes
// outside printable ASCII as \xNN -- a detail is JSON a person reads (and
// must be valid UTF-8), while the peer sends whatever it likes.
std::string quote_received(std::string_view s, std::size_t max = 64);

}  // namespace minica::acme::detail
