// ACME Renewal Information (RFC 9773): the certificate identifier a client
// puts in a renewalInfo URL and in a new order's "replaces", and the
// renewal window the server suggests. Internal (not installed).
//
// A certID (RFC 9773 §4.1) is base64url(the AKI extension's keyIdentifier
// octets) "." base64url(the serial's DER INTEGER content octets): the
// serial with the leading 0x00 DER gives it when its high bit is set.
//
// Deliberate choices:
// - parse_cert_id is strict, so each certificate has one certID (the server
//   compares them as text in "replaces"): both parts non-empty, strict
//   base64url (detail::base64url_decode), and the serial a canonical DER
//   INTEGER content: positive, no superfluous leading 0x00, at most 20
//   octets of magnitude (normalize_serial_hex's rule, RFC 5280 §4.1.2.2).
// - The window starts two thirds into the certificate's life, as Let's
//   Encrypt's certbot renews 90-day certificates 30 days before expiry and
//   Pebble centres its window at notAfter - lifetime/3
//   (core/types.go RenewalInfoSimple). It is lifetime/10 wide (Pebble: 2
//   days), so a short-lived certificate gets a window it can use and a
//   batch issued at once spreads its renewals (the load spikes ARI exists to avoid).
// - A revoked certificate gets a window wholly in the past, [now - 2 d,
//   now - 1 d]: RFC 9773 §4.2 clients renew at once when the window has
//   passed, and two days of slack hold for a client whose clock is a day
//   behind. The end is never at or before the start (§4.2 makes such a
//   response invalid).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "minica/types.hpp"

namespace minica {
class Certificate;
}

namespace minica::acme {

struct CertId {
    std::string key_identifier;  // the AKI keyIdentifier octets
    std::string serial_hex;      // Certificate::serial_hex() form: upper case, no leading zeros
    friend bool operator==(const CertId&, const CertId&) = default;
};

// The certID of a certificate; Error(invalid_argument) when it has no
// authority key identifier (a self-signed root, say).
std::string cert_id(const Certificate& cert);
// The certID of these parts (`serial_hex` as normalize_serial_hex takes it).
std::string format_cert_id(std::string_view key_identifier, std::string_view serial_hex);
// Error(parse) "ARI certID <quoted>: <reason>" for anything but a certID as
// cert_id() writes it.
CertId parse_cert_id(std::string_view text);

struct RenewalWindow {
    Time start;
    Time end;  // always after start
};

// The window to suggest for a certificate valid [not_before, not_after].
RenewalWindow suggested_window(Time not_before, Time not_after, bool revoked, Time now);
// The renewalInfo resource body: {"suggestedWindow": {"start", "end"}} in RFC 3339.
nlohmann::json to_json(const RenewalWindow& window);

}  // namespace minica::acme
