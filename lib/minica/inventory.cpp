// The inventory's records and serials (inventory.hpp); the SQLite
// implementation is inventory_sqlite.cpp.
#include "minica/inventory.hpp"

#include <nlohmann/json.hpp>

#include "minica/error.hpp"

namespace minica {

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
    j["account"] = account ? nlohmann::json(*account) : nlohmann::json(nullptr);
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
