// Names: the one place that guesses a name's kind (DESIGN §9), validation of
// each kind, and name-constraint matching (RFC 5280 4.2.1.10).
//
// Choices made here, each one deliberate:
//
//  * Classification order (parse_identity): IP address; then things that
//    look like a failed IP (an IPv6 zone id "fe80::1%eth0", a bracketed
//    "[::1]", hex-and-colons "1::2::3") are refused instead of falling
//    through to URI ("fe80:" is a syntactically valid scheme); email
//    (contains '@' with no ':' before it); URI ("scheme:" per RFC 3986);
//    an all-numeric dotted string ("1.2.3.999", "1.2.3") is refused as a bad
//    IPv4 address rather than becoming a DNS name; everything else is DNS.
//  * IPv4 is strict dotted-quad only: four decimal numbers 0-255 without
//    leading zeros ("01.2.3.4" is refused: inet_aton would read it as octal).
//  * IPv6 is parsed with inet_pton and printed in RFC 5952 canonical form by
//    our own formatter (glibc's inet_ntop prints the deprecated
//    IPv4-compatible "::a.b.c.d" form for some addresses). Mixed notation is
//    used only for IPv4-mapped addresses ("::ffff:1.2.3.4"), which stay
//    16-byte IPv6 addresses (they are not folded to IPv4).
//  * DNS: IDN labels are converted to A-labels with libidn2 (IDNA2008 + UTS#46
//    non-transitional, NFC input; no transitional fallback: "straße" must be
//    xn--strae-oqa, as browsers now resolve it). An ASCII "xn--" label is
//    validated by the same call (libidn2 decodes it and checks the round
//    trip). Pure-ASCII labels are only lower-cased and checked as LDH, so
//    real-world names with "--" in positions 3-4 that are not "xn--" (for
//    instance "r3---sn-abc.example") are accepted as RFC 1123 allows.
//    A final all-numeric label (or a 0x-hex one) is refused, as browsers
//    would parse the host as an IPv4 number.
//  * Email: the local part must be an RFC 5322 dot-atom (no quoted strings:
//    Go, OpenSSL and Python parse those differently), at most 64 octets; the
//    domain is a DNS name without wildcard, converted to A-labels. The local
//    part keeps its case (it is case-sensitive); the domain is lower-cased.
//  * URI: scheme lower-cased, the rest kept as given. Only ASCII URI
//    characters are accepted (a URI SAN is an IA5String); '%' must start a
//    %XX escape. When the URI has an authority ("//"), it must hold a host
//    (RFC 5280 4.2.1.6), which must be a DNS name or an IP literal.
//    "host:port" ("example.com:443", "localhost:8080") is refused: it is a
//    syntactically valid URI but never what the user meant.
//
// Name constraints, see NameConstraints::check below for the semantics.
#include "minica/names.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <idn2.h>
#ifdef MINICA_IDN2_DLOPEN
#include <dlfcn.h>
#endif

#include "minica/error.hpp"
#include "minica/text.hpp"

namespace minica {

namespace {

// libidn2, the three calls minica makes. The library links it; minica's
// programs (MINICA_IDN2_DLOPEN, tools/minica/meson.build) load it the first
// time a name needs it: loading libidn2 and libunistring (two libraries and
// their relocations) would cost every start, and most runs never meet a
// non-ASCII or xn-- label.
struct Idn2 {
    decltype(&idn2_to_ascii_8z) to_ascii_8z = nullptr;
    decltype(&idn2_free) free = nullptr;
    decltype(&idn2_strerror) strerror = nullptr;
    std::string error;  // why it could not be loaded
};

const Idn2& idn2() {
    static const Idn2 api = [] {
        Idn2 a;
#ifdef MINICA_IDN2_DLOPEN
        void* h = ::dlopen("libidn2.so.0", RTLD_NOW | RTLD_LOCAL);
        if (h == nullptr) {
            const char* e = ::dlerror();
            a.error = e ? e : "libidn2.so.0 not found";
            return a;
        }
        a.to_ascii_8z = reinterpret_cast<decltype(&idn2_to_ascii_8z)>(::dlsym(h, "idn2_to_ascii_8z"));
        a.free = reinterpret_cast<decltype(&idn2_free)>(::dlsym(h, "idn2_free"));
        a.strerror = reinterpret_cast<decltype(&idn2_strerror)>(::dlsym(h, "idn2_strerror"));
        if (!a.to_ascii_8z || !a.free || !a.strerror) {
            a = Idn2{};
            a.error = "libidn2.so.0 lacks idn2_to_ascii_8z";
        }
#else
        a.to_ascii_8z = &idn2_to_ascii_8z;
        a.free = &idn2_free;
        a.strerror = &idn2_strerror;
#endif
        return a;
    }();
    return api;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool all_of(std::string_view s, bool (*pred)(char) noexcept) noexcept {
    return std::all_of(s.begin(), s.end(), [pred](char c) { return pred(c); });
}

[[noreturn]] void invalid(std::string_view input, std::string_view why) {
    throw Error(ErrorKind::invalid_argument, "invalid name " + quote(input) + ": " + std::string(why));
}

[[noreturn]] void invalid_constraint(std::string_view spec, std::string_view why) {
    throw Error(ErrorKind::invalid_argument,
                "invalid name constraint " + quote(spec) + ": " + std::string(why));
}

[[noreturn]] void outside(std::string_view name, std::string_view why) {
    throw Error(ErrorKind::policy,
                "name " + quote(name) + " is outside the name constraints: " + std::string(why));
}

bool has_space_or_control(std::string_view s) noexcept {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return true;
    }
    return false;
}

bool is_ascii(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t pos = s.find(sep, start);
        if (pos == std::string_view::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, pos - start));
        start = pos + 1;
    }
}


