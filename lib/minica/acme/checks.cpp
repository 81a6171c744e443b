// The validator's pure checks (acme/detail/checks.hpp). Certificates are
// read through OpenSSL only (X509_get_ext_d2i, d2i_ASN1_OCTET_STRING): no
// DER is parsed by hand here.
#include "minica/acme/detail/checks.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cstdio>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica::acme::detail {

namespace {

using minica::detail::Ptr;

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

Problem incorrect(std::string detail) { return Problem::make(ProblemType::incorrect_response, std::move(detail)); }

// The one SAN of an acme-tls/1 certificate, checked against the identifier.
std::optional<Problem> check_san(X509* cert, const Identifier& id) {
    int crit = -1;
    Ptr<GENERAL_NAMES> sans(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
    if (!sans) {
        if (crit == -2) return incorrect("tls-alpn-01: the certificate has more than one subjectAltName extension");
        if (crit == -1) return incorrect("tls-alpn-01: the certificate has no subjectAltName extension");
        return incorrect("tls-alpn-01: the certificate's subjectAltName extension cannot be read");
    }
    int count = sk_GENERAL_NAME_num(sans.get());
    if (count != 1)
        return incorrect("tls-alpn-01: the certificate has " + std::to_string(count) +
                         " subjectAltNames, RFC 8737 requires exactly one (" + id.value + ")");
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), 0);
    if (id.type == IdentifierType::dns) {
        if (gn->type != GEN_DNS)
            return incorrect("tls-alpn-01: the certificate's subjectAltName is not a dNSName (expected " +
                             id.value + ")");
        const ASN1_STRING* s = gn->d.dNSName;
        std::string_view got(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
        if (!iequals(got, id.value))
            return incorrect("tls-alpn-01: the certificate names " + quote_received(got) + ", not " + id.value);
        return std::nullopt;
    }
    if (gn->type != GEN_IPADD)
        return incorrect("tls-alpn-01: the certificate's subjectAltName is not an iPAddress (expected " +
                         id.value + ")");
    Ptr<ASN1_STRING> want(a2i_IPADDRESS(id.value.c_str()));
    if (!want) throw Error(ErrorKind::invalid_argument, "tls-alpn-01: identifier " + id.value + " is not an IP address");
    if (ASN1_STRING_cmp(want.get(), gn->d.iPAddress) != 0)
        return incorrect("tls-alpn-01: the certificate's iPAddress is not " + id.value);
    return std::nullopt;
}

}  // namespace

std::string quote_received(std::string_view s, std::size_t max) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    if (s.size() > max)
        out += " (" + std::to_string(s.size()) + " bytes, the first " + std::to_string(max) + " shown)";
    return out;
}

std::optional<Problem> check_http01_body(std::string_view body, std::string_view key_authorization) {
    std::string_view trimmed = body;
    while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t' || trimmed.back() == '\r' ||
                                trimmed.back() == '\n'))
        trimmed.remove_suffix(1);
    if (trimmed == key_authorization) return std::nullopt;
    return incorrect("http-01: the response body " + quote_received(body) + " is not the key authorization");
}

std::optional<Problem> check_tls_alpn01_certificate(X509* cert, const Identifier& id, std::string_view digest) {
    if (cert == nullptr) return incorrect("tls-alpn-01: the server sent no certificate");
    if (auto p = check_san(cert, id)) return p;

    Ptr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    if (!oid) throw_openssl(ErrorKind::crypto, "tls-alpn-01: the id-pe-acmeIdentifier OID");
    int index = X509_get_ext_by_OBJ(cert, oid.get(), -1);
    if (index < 0) return incorrect("tls-alpn-01: the certificate has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)");
    if (X509_get_ext_by_OBJ(cert, oid.get(), index) >= 0)
        return incorrect("tls-alpn-01: the certificate has more than one acmeIdentifier extension");
    X509_EXTENSION* ext = X509_get_ext(cert, index);
    // RFC 8737 §3: "MUST be critical", so that a relying party that does
    // not know it refuses the certificate for anything else.
    if (X509_EXTENSION_get_critical(ext) != 1)
        return incorrect("tls-alpn-01: the acmeIdentifier extension is not critical");
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
    const unsigned char* p = ASN1_STRING_get0_data(value);
    const long len = ASN1_STRING_length(value);
    const unsigned char* const end = p + len;
    Ptr<ASN1_STRING> inner(d2i_ASN1_OCTET_STRING(nullptr, &p, len));
    if (!inner || p != end) {
        ERR_clear_error();
        return incorrect("tls-alpn-01: the acmeIdentifier extension is not one DER OCTET STRING");
    }
    if (ASN1_STRING_length(inner.get()) != 32)
        return incorrect("tls-alpn-01: the acmeIdentifier holds " + std::to_string(ASN1_STRING_length(inner.get())) +
                         " bytes, not a 32-byte SHA-256");
    if (digest.size() != 32 || CRYPTO_memcmp(ASN1_STRING_get0_data(inner.get()), digest.data(), 32) != 0)
        return incorrect("tls-alpn-01: the acmeIdentifier is not the SHA-256 of the key authorization");
    return std::nullopt;
}

