#include "minica/detail/der.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <vector>

#include "minica/error.hpp"

namespace minica::detail::der {

std::string encode_oid(std::string_view dotted) {
    std::vector<std::uint64_t> arcs;
    std::size_t pos = 0;
    while (pos <= dotted.size()) {
        std::size_t dot = dotted.find('.', pos);
        if (dot == std::string_view::npos) dot = dotted.size();
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(dotted.data() + pos, dotted.data() + dot, v);
        if (ec != std::errc() || p != dotted.data() + dot)
            throw Error(ErrorKind::invalid_argument, "bad OID " + std::string(dotted));
        arcs.push_back(v);
        pos = dot + 1;
    }
    if (arcs.size() < 2) throw Error(ErrorKind::invalid_argument, "bad OID " + std::string(dotted));
    std::string out;
    auto base128 = [&](std::uint64_t v) {
        char tmp[10];
        int n = 0;
        do {
            tmp[n++] = static_cast<char>(v & 0x7f);
            v >>= 7;
        } while (v != 0);
        while (n > 1) out.push_back(static_cast<char>(tmp[--n] | 0x80));
        out.push_back(tmp[0]);
    };
    base128(arcs[0] * 40 + arcs[1]);
    for (std::size_t i = 2; i < arcs.size(); ++i) base128(arcs[i]);
    return out;
}

static void append_length(std::string& out, std::size_t len) {
    if (len < 0x80) {
        out.push_back(static_cast<char>(len));
        return;
    }
    char tmp[8];
    int n = 0;
    while (len != 0) {
        tmp[n++] = static_cast<char>(len & 0xff);
        len >>= 8;
    }
    out.push_back(static_cast<char>(0x80 | n));
    while (n > 0) out.push_back(tmp[--n]);
}

void Writer::end(std::size_t mark) {
    std::size_t len = out_.size() - mark;
    if (len < 0x80) {
        out_[mark - 1] = static_cast<char>(len);
        return;
    }
    std::string hdr;
    append_length(hdr, len);
    out_[mark - 1] = hdr[0];
    out_.insert(mark, hdr, 1, std::string::npos);
}

void Writer::tlv(std::uint8_t tag, std::string_view content) {
    out_.push_back(static_cast<char>(tag));
    append_length(out_, content.size());
    out_.append(content);
}

void Writer::unsigned_integer(std::string_view be) {
    while (be.size() > 1 && be[0] == 0) be.remove_prefix(1);
    out_.push_back(static_cast<char>(INTEGER));
    bool pad = be.empty() || (static_cast<unsigned char>(be[0]) & 0x80) != 0;
    append_length(out_, be.size() + (pad ? 1 : 0));
    if (pad) out_.push_back(0);
    out_.append(be.empty() ? std::string_view() : be);
}

void Writer::integer(std::int64_t v) {
    char tmp[9];
    int n = 0;
    // Two's complement, minimal.
    for (;;) {
        tmp[n++] = static_cast<char>(v & 0xff);
        std::int64_t next = v >> 8;
        bool sign = (tmp[n - 1] & 0x80) != 0;
        if ((next == 0 && !sign) || (next == -1 && sign)) break;
        v = next;
    }
    std::string content;
    while (n > 0) content.push_back(tmp[--n]);
    tlv(INTEGER, content);
}

void Writer::bit_string(std::string_view bytes) {
    out_.push_back(static_cast<char>(BIT_STRING));
    append_length(out_, bytes.size() + 1);
    out_.push_back(0);
    out_.append(bytes);
}

void Writer::named_bits(unsigned bits) {
    // Reverse into MSB-first octets, then drop trailing zero octets and count unused bits.
    unsigned char octets[4] = {0, 0, 0, 0};
    for (unsigned i = 0; i < 32; ++i)
        if (bits & (1u << i)) octets[i / 8] |= static_cast<unsigned char>(0x80u >> (i % 8));
    int n = 4;
    while (n > 0 && octets[n - 1] == 0) --n;
    int unused = 0;
    if (n > 0) {
        unsigned char last = octets[n - 1];
        while ((last & 1) == 0) {
            last >>= 1;
            ++unused;
        }
    }
    out_.push_back(static_cast<char>(BIT_STRING));
    append_length(out_, static_cast<std::size_t>(n) + 1);
    out_.push_back(static_cast<char>(unused));
    out_.append(reinterpret_cast<const char*>(octets), static_cast<std::size_t>(n));
}

void Writer::time(Time t) {
    using namespace std::chrono;
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss hms{t - day};
    int y = static_cast<int>(ymd.year());
    char buf[20];
    if (y >= 1950 && y < 2050) {
        std::snprintf(buf, sizeof buf, "%02d%02u%02u%02d%02d%02dZ", y % 100, static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                      static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
        tlv(UTC_TIME, buf);
    } else {
        std::snprintf(buf, sizeof buf, "%04d%02u%02u%02d%02d%02dZ", y, static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                      static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
        tlv(GENERALIZED_TIME, buf);
    }
}

const std::string& oid_ec_public_key() { static const std::string o = encode_oid("1.2.840.10045.2.1"); return o; }
const std::string& oid_p256() { static const std::string o = encode_oid("1.2.840.10045.3.1.7"); return o; }
const std::string& oid_p384() { static const std::string o = encode_oid("1.3.132.0.34"); return o; }
const std::string& oid_ed25519() { static const std::string o = encode_oid("1.3.101.112"); return o; }

std::string ec_spki(const std::string& curve_oid, std::string_view point) {
    Writer w;
    w.sequence([&] {
        w.sequence([&] {
            w.oid(oid_ec_public_key());
            w.oid(curve_oid);
        });
        w.bit_string(point);
    });
    return w.take();
}

std::string ed25519_spki(std::string_view public_key) {
    Writer w;
    w.sequence([&] {
        w.sequence([&] { w.oid(oid_ed25519()); });
        w.bit_string(public_key);
    });
    return w.take();
}

bool next(std::string_view& in, std::uint8_t& tag, std::string_view& content) {
    if (in.size() < 2) return false;
    tag = static_cast<std::uint8_t>(in[0]);
    std::size_t len = static_cast<unsigned char>(in[1]);
    std::size_t hdr = 2;
    if (len & 0x80) {
        std::size_t n = len & 0x7f;
        if (n == 0 || n > 4 || in.size() < 2 + n) return false;
        len = 0;
        for (std::size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<unsigned char>(in[2 + i]);
        hdr += n;
    }
    if (in.size() - hdr < len) return false;
    content = in.substr(hdr, len);
    in.remove_prefix(hdr + len);
    return true;
}

void name(Writer& w, const DistinguishedName& dn) {
    static const std::string oid_c = encode_oid("2.5.4.6"), oid_o = encode_oid("2.5.4.10"),
                             oid_ou = encode_oid("2.5.4.11"), oid_cn = encode_oid("2.5.4.3");
    w.sequence([&] {
        auto rdn = [&](const std::string& oid, std::uint8_t tag, const std::string& value) {
            if (value.empty()) return;
            w.nested(SET, [&] {
                w.sequence([&] {
                    w.oid(oid);
                    w.tlv(tag, value);
                });
            });
        };
        rdn(oid_c, PRINTABLE_STRING, dn.country);
        rdn(oid_o, UTF8_STRING, dn.organization);
        rdn(oid_ou, UTF8_STRING, dn.organizational_unit);
        rdn(oid_cn, UTF8_STRING, dn.common_name);
    });
}

}  // namespace minica::detail::der