// ---------------------------------------------------------------- IP

std::optional<IpAddress> parse_ipv4(std::string_view s) noexcept {
    auto parts = split(s, '.');
    if (parts.size() != 4) return std::nullopt;
    IpAddress ip;
    for (auto p : parts) {
        if (p.empty() || p.size() > 3 || !all_of(p, is_digit)) return std::nullopt;
        if (p.size() > 1 && p[0] == '0') return std::nullopt;  // no octal ambiguity
        int v = 0;
        for (char c : p) v = v * 10 + (c - '0');
        if (v > 255) return std::nullopt;
        ip.bytes.push_back(static_cast<std::uint8_t>(v));
    }
    return ip;
}

std::optional<IpAddress> parse_ipv6(std::string_view s) noexcept {
    // inet_pton takes no zone id, no brackets, no prefix: exactly what we want.
    if (s.empty() || s.size() > 45 || s.find(':') == std::string_view::npos) return std::nullopt;
    char buf[46];
    std::copy(s.begin(), s.end(), buf);
    buf[s.size()] = '\0';
    unsigned char out[16];
    if (inet_pton(AF_INET6, buf, out) != 1) return std::nullopt;
    return IpAddress{std::vector<std::uint8_t>(out, out + 16)};
}

// Looks like an attempt at an IPv6 address: only hex digits, ':' and '.', at
// least two colons ("a:b" with one colon may be a URI such as "urn:x").
bool looks_like_ipv6(std::string_view s) noexcept {
    if (std::count(s.begin(), s.end(), ':') < 2) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return is_hex(c) || c == ':' || c == '.'; });
}

bool looks_like_ipv4(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(), is_digit) && s.find('.') != std::string_view::npos &&
           std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c) || c == '.'; });
}

// ---------------------------------------------------------------- DNS

// Validates a DNS name and returns its canonical form in `out`, or returns
// the reason it is invalid (empty on success).
std::string dns_reason(std::string_view input, bool allow_wildcard, std::string& out) {
    if (input.empty()) return "empty name";
    if (has_space_or_control(input)) return "contains whitespace or control characters";
    std::string_view name = input;
    if (name.back() == '.') name.remove_suffix(1);  // absolute form: one trailing dot is fine
    if (name.empty()) return "empty name";

    // Convert chunk by chunk (split on ASCII dots) so pure-ASCII labels are
    // only lower-cased, and non-ASCII ones go through libidn2, which also maps
    // the other full stops (U+3002 ...) to '.'.
    std::string ascii;
    for (auto chunk : split(name, '.')) {
        std::string piece;
        bool needs_idn = !is_ascii(chunk);
        std::string low = to_lower(chunk);
        bool is_alabel = low.size() >= 4 && low.compare(0, 4, "xn--") == 0;
        if (needs_idn || is_alabel) {
            std::string in = needs_idn ? std::string(chunk) : low;
            const Idn2& idn = idn2();
            if (idn.to_ascii_8z == nullptr)
                return "label " + quote(chunk) + " needs IDNA processing, and libidn2 cannot be loaded (" +
                       idn.error + ")";
            char* res = nullptr;
            int rc = idn.to_ascii_8z(in.c_str(), &res, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
            std::unique_ptr<char, decltype(&idn2_free)> guard(res, idn.free);
            if (rc != IDN2_OK) {
                return "label " + quote(chunk) + " is not a valid " +
                       (needs_idn ? "internationalized label" : "A-label") + " (" + idn.strerror(rc) + ")";
            }
            piece = res;
            if (is_alabel && !needs_idn && piece != low)
                return "label " + quote(chunk) + " is not a canonical A-label";
        } else {
            piece = std::move(low);
        }
        ascii += piece;
        ascii += '.';
    }
    ascii.pop_back();

    auto labels = split(ascii, '.');
    bool wildcard = labels.front() == "*";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        auto label = labels[i];
        if (label.empty()) return "empty label (two dots in a row, or a leading dot)";
        if (label.find('*') != std::string_view::npos) {
            if (i == 0 && label == "*") continue;
            return "a wildcard is allowed only as the whole leftmost label (*.example.com)";
        }
        if (label.size() > 63)
            return "label " + quote(label) + " is " + std::to_string(label.size()) +
                   " octets long (at most 63)";
        for (char c : label) {
            if (c == '_') return "underscores are not allowed in a host name (letters, digits and hyphens only)";
            if (!is_alpha(c) && !is_digit(c) && c != '-')
                return "character " + quote(std::string_view(&c, 1)) +
                       " is not allowed in a host name (letters, digits and hyphens only)";
        }
        if (label.front() == '-') return "label " + quote(label) + " starts with a hyphen";
        if (label.back() == '-') return "label " + quote(label) + " ends with a hyphen";
    }
    if (wildcard) {
        if (!allow_wildcard) return "a wildcard is not allowed here";
        if (labels.size() == 1) return "a lone \"*\" is not a name; write *.example.com";
        if (labels.size() == 2)
            return "a wildcard must not be directly over a single label (it would cover a whole top-level domain)";
    }
    auto last = labels.back();
    bool hex_number = last.size() > 2 && lower(last[1]) == 'x' && last[0] == '0' && all_of(last.substr(2), is_hex);
    if (all_of(last, is_digit) || hex_number) {
        if (parse_ipv4(name)) return "an IP address is not a host name";
        if (looks_like_ipv4(input)) return "not a valid IPv4 address (four numbers 0-255 without leading zeros)";
        return "the last label " + quote(last) + " is numeric, which browsers read as an IPv4 address";
    }
    if (ascii.size() > 253)
        return "name is " + std::to_string(ascii.size()) + " octets long (at most 253)";
    out = std::move(ascii);
    return {};
}

