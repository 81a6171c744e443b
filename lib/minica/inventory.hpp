// The inventory: what a CA issued and revoked. One interface (so a server
// database can come later), its records, and the SQLite implementation.
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

#include "minica/certificate.hpp"
#include "minica/revocation.hpp"
#include "minica/types.hpp"

namespace minica {

namespace acme {
class AcmeStore;  // acme/store.hpp (internal)
}

enum class CertStatus { valid, revoked };

struct InventoryRecord {
    std::string serial_hex;
    std::string subject;
    std::vector<std::string> names;
    std::string key_type;  // to_string(KeyType), or OpenSSL's name for a key minica does not make
    Profile profile = Profile::server;  // Profile::ca for an intermediate the CA holds
    Time not_before{};
    Time not_after{};
    std::string fingerprint_sha256;
    CertStatus status = CertStatus::valid;
    std::optional<Time> revoked_at;
    std::optional<RevocationReason> reason;
    std::optional<std::int64_t> account;  // the ACME account it was issued to (minica serve)
    std::string pem;  // filled by find/revoke; list() leaves it empty (it never reads PEMs)

    // One element of schemas/list.schema.json: serial, subject, names, key_type,
    // profile, not_before, not_after (RFC 3339), fingerprint_sha256, status
    // ("valid" | "revoked"), revoked_at (RFC 3339 or null), reason (the
    // RevocationReason name or null), account (integer or null). The PEM is
    // not part of it.
    nlohmann::json to_json() const;
    static InventoryRecord from_certificate(const Certificate& cert, Profile profile);
};

// Filters combine with AND. Results come in issue order, or by not_after
// (soonest first) with expiring_within.
struct ListFilter {
    std::optional<std::chrono::days> expiring_within;  // now <= not_after <= now + days
    bool revoked_only = false;
    std::optional<Time> now;
};

class Inventory {
public:
    virtual ~Inventory() = default;

    // In one write transaction (other writers wait): draws random serials
    // (random_serial()) until one is unused, calls `build(serial)` to sign the
    // certificate, records it, calls `also(certificate)` (if set), commits.
    // `serial` is big-endian bytes, ready for CertificateTemplate::serial. The
    // record is keyed by the certificate's own serial; if build used another
    // serial that is already recorded, that is Error(store) and nothing is
    // recorded. If build or also throws, nothing is recorded (neither the
    // certificate nor what `also` wrote: it may call this inventory's own
    // methods, which then join the transaction) and the exception propagates.
    // Returns the recorded certificate.
    virtual Certificate issue(Profile profile, const std::function<Certificate(const std::string& serial)>& build,
                              const std::function<void(const Certificate&)>& also = {}) = 0;
    // Removes a certificate that issue() recorded but that was never handed
    // out (its files could not be made durable): as if it had never been
    // issued. Error(not_found) for an unknown serial.
    virtual void withdraw(std::string_view serial_hex) = 0;
    // Records existing certificates in one transaction (bulk import, benchmarks).
    // Records are stored as given (not re-parsed: only the key of each PEM is
    // hashed, for compromised_key); a serial already present is Error(exists),
    // an account that is not in acme() Error(not_found), and then nothing of
    // the batch is recorded.
    virtual void import(const std::vector<InventoryRecord>& records) = 0;
    virtual std::vector<InventoryRecord> list(const ListFilter& filter = {}) = 0;
    // The serial is normalized with normalize_serial_hex. The PEM is checked
    // against the recorded fingerprint (a mismatch is Error(store)).
    virtual std::optional<InventoryRecord> find(std::string_view serial_hex) = 0;
    // Error(not_found) for an unknown serial; revoking twice is Error(policy).
    // `at` defaults to now. Returns the updated record.
    virtual InventoryRecord revoke(std::string_view serial_hex, RevocationReason reason,
                                   std::optional<Time> at = std::nullopt) = 0;
    // The entries of a CRL. Leaves: the issuing CA's CRL, every revoked record
    // but the intermediates. Intermediates: the root's CRL, the revoked
    // records with Profile::ca (the root signed them, not the intermediate).
    enum class CrlScope { leaves, intermediates };
    virtual std::vector<RevokedCertificate> revoked(CrlScope scope = CrlScope::leaves) = 0;
    // The serial of a certificate for this key (SubjectPublicKeyInfo DER)
    // revoked for keyCompromise, if any: such a key is never certified again.
    virtual std::optional<std::string> compromised_key(std::string_view spki_der) = 0;
    // The next CRL number (strictly greater than any handed out before), persisted.
    virtual std::uint64_t next_crl_number() = 0;
    // How many revocations were ever recorded (by any process; imports of
    // revoked records aside). It only grows: a server polls it to notice a
    // revocation made by another process and re-sign its CRL.
    virtual std::uint64_t revocation_count() = 0;
    // The ACME server's accounts, orders and authorizations, in the same file
    // and connection: its calls inside issue()'s `also` join that transaction.
    // Lives as long as this inventory.
    virtual acme::AcmeStore& acme() = 0;
};

// Opens (creating if absent) an SQLite inventory. A truncated or corrupt
// file is Error(store) "inventory <path>: <reason>", never an empty listing;
// so is an existing file that is not a minica inventory (including an empty
// one), and one of a newer schema than this minica's. One of an older schema
// is migrated in place, in one transaction (a racing opener waits, then finds
// it done). A new inventory is built under a temporary name and linked into place,
// so concurrent openers never see a half-made one. Each call opens its own
// connection (WAL, busy timeout 60 s, synchronous=FULL); one Inventory may be
// shared across threads (calls are serialized), or each thread opens its own.
std::unique_ptr<Inventory> open_sqlite_inventory(const std::filesystem::path& path);
// Creates a new SQLite inventory; Error(exists) when `path` exists (even one
// made by a racing process meanwhile): what CaDirectory::init uses.
std::unique_ptr<Inventory> create_sqlite_inventory(const std::filesystem::path& path);

}  // namespace minica