std::optional<Problem> check_dns01(const std::vector<std::string>& txts, std::string_view name,
                                   std::string_view value) {
    for (const auto& txt : txts)
        if (txt == value) return std::nullopt;
    std::string detail = "dns-01: no TXT record at " + std::string(name) + " matches the key authorization (" +
                         std::to_string(txts.size()) + (txts.size() == 1 ? " record" : " records") + " found)";
    return Problem::make(ProblemType::unauthorized, std::move(detail));
}

std::optional<std::string> redirect_allowed(std::string_view location, std::string_view host, std::uint16_t port) {
    if (location.empty() || location.size() > 2048) return std::nullopt;
    for (char ch : location) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '\\') return std::nullopt;
    }
    if (auto hash = location.find('#'); hash != std::string_view::npos) location = location.substr(0, hash);

    std::string_view rest = location;
    if (rest.size() >= 2 && rest[0] == '/' && rest[1] == '/') {
        rest.remove_prefix(2);  // network-path reference: the scheme stays http
    } else if (!rest.empty() && rest[0] == '/') {
        return std::string(rest);  // absolute path: same origin by construction
    } else {
        auto colon = rest.find(':');
        if (colon == std::string_view::npos || !iequals(rest.substr(0, colon), "http")) return std::nullopt;
        rest.remove_prefix(colon + 1);
        if (rest.size() < 2 || rest[0] != '/' || rest[1] != '/') return std::nullopt;
        rest.remove_prefix(2);
    }
    // rest: authority [path-abempty] [?query]
    std::size_t auth_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, auth_end);
    std::string target = auth_end == std::string_view::npos ? "/" : std::string(rest.substr(auth_end));
    if (target[0] == '?') target.insert(0, "/");
    if (authority.find('@') != std::string_view::npos) return std::nullopt;

    std::string_view h = authority;
    std::string_view port_text;
    if (!authority.empty() && authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        h = authority.substr(0, close + 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return std::nullopt;
            port_text = after.substr(1);
        }
    } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
        h = authority.substr(0, colon);
        port_text = authority.substr(colon + 1);
    }
    if (h.empty() || !iequals(h, host)) return std::nullopt;
    unsigned long p = 80;  // RFC 3986 §3.2.3: an empty port is the scheme's default
    if (!port_text.empty()) {
        if (port_text.size() > 5) return std::nullopt;
        p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return std::nullopt;
            p = p * 10 + static_cast<unsigned long>(c - '0');
        }
    }
    if (p != port) return std::nullopt;
    return target;
}

std::string reverse_dns_name(std::string_view ip) {
    std::string text(ip);
    std::array<unsigned char, 16> raw{};
    std::string out;
    if (inet_pton(AF_INET, text.c_str(), raw.data()) == 1) {
        for (int i = 3; i >= 0; --i) out += std::to_string(raw[static_cast<std::size_t>(i)]) + ".";
        return out + "in-addr.arpa";
    }
    if (inet_pton(AF_INET6, text.c_str(), raw.data()) == 1) {
        constexpr char kHex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; --i) {
            unsigned char b = raw[static_cast<std::size_t>(i)];
            out += kHex[b & 0x0f];
            out += '.';
            out += kHex[b >> 4];
            out += '.';
        }
        return out + "ip6.arpa";
    }
    throw Error(ErrorKind::invalid_argument, "reverse DNS name: \"" + text + "\" is not an IP address");
}

}  // namespace minica::acme::detail