// ---------------------------------------------------------------- email

bool is_atext(char c) noexcept {
    if (is_alpha(c) || is_digit(c)) return true;
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(c) != std::string_view::npos;
}

std::string email_reason(std::string_view input, std::string& out) {
    if (input.empty()) return "empty name";
    if (has_space_or_control(input)) return "contains whitespace or control characters";
    auto at = input.find('@');
    if (at == std::string_view::npos) return "an email address needs a local part and a domain (user@example.com)";
    auto local = input.substr(0, at);
    auto domain = input.substr(at + 1);
    if (domain.find('@') != std::string_view::npos) return "an email address has exactly one '@'";
    if (local.empty()) return "the local part (before '@') is empty";
    if (domain.empty()) return "the domain (after '@') is empty";
    if (local.size() > 64) return "the local part is " + std::to_string(local.size()) + " octets long (at most 64)";
    for (char c : local) {
        if (static_cast<unsigned char>(c) >= 0x80)
            return "the local part must be ASCII (SmtpUTF8Mailbox names are not supported)";
        if (!is_atext(c) && c != '.')
            return "character " + quote(std::string_view(&c, 1)) + " is not allowed in the local part";
    }
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
        return "the local part must not start or end with a dot or hold two dots in a row";
    std::string dom;
    std::string why = dns_reason(domain, false, dom);
    if (!why.empty()) return "domain " + quote(domain) + ": " + why;
    out = std::string(local) + "@" + dom;
    if (out.size() > 254) return "address is " + std::to_string(out.size()) + " octets long (at most 254)";
    return {};
}

// ---------------------------------------------------------------- URI

// Length of a valid RFC 3986 scheme followed by ':' at the start of s, or 0.
std::size_t scheme_length(std::string_view s) noexcept {
    if (s.empty() || !is_alpha(s[0])) return 0;
    std::size_t i = 1;
    while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
    return (i < s.size() && s[i] == ':') ? i : 0;
}

struct UriHost {
    bool has_authority = false;
    std::string host;  // as written, brackets removed from an IPv6 literal
};

