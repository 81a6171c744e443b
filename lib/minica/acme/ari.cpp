#include "minica/acme/ari.hpp"

#include <algorithm>

#include "minica/certificate.hpp"
#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"

namespace minica::acme {

namespace {

using detail::base64url_decode;
using detail::base64url_encode;

std::string_view as_chars(const ASN1_STRING* s) {
    return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

// Why the serial content octets are not a positive canonical DER INTEGER, or "".
std::string_view non_canonical(std::string_view content) {
    auto octet = [&](std::size_t i) { return static_cast<unsigned char>(content[i]); };
    if (octet(0) & 0x80) return "serial is negative";
    if (octet(0) == 0 && content.size() == 1) return "serial is zero";
    if (octet(0) == 0 && !(octet(1) & 0x80)) return "serial has a superfluous leading zero octet";
    return {};
}

}  // namespace

std::string format_cert_id(std::string_view key_identifier, std::string_view serial_hex) {
    if (key_identifier.empty()) throw Error(ErrorKind::invalid_argument, "ARI certID: empty key identifier");
    // The DER writer adds the 0x00 a high bit asks for; the content is what follows tag and length.
    detail::der::Writer w;
    w.unsigned_integer(detail::serial_bytes(serial_hex));
    std::string_view der = w.str();
    std::uint8_t tag = 0;
    std::string_view content;
    if (!detail::der::next(der, tag, content)) detail::throw_der_error("ARI certID serial");
    return base64url_encode(key_identifier) + "." + base64url_encode(content);
}

std::string cert_id(const Certificate& cert) {
    const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert.native());
    if (aki == nullptr || ASN1_STRING_length(aki) == 0)
        throw Error(ErrorKind::invalid_argument,
                    "ARI certID: certificate " + cert.serial_hex() + " has no authority key identifier");
    return format_cert_id(as_chars(aki), cert.serial_hex());
}

CertId parse_cert_id(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return Error(ErrorKind::parse, "ARI certID " + quote(text) + ": " + std::string(why));
    };
    std::size_t dot = text.find('.');
    if (dot == std::string_view::npos) throw bad("no \".\" between key identifier and serial");
    std::string_view aki_text = text.substr(0, dot), serial_text = text.substr(dot + 1);
    if (aki_text.empty()) throw bad("empty key identifier");
    if (serial_text.empty()) throw bad("empty serial");
    auto aki = base64url_decode(aki_text);
    if (!aki) throw bad("key identifier is not base64url (RFC 4648 §5, no padding)");
    auto serial = base64url_decode(serial_text);  // a second '.' fails here too
    if (!serial) throw bad("serial is not base64url (RFC 4648 §5, no padding)");
    if (auto why = non_canonical(*serial); !why.empty()) throw bad(why);
    try {
        return {std::move(*aki), normalize_serial_hex(detail::serial_hex_of_bytes(*serial))};
    } catch (const Error&) {  // the one serial rule: at most 20 octets
        throw bad("serial is longer than 20 octets");
    }
}

RenewalWindow suggested_window(Time not_before, Time not_after, bool revoked, Time now) {
    using namespace std::chrono;
    if (revoked) return {now - days{2}, now - days{1}};
    auto life = not_after - not_before;
    Time ideal = not_before + life * 2 / 3;
    RenewalWindow w{std::max(ideal - life / 20, not_before), std::min(ideal + life / 20, not_after)};
    if (w.end <= w.start) w.end = w.start + seconds{1};  // a lifetime under 20 s (or none)
    return w;
}

nlohmann::json to_json(const RenewalWindow& window) {
    return {{"suggestedWindow", {{"start", format_time(window.start)}, {"end", format_time(window.end)}}}};
}

}  // namespace minica::acme
