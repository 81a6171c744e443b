#include "minica/text.hpp"

#include <algorithm>
#include <cstdio>
#include <system_error>

namespace minica {

namespace {
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string quote(std::string_view s) {
    // Appended, not "\"" + escape(s) + "\"": GCC 12 at -O3 warns about that
    // operator+ chain (-Wrestrict, a false positive, GCC bug 105651).
    std::string out = "\"";
    out += escape(s);
    out += '"';
    return out;
}

namespace {
// The length of the valid UTF-8 sequence at the front of `s` (shortest form,
// no surrogates, at most U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s) noexcept {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(0);
    std::size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                  : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (n == 0 || s.size() < n) return 0;
    for (std::size_t i = 1; i < n; ++i)
        if ((b(i) & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) >= 0xa0))) return 0;  // overlong, surrogate
    if (n == 4 && ((c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) >= 0x90))) return 0;  // overlong, > U+10FFFF
    return n;
}

void append_hex(std::string& out, unsigned char u) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    out += buf;
}

std::string escaped(std::string_view s, bool quotes) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto u = static_cast<unsigned char>(s[i]);
        std::size_t n = utf8_length(s.substr(i));
        bool c1 = n == 2 && u == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
        if (n == 0 || c1 || u < 0x20 || u == 0x7f) {
            for (std::size_t k = 0; k < std::max<std::size_t>(n, 1); ++k) append_hex(out, static_cast<unsigned char>(s[i + k]));
            i += std::max<std::size_t>(n, 1);
            continue;
        }
        if (quotes && (u == '"' || u == '\\')) out += '\\';
        out.append(s.substr(i, n));
        i += n;
    }
    return out;
}
}  // namespace

std::string printable(std::string_view s) { return escaped(s, false); }

std::string escape(std::string_view s) { return escaped(s, true); }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

std::string errno_text(int err) { return std::generic_category().message(err); }

}  // namespace minica