// Splits "scheme://[userinfo@]host[:port]/..." and returns the host.
UriHost uri_host(std::string_view uri) {
    UriHost r;
    std::size_t n = scheme_length(uri);
    if (n == 0) return r;
    auto rest = uri.substr(n + 1);
    if (rest.substr(0, 2) != "//") return r;
    r.has_authority = true;
    auto auth = rest.substr(2);
    auth = auth.substr(0, auth.find_first_of("/?#"));
    if (auto at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
    if (!auth.empty() && auth.front() == '[') {
        auto close = auth.find(']');
        // Without the closing bracket, keep the text as is: it fails as a host name.
        r.host = std::string(close == std::string_view::npos ? auth : auth.substr(1, close - 1));
        return r;
    }
    if (auto colon = auth.rfind(':'); colon != std::string_view::npos) auth = auth.substr(0, colon);
    r.host = std::string(auth);
    return r;
}

std::string uri_reason(std::string_view input, std::string& out) {
    if (input.empty()) return "empty name";
    if (has_space_or_control(input)) return "contains whitespace or control characters";
    std::size_t n = scheme_length(input);
    if (n == 0) return "a URI starts with a scheme and ':' (spiffe://example.org/x)";
    auto rest = input.substr(n + 1);
    if (rest.empty()) return "nothing after the scheme";
    for (std::size_t i = 0; i < rest.size(); ++i) {
        char c = rest[i];
        if (static_cast<unsigned char>(c) >= 0x80) return "a URI must be ASCII (percent-encode it, or use an A-label host)";
        constexpr std::string_view bad = "\"<>\\^`{|}";
        if (bad.find(c) != std::string_view::npos)
            return "character " + quote(std::string_view(&c, 1)) + " is not allowed in a URI";
        if (c == '%' && !(i + 2 < rest.size() && is_hex(rest[i + 1]) && is_hex(rest[i + 2])))
            return "'%' must start a %XX escape";
    }
    // "example.com:443" or "localhost:8080/x": a host and a port, not a URI.
    std::size_t digits = 0;
    while (digits < rest.size() && is_digit(rest[digits])) ++digits;
    if (digits > 0 && (digits == rest.size() || rest[digits] == '/'))
        return "looks like host:port; a certificate name has no port";
    // A path that can mean another path than it shows: dot-segments resolve
    // away ("/ns/a/../b" is "/ns/b" to whoever normalises it, RFC 3986 5.2.4),
    // and so does a percent-encoded '.' or '/'. Refused before any policy
    // prefix or constraint sees the URI.
    {
        for (std::size_t i = 0; i + 2 < rest.size(); ++i) {
            if (rest[i] == '%' && rest[i + 1] == '2' &&
                (rest[i + 2] == 'e' || rest[i + 2] == 'E' || rest[i + 2] == 'f' || rest[i + 2] == 'F'))
                return "a URI with a percent-encoded '.' or '/' (%2E, %2F) is refused: it can name another path";
        }
        std::string_view p = rest.substr(0, rest.find_first_of("?#"));
        std::size_t start = 0;
        while (start <= p.size()) {
            std::size_t end = p.find('/', start);
            if (end == std::string_view::npos) end = p.size();
            std::string_view segment = p.substr(start, end - start);
            if (segment == "." || segment == "..")
                return "a URI with a dot-segment (\".\" or \"..\") is refused: it can name another path";
            start = end + 1;
        }
    }
    auto host = uri_host(input);
    if (host.has_authority) {
        if (host.host.empty()) return "a URI with an authority (\"//\") must name a host (RFC 5280 4.2.1.6)";
        if (!parse_ipv6(host.host) && !parse_ipv4(host.host)) {
            std::string canon;
            std::string why = dns_reason(host.host, false, canon);
            if (!why.empty()) return "host " + quote(host.host) + ": " + why;
        }
    }
    out = to_lower(input.substr(0, n)) + std::string(input.substr(n));
    return {};
}

// ---------------------------------------------------------------- constraints

// Email domain constraint semantics. `permitted` matching is the narrow
// RFC 5280 / OpenSSL reading ("example.com" = that host only, ".example.com" =
// strictly below); `excluded` matching is the wide Go reading ("example.com"
// also covers subdomains). A name passes only if every verifier accepts it.
bool email_matches(std::string_view email, std::string_view constraint, bool excluded) {
    auto at = email.rfind('@');
    std::string_view domain = at == std::string_view::npos ? email : email.substr(at + 1);
    if (constraint.find('@') != std::string_view::npos) {
        // A full mailbox (may come from a certificate): exact local part,
        // case-insensitive domain.
        auto cat = constraint.rfind('@');
        if (at == std::string_view::npos) return false;
        return email.substr(0, at) == constraint.substr(0, cat) && iequals(domain, constraint.substr(cat + 1));
    }
    if (!constraint.empty() && constraint.front() == '.') return dns_within(domain, constraint);
    if (excluded) return dns_within(domain, constraint);
    return iequals(domain, constraint);
}

std::string strip_dot(std::string_view s) {
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    return std::string(s);
}

// "*.B" would also certify "L.B" for an excluded "L.B" (one label below B):
// refuse it, though RFC 5280 compares the wildcard literally and would pass it.
bool wildcard_covers(std::string_view name, std::string_view excluded) {
    if (name.size() < 2 || name.substr(0, 2) != "*.") return false;
    if (!excluded.empty() && excluded.front() == '.') return false;  // handled literally
    std::string base = strip_dot(name.substr(2));
    std::string ex = strip_dot(excluded);
    if (ex.size() <= base.size() + 1) return false;
    auto head = std::string_view(ex).substr(0, ex.size() - base.size() - 1);
    return ex[head.size()] == '.' && iequals(std::string_view(ex).substr(head.size() + 1), base) &&
           head.find('.') == std::string_view::npos && !head.empty();
}

std::vector<std::string> network_strings(const std::vector<IpNetwork>& nets) {
    std::vector<std::string> out;
    for (const auto& n : nets) out.push_back(n.to_string());
    return out;
}

void check_dns_name(const NameConstraints& nc, std::string_view shown, std::string_view dns, std::string_view what) {
    if (!nc.permitted_dns.empty()) {
        bool ok = std::any_of(nc.permitted_dns.begin(), nc.permitted_dns.end(),
                              [&](const std::string& s) { return dns_within(dns, s); });
        if (!ok)
            outside(shown, std::string(what) + "not within any permitted DNS subtree (" + join(nc.permitted_dns) + ")");
    }
    for (const auto& ex : nc.excluded_dns) {
        if (dns_within(dns, ex)) outside(shown, std::string(what) + "within the excluded DNS subtree " + ex);
        if (wildcard_covers(dns, ex)) outside(shown, std::string(what) + "the wildcard covers the excluded name " + ex);
    }
}

void check_ip(const NameConstraints& nc, std::string_view shown, const IpAddress& ip, std::string_view what) {
    if (!nc.permitted_ip.empty()) {
        bool ok = std::any_of(nc.permitted_ip.begin(), nc.permitted_ip.end(),
                              [&](const IpNetwork& n) { return n.contains(ip); });
        if (!ok)
            outside(shown, std::string(what) + "not within any permitted IP range (" +
                               join(network_strings(nc.permitted_ip)) + ")");
    }
    for (const auto& ex : nc.excluded_ip)
        if (ex.contains(ip)) outside(shown, std::string(what) + "within the excluded IP range " + ex.to_string());
}

}  // namespace

