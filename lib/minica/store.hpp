// The CA directory on disk and its inventory of issued certificates.
//
//   <dir>/ca.pem         the issuing CA certificate (0644)
//   <dir>/ca-key.pem     its key, PKCS#8, optionally encrypted (0400)
//   <dir>/chain.pem      with --intermediate: the intermediate's parents (root) (0644)
//   <dir>/root.pem       with --intermediate: the root certificate (0644)
//   <dir>/root-key.pem   with --intermediate: the root key (0400)
//   <dir>/policy.json    schemas/policy.schema.json (0644)
//   <dir>/inventory.db   SQLite, WAL mode: every certificate issued (0600)
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/policy.hpp"
#include "minica/revocation.hpp"

namespace minica {

// ---- files -----------------------------------------------------------------
// Writes to a temporary file in the same directory, fsyncs it, renames it
// over `path` and fsyncs the directory. Without `overwrite`, an existing path
// is Error(exists) "<path> already exists" and nothing is written.
// Errors: Error(io) "writing <path>: <strerror>".
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       unsigned mode, bool overwrite = false);
// Error(not_found) / Error(io) naming the path.
std::string read_file(const std::filesystem::path& path);

// ---- inventory ---------------------------------------------------------------
enum class CertStatus { valid, revoked };

struct InventoryRecord {
    std::string serial_hex;
    std::string subject;
    std::vector<std::string> names;
    std::string key_type;
    std::string profile;  // "server" | "client" | "both" | "ca"
    Time not_before{};
    Time not_after{};
    std::string fingerprint_sha256;
    CertStatus status = CertStatus::valid;
    std::optional<Time> revoked_at;
    std::optional<RevocationReason> reason;
    std::string pem;

    nlohmann::json to_json() const;  // one element of schemas/list.schema.json
    static InventoryRecord from_certificate(const Certificate& cert, std::string_view profile);
};

struct ListFilter {
    std::optional<std::chrono::days> expiring_within;  // not_after <= now + days (and not yet expired)
    bool revoked_only = false;
    std::optional<Time> now;
};

// One interface over the store, so a server database can come later.
class Inventory {
public:
    virtual ~Inventory() = default;

    // In one transaction: draws random serials until one is unused, calls
    // `build(serial)` to sign the certificate, records it, commits. If build
    // throws, nothing is recorded. Returns the recorded certificate.
    virtual Certificate issue(std::string_view profile,
                              const std::function<Certificate(const std::string& serial)>& build) = 0;
    virtual std::vector<InventoryRecord> list(const ListFilter& filter = {}) = 0;
    virtual std::optional<InventoryRecord> find(std::string_view serial_hex) = 0;
    // Error(not_found) for an unknown serial; revoking twice is Error(policy).
    virtual InventoryRecord revoke(std::string_view serial_hex, RevocationReason reason,
                                   std::optional<Time> at = std::nullopt) = 0;
    virtual std::vector<RevokedCertificate> revoked() = 0;
    // The next CRL number (strictly greater than any handed out before), persisted.
    virtual std::uint64_t next_crl_number() = 0;
};

// Opens (creating if absent) an SQLite inventory. A truncated or corrupt
// file is Error(store) "inventory <path>: <reason>", never an empty listing.
std::unique_ptr<Inventory> open_sqlite_inventory(const std::filesystem::path& path);

// ---- the CA directory ------------------------------------------------------------
struct InitOptions {
    CaOptions ca;
    bool intermediate = false;  // a root signs an intermediate; the intermediate issues
    std::optional<std::string> passphrase;  // encrypts the CA key(s)
    Policy policy;
};

class CaDirectory {
public:
    // Creates a new CA in `dir` (created if missing, 0700). An existing CA
    // (ca.pem or ca-key.pem present) is Error(exists) naming the directory;
    // nothing is touched. On failure no partial CA is left behind.
    static CaDirectory init(const std::filesystem::path& dir, const InitOptions& options);
    // Error(not_found) "no CA in <dir>" when absent.
    static CaDirectory open(const std::filesystem::path& dir);
    static bool exists(const std::filesystem::path& dir);

    const std::filesystem::path& path() const noexcept { return dir_; }
    std::filesystem::path cert_path() const { return dir_ / "ca.pem"; }
    std::filesystem::path key_path() const { return dir_ / "ca-key.pem"; }
    bool key_encrypted() const;

    // Loads ca.pem + ca-key.pem (+ chain.pem); a key that does not match is Error(policy).
    Authority authority(std::optional<std::string_view> passphrase = std::nullopt) const;
    Policy policy() const;
    Inventory& inventory();

private:
    explicit CaDirectory(std::filesystem::path dir);
    std::filesystem::path dir_;
    std::shared_ptr<Inventory> inventory_;
};

}  // namespace minica
