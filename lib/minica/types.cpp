#include "minica/types.hpp"

#include <cstdio>

#include "minica/error.hpp"

namespace minica {

Time now() noexcept { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

std::string format_time(Time t) {
    using namespace std::chrono;
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

namespace {
// Each enum's names, in the enum's order.
constexpr std::string_view key_type_names[] = {"ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"};
constexpr std::string_view profile_names[] = {"server", "client", "both", "email", "ca"};
template <class Enum, std::size_t N> std::string_view name_in(const std::string_view (&names)[N], Enum v) noexcept {
    auto i = static_cast<std::size_t>(v);
    return i < N ? names[i] : "unknown";
}
}  // namespace

std::string_view to_string(KeyType type) noexcept { return name_in(key_type_names, type); }

KeyType parse_key_type(std::string_view name) {
    for (KeyType t : all_key_types)
        if (to_string(t) == name) return t;
    throw Error(ErrorKind::invalid_argument,
                "unknown key type \"" + std::string(name) + "\" (expected " + names_of(all_key_types) + ")");
}

std::string_view to_string(Profile p) noexcept { return name_in(profile_names, p); }

Profile parse_profile(std::string_view name) {
    if (name == "ca") return Profile::ca;
    return parse_leaf_profile(name);
}

Profile parse_leaf_profile(std::string_view name) {
    for (Profile p : leaf_profiles)
        if (to_string(p) == name) return p;
    throw Error(ErrorKind::invalid_argument,
                "unknown profile \"" + std::string(name) + "\" (expected " + names_of(leaf_profiles) + ")");
}

bool DistinguishedName::empty() const noexcept {
    return common_name.empty() && organization.empty() && organizational_unit.empty() && country.empty();
}

std::string DistinguishedName::to_string() const {
    std::string out;
    auto add = [&](const char* k, const std::string& v) {
        if (v.empty()) return;
        if (!out.empty()) out += ", ";
        out += k;
        out += '=';
        out += v;
    };
    add("C", country);
    add("O", organization);
    add("OU", organizational_unit);
    add("CN", common_name);
    return out;
}

}  // namespace minica