// ---------------------------------------------------------------- IpAddress

std::string IpAddress::to_string() const {
    if (bytes.size() == 4) {
        return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." + std::to_string(bytes[2]) + "." +
               std::to_string(bytes[3]);
    }
    if (bytes.size() != 16) return "<invalid IP address>";
    // RFC 5952: lower-case hex, no leading zeros, "::" for the longest run
    // (first one on a tie) of two or more zero groups, mixed notation for
    // IPv4-mapped addresses.
    bool mapped = std::all_of(bytes.begin(), bytes.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
                  bytes[10] == 0xff && bytes[11] == 0xff;
    if (mapped) return "::ffff:" + IpAddress{{bytes.begin() + 12, bytes.end()}}.to_string();
    unsigned words[8];
    for (int i = 0; i < 8; ++i) words[i] = (unsigned{bytes[2 * i]} << 8) | bytes[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && words[j] == 0) ++j;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best = -1;
    std::string out;
    char buf[8];
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        std::snprintf(buf, sizeof buf, "%x", words[i]);
        out += buf;
    }
    return out;
}

// ---------------------------------------------------------------- IpNetwork

int IpNetwork::prefix_len() const noexcept {
    int n = 0;
    for (auto b : mask) {
        for (int bit = 7; bit >= 0; --bit) {
            if ((b >> bit) & 1) ++n;
            else return n;
        }
    }
    return n;
}

std::string IpNetwork::to_string() const { return address.to_string() + "/" + std::to_string(prefix_len()); }

bool IpNetwork::contains(const IpAddress& ip) const noexcept {
    // An IPv4 address is never inside an IPv6 range or the reverse (RFC 5280
    // compares octet strings of equal length; an IPv4-mapped IPv6 address is
    // an IPv6 address).
    if (ip.bytes.size() != address.bytes.size() || mask.size() != address.bytes.size()) return false;
    for (std::size_t i = 0; i < mask.size(); ++i)
        if ((ip.bytes[i] & mask[i]) != (address.bytes[i] & mask[i])) return false;
    return true;
}

// ---------------------------------------------------------------- SubjectAltNames

std::vector<std::string> SubjectAltNames::all() const {
    std::vector<std::string> out(dns.begin(), dns.end());
    for (const auto& a : ip) out.push_back(a.to_string());
    out.insert(out.end(), email.begin(), email.end());
    out.insert(out.end(), uri.begin(), uri.end());
    return out;
}

std::string SubjectAltNames::to_string() const {
    std::vector<std::string> parts;
    for (const auto& d : dns) parts.push_back("DNS:" + escape(d));
    for (const auto& a : ip) parts.push_back("IP:" + a.to_string());
    for (const auto& e : email) parts.push_back("email:" + escape(e));
    for (const auto& u : uri) parts.push_back("URI:" + escape(u));
    return join(parts);
}

