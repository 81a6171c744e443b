// The inventory's records and serials (inventory.hpp); the SQLite
// implementation is inventory_sqlite.cpp.
#include "minica/inventory.hpp"

#include <nlohmann/json.hpp>

#include "minica/error.hpp"

namespace minica {

std::string normalize_serial_hex(std::string_view serial) {
    std::string_view s = serial;
    auto bad = [&](std::string_view why) -> Error {
        return Error(ErrorKind::invalid_argument,
                     "invalid serial \"" + std::string(serial) + "\": " + std::string(why));
    };
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
    std::string hex;
    hex.reserve(s.size());
    for (char c : s) {
        if (c == ':') continue;
        if (c >= '0' && c <= '9') hex += c;
        else if (c >= 'a' && c <= 'f') hex += static_cast<char>(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'F') hex += c;
        else throw bad("not a hexadecimal number");
    }
    if (hex.empty()) throw bad("empty");
    std::size_t first = hex.find_first_not_of('0');
    if (first == std::string::npos) return "0";
    hex.erase(0, first);
    // RFC 5280 4.1.2.2: at most 20 octets.
    if (hex.size() > 40) throw bad("longer than 20 octets");
    return hex;
}

nlohmann::json InventoryRecord::to_json() const {
    nlohmann::json j;
    j["serial"] = serial_hex;
    j["subject"] = subject;
    j["names"] = names;
    j["key_type"] = key_type;
    j["profile"] = std::string(to_string(profile));
    j["not_before"] = format_time(not_before);
    j["not_after"] = format_time(not_after);
    j["fingerprint_sha256"] = fingerprint_sha256;
    j["status"] = status == CertStatus::revoked ? "revoked" : "valid";
    j["revoked_at"] = revoked_at ? nlohmann::json(format_time(*revoked_at)) : nlohmann::json(nullptr);
    j["reason"] = reason ? nlohmann::json(std::string(to_string(*reason))) : nlohmann::json(nullptr);
    return j;
}

InventoryRecord InventoryRecord::from_certificate(const Certificate& cert, Profile profile) {
    InventoryRecord r;
    r.serial_hex = cert.serial_hex();
    r.subject = cert.subject();
    r.names = cert.names().all();
    r.key_type = cert.key_name();
    r.profile = profile;
    r.not_before = cert.not_before();
    r.not_after = cert.not_after();
    r.fingerprint_sha256 = cert.fingerprint_sha256();
    r.pem = cert.to_pem();
    return r;
}

}  // namespace minica