std::string SubjectAltNames::primary() const {
    if (!dns.empty()) return dns.front();
    if (!ip.empty()) return ip.front().to_string();
    if (!email.empty()) return email.front();
    if (!uri.empty()) return uri.front();
    return {};
}

void SubjectAltNames::add(std::string_view identity) {
    Identity id = parse_identity(identity);
    auto push = [](auto& vec, auto&& value) {
        if (std::find(vec.begin(), vec.end(), value) == vec.end()) vec.push_back(std::move(value));
    };
    switch (id.kind) {
        case NameKind::dns: push(dns, std::move(id.value)); break;
        case NameKind::ip: push(ip, std::move(*id.ip)); break;
        case NameKind::email: push(email, std::move(id.value)); break;
        case NameKind::uri: push(uri, std::move(id.value)); break;
    }
}

// ---------------------------------------------------------------- parsing

std::optional<IpAddress> parse_ip(std::string_view input) noexcept {
    if (auto v4 = parse_ipv4(input)) return v4;
    return parse_ipv6(input);
}

std::optional<IpAddress> embedded_ipv4(const IpAddress& ip) noexcept {
    if (ip.bytes.size() != 16) return std::nullopt;
    bool zero10 = std::all_of(ip.bytes.begin(), ip.bytes.begin() + 10, [](std::uint8_t b) { return b == 0; });
    if (!zero10) return std::nullopt;
    IpAddress v4{std::vector<std::uint8_t>(ip.bytes.begin() + 12, ip.bytes.end())};
    bool mapped = ip.bytes[10] == 0xff && ip.bytes[11] == 0xff;
    bool compatible = ip.bytes[10] == 0 && ip.bytes[11] == 0 &&
                      (v4.bytes[0] != 0 || v4.bytes[1] != 0 || v4.bytes[2] != 0 || v4.bytes[3] > 1);  // not :: or ::1
    if (mapped || compatible) return v4;
    return std::nullopt;
}

namespace {
std::string v4_in_v6_reason(const IpAddress& v4) {
    return "an IPv4 address written as IPv6 (write " + v4.to_string() +
           "): OpenSSL never checks a 16-byte address against IPv4 name constraints";
}
}  // namespace

void check_certifiable(const SubjectAltNames& names) {
    for (const auto& ip : names.ip)
        if (auto v4 = embedded_ipv4(ip)) invalid(ip.to_string(), v4_in_v6_reason(*v4));
    for (const auto& u : names.uri) {
        std::string out;
        if (std::string why = uri_reason(u, out); !why.empty()) invalid(u, why);
    }
}

Identity parse_identity(std::string_view input) {
    if (input.empty()) invalid(input, "empty name");
    if (auto ip = parse_ip(input)) {
        if (auto v4 = embedded_ipv4(*ip)) invalid(input, v4_in_v6_reason(*v4));
        return Identity{NameKind::ip, ip->to_string(), std::move(ip)};
    }
    if (auto pct = input.find('%'); pct != std::string_view::npos && parse_ipv6(input.substr(0, pct)))
        invalid(input, "IPv6 zone identifiers (%...) have no meaning in a certificate");
    if (input.size() >= 2 && input.front() == '[' && input.back() == ']')
        invalid(input, "write an IPv6 address without brackets");
    if (looks_like_ipv6(input)) invalid(input, "not a valid IPv6 address");

    std::string out, why;
    auto at = input.find('@');
    if (at != std::string_view::npos && input.substr(0, at).find(':') == std::string_view::npos) {
        why = email_reason(input, out);
        if (!why.empty()) invalid(input, why);
        return Identity{NameKind::email, std::move(out), std::nullopt};
    }
    if (scheme_length(input) > 0) {
        why = uri_reason(input, out);
        if (!why.empty()) invalid(input, why);
        return Identity{NameKind::uri, std::move(out), std::nullopt};
    }
    if (looks_like_ipv4(input))
        invalid(input, "not a valid IPv4 address (four numbers 0-255 without leading zeros), nor a host name");
    why = dns_reason(input, true, out);
    if (!why.empty()) invalid(input, why);
    return Identity{NameKind::dns, std::move(out), std::nullopt};
}

SubjectAltNames parse_identities(const std::vector<std::string>& inputs) {
    SubjectAltNames names;
    for (const auto& s : inputs) names.add(s);
    return names;
}

std::string canonical_dns_name(std::string_view input, bool allow_wildcard) {
    std::string out;
    std::string why = dns_reason(input, allow_wildcard, out);
    if (!why.empty()) invalid(input, why);
    return out;
}

std::string canonical_email(std::string_view input) {
    std::string out;
    std::string why = email_reason(input, out);
    if (!why.empty()) invalid(input, why);
    return out;
}

std::string canonical_uri(std::string_view input) {
    std::string out;
    std::string why = uri_reason(input, out);
    if (!why.empty()) invalid(input, why);
    return out;
}

std::string canonical_crl_url(std::string_view input) {
    auto refuse = [&](const std::string& why) {
        throw Error(ErrorKind::invalid_argument, "CRL URL " + quote(input) + ": " + why);
    };
    std::string out;
    if (std::string why = uri_reason(input, out); !why.empty()) refuse(why);
    std::size_t n = scheme_length(out);
    std::string_view scheme = std::string_view(out).substr(0, n);
    if (scheme == "https")
        refuse("a CRL is served over http, not https (a client would need the server's revocation status to "
               "fetch it, which is a circle; RFC 5280 4.2.1.13 names http and ldap)");
    if (scheme != "http") refuse("the scheme must be http (http://host[:port]/path)");
    UriHost host = uri_host(out);
    if (!host.has_authority || host.host.empty()) refuse("a CRL URL names a host (http://host[:port]/path)");
    std::string_view auth = std::string_view(out).substr(n + 3);
    auth = auth.substr(0, auth.find_first_of("/?#"));
    if (auth.find('@') != std::string_view::npos) refuse("a CRL URL carries no user name or password");
    if (auto close = auth.rfind(']'); close != std::string_view::npos) auth.remove_prefix(close + 1);
    if (auto colon = auth.rfind(':'); colon != std::string_view::npos) {
        std::string_view port = auth.substr(colon + 1);
        if (port.empty() || port.size() > 5 || !all_of(port, is_digit) || std::stoul(std::string(port)) == 0 ||
            std::stoul(std::string(port)) > 65535)
            refuse("the port must be a number from 1 to 65535");
    }
    return out;
}

// ---------------------------------------------------------------- NameConstraints

namespace {

enum class SpecKind { dns, ip, email };
struct Spec {
    SpecKind kind;
    std::string text;  // dns / email domain
    IpNetwork net;     // ip
};

Spec parse_spec(std::string_view spec) {
    if (spec.empty()) invalid_constraint(spec, "empty");
    if (has_space_or_control(spec)) invalid_constraint(spec, "contains whitespace or control characters");
    if (auto slash = spec.find('/'); slash != std::string_view::npos) {
        auto addr = parse_ip(spec.substr(0, slash));
        if (!addr) invalid_constraint(spec, "an IP range is address/prefix-length (10.0.0.0/8, fd00::/8)");
        auto len_text = spec.substr(slash + 1);
        int max = addr->is_v4() ? 32 : 128;
        if (len_text.empty() || len_text.size() > 3 || !all_of(len_text, is_digit) ||
            (len_text.size() > 1 && len_text[0] == '0'))
            invalid_constraint(spec, "the prefix length must be a number from 0 to " + std::to_string(max));
        int len = std::stoi(std::string(len_text));
        if (len > max) invalid_constraint(spec, "the prefix length must be a number from 0 to " + std::to_string(max));
        IpNetwork net;
        net.mask.assign(addr->bytes.size(), 0);
        for (int i = 0; i < len; ++i) net.mask[i / 8] |= static_cast<std::uint8_t>(0x80 >> (i % 8));
        IpAddress masked = *addr;
        for (std::size_t i = 0; i < masked.bytes.size(); ++i) masked.bytes[i] &= net.mask[i];
        if (masked != *addr) {
            net.address = masked;
            invalid_constraint(spec, "host bits are set (did you mean " + net.to_string() + "?)");
        }
        net.address = std::move(masked);
        return Spec{SpecKind::ip, {}, std::move(net)};
    }
    if (parse_ip(spec)) invalid_constraint(spec, "an IP range needs a prefix length (for one address: /32 or /128)");
    if (spec.front() == '@') {
        auto domain = spec.substr(1);
        bool below = !domain.empty() && domain.front() == '.';
        if (below) domain.remove_prefix(1);
        std::string out;
        std::string why = dns_reason(domain, false, out);
        if (!why.empty()) invalid_constraint(spec, "email domain: " + why);
        return Spec{SpecKind::email, (below ? "." : "") + out, {}};
    }
    if (spec.find('@') != std::string_view::npos)
        invalid_constraint(spec, "an email constraint names a domain: @example.com");
    auto domain = spec;
    bool below = domain.front() == '.';
    if (below) domain.remove_prefix(1);
    std::string out;
    std::string why = dns_reason(domain, false, out);
    if (!why.empty()) invalid_constraint(spec, why);
    return Spec{SpecKind::dns, (below ? "." : "") + out, {}};
}

template <class T>
void push_unique(std::vector<T>& vec, T value) {
    if (std::find(vec.begin(), vec.end(), value) == vec.end()) vec.push_back(std::move(value));
}

}  // namespace

bool NameConstraints::empty() const noexcept {
    return permitted_dns.empty() && excluded_dns.empty() && permitted_ip.empty() && excluded_ip.empty() &&
           permitted_email.empty() && excluded_email.empty();
}

namespace {
void add_subtree(std::string_view spec, std::vector<std::string>& dns, std::vector<IpNetwork>& ip,
                 std::vector<std::string>& email) {
    Spec s = parse_spec(spec);
    switch (s.kind) {
        case SpecKind::dns: push_unique(dns, std::move(s.text)); break;
        case SpecKind::ip: push_unique(ip, std::move(s.net)); break;
        case SpecKind::email: push_unique(email, std::move(s.text)); break;
    }
}
}  // namespace

void NameConstraints::permit(std::string_view spec) { add_subtree(spec, permitted_dns, permitted_ip, permitted_email); }
void NameConstraints::exclude(std::string_view spec) { add_subtree(spec, excluded_dns, excluded_ip, excluded_email); }

// RFC 5280 4.2.1.10: for each name type with permitted subtrees, every name of
// that type must be within one of them; no name may be within an excluded
// subtree; a type without permitted subtrees is unconstrained. On top of the
// RFC, as the CA that issues (not a verifier that checks), we are stricter
// where verifiers disagree or where the RFC leaves a hole:
//  * DNS: wildcards compare literally as RFC 5280 verifiers do, which amounts
//    to checking the base ("*.a.example.com" is within "example.com" and
//    within ".a.example.com"); and "*.example.com" is refused when
//    "secret.example.com" is excluded, because the certificate would be
//    valid for that excluded host (verifiers would accept it).
//  * Email: checked against the email constraints only, by domain (see
//    email_matches: narrow reading for permitted, wide for excluded).
//  * IP: IPv4 and IPv6 are one name type; a v6 address never matches a v4
//    range.
//  * URI: X.509 has URI constraints of its own, which NameConstraints does not
//    carry, so verifiers leave our URIs unconstrained. We still check the
//    URI's host like a SAN of its type: a DNS host against the DNS subtrees,
//    an IP literal against the IP ranges. A URI with no host (urn:...) is
//    refused when DNS or IP subtrees are permitted, since it cannot be shown
//    to be within them.
void NameConstraints::check(const SubjectAltNames& names) const {
    for (const auto& d : names.dns) check_dns_name(*this, d, d, "");
    for (const auto& ip : names.ip) check_ip(*this, ip.to_string(), ip, "");
    for (const auto& e : names.email) {
        if (!permitted_email.empty()) {
            bool ok = std::any_of(permitted_email.begin(), permitted_email.end(),
                                  [&](const std::string& c) { return email_matches(e, c, false); });
            if (!ok) {
                std::string why = "not within any permitted email domain (" + join(permitted_email) + ")";
                if (std::none_of(permitted_email.begin(), permitted_email.end(),
                                 [](const std::string& c) { return !c.empty() && c[0] == '.'; }))
                    why += "; an email domain constraint matches that exact domain, use @.example.com for subdomains";
                outside(e, why);
            }
        }
        for (const auto& c : excluded_email)
            if (email_matches(e, c, true)) outside(e, "within the excluded email domain " + c);
    }
    for (const auto& u : names.uri) {
        UriHost h = uri_host(u);
        if (h.host.empty()) {
            // RFC 5280 4.2.1.10: a URI constraint applies to the authority's
            // host; a URI without one ("https:secret.example.com") cannot be
            // shown to be inside a permitted subtree nor outside an excluded one.
            if (!permitted_dns.empty() || !permitted_ip.empty() || !excluded_dns.empty() || !excluded_ip.empty())
                outside(u, "the URI has no authority host to check against the DNS or IP name constraints");
            continue;
        }
        if (auto ip = parse_ip(h.host)) {
            check_ip(*this, u, *ip, "its host is ");
        } else {
            check_dns_name(*this, u, to_lower(h.host), "its host is ");
        }
    }
}

bool dns_within(std::string_view name, std::string_view subtree) noexcept {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (!subtree.empty() && subtree.back() == '.') subtree.remove_suffix(1);
    bool wildcard = name.size() >= 2 && name[0] == '*' && name[1] == '.';
    std::string_view base = wildcard ? name.substr(2) : name;
    bool strictly_below = !subtree.empty() && subtree.front() == '.';
    if (strictly_below) subtree.remove_prefix(1);
    if (subtree.empty()) return true;  // the root: every name
    // "*.example.com" is strictly below "example.com" (every name it matches is).
    if (iequals(base, subtree)) return !strictly_below || wildcard;
    return base.size() > subtree.size() && base[base.size() - subtree.size() - 1] == '.' &&
           iequals(base.substr(base.size() - subtree.size()), subtree);
}

}  // namespace minica
