// The CA directory on disk and its inventory of issued certificates.
//
//   <dir>/ca.pem         the issuing CA certificate (0644): the root, or with
//                        --intermediate the intermediate that signs leaves
//   <dir>/ca-key.pem     its key, PKCS#8, optionally encrypted (0400)
//   <dir>/chain.pem      with --intermediate: the intermediates a leaf sends,
//                        i.e. the issuing intermediate itself (0644)
//   <dir>/root.pem       with --intermediate: the root certificate, the trust
//                        anchor (0644); a plain root CA has no root.pem (ca.pem is the root)
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
// Writes to a temporary file in the same directory (mode set with fchmod, so
// the umask neither widens nor narrows it), fsyncs it, moves it to `path` and
// fsyncs the directory. Nothing half-written ever exists under `path`.
// Without `overwrite`, an existing path (even one created by a racing writer)
// is Error(exists) "<path> already exists" and is left untouched; the move is
// renameat2(RENAME_NOREPLACE), or link()+unlink() where that is unsupported.
// Errors: Error(io) "writing <path>: <strerror>"; the temporary file is removed.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       unsigned mode, bool overwrite = false);
// Error(not_found) / Error(io) naming the path.
std::string read_file(const std::filesystem::path& path);

// write_file_atomic for a group of files, in two steps so that the slow one
// can run beside other work. The constructor writes every file to an unnamed
// temporary (O_TMPFILE; a named one where the file system has none) with its
// mode, sends all their data to the disk at once and fsyncs each: the files
// are complete and durable, under no name yet. publish() moves them into
// place (replacing only with `overwrite`; never otherwise, even a file a
// racing writer made) and fsyncs each directory once. With `create_dirs`,
// missing parent directories are made (0755, the umask applies). Destroyed
// unpublished, or when either step fails, it removes whatever it created:
// temporaries, files it published, directories it made. Errors as
// write_file_atomic's (Error(exists), Error(io) "<verb> <path>: <reason>").
struct FileToWrite {
    const std::filesystem::path& path;
    std::string_view content;
    unsigned mode;
};
class StagedFiles {
public:
    StagedFiles(const std::vector<FileToWrite>& files, bool overwrite, bool create_dirs);
    StagedFiles(const StagedFiles&) = delete;
    StagedFiles& operator=(const StagedFiles&) = delete;
    ~StagedFiles();
    void publish();

private:
    void roll_back() noexcept;
    bool overwrite_;
    bool done_ = false;
    std::vector<std::filesystem::path> paths_;
    std::vector<std::filesystem::path> made_dirs_;  // created here, outermost first
    std::vector<std::filesystem::path> temps_;      // per file: its named temporary, empty where unnamed
    std::vector<int> fds_;                          // per file: open descriptor (unnamed until published), or -1
    std::vector<std::filesystem::path> published_;  // moved into place, did not exist before
    std::vector<std::filesystem::path> dirs_;       // to fsync once at the end
};

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
    std::string pem;  // filled by find/revoke; list() leaves it empty (it never reads PEMs)

    // One element of schemas/list.schema.json: serial, subject, names, key_type,
    // profile, not_before, not_after (RFC 3339), fingerprint_sha256, status
    // ("valid" | "revoked"), revoked_at (RFC 3339 or null), reason (the
    // RevocationReason name or null). The PEM is not part of it.
    nlohmann::json to_json() const;
    static InventoryRecord from_certificate(const Certificate& cert, std::string_view profile);
};

// Filters combine with AND. Results come in issue order, or by not_after
// (soonest first) with expiring_within.
struct ListFilter {
    std::optional<std::chrono::days> expiring_within;  // now <= not_after <= now + days
    bool revoked_only = false;
    std::optional<Time> now;
};

// Serials given by a person: hex, any case, with or without colons, an "0x"
// prefix or leading zeros. Returns Certificate::serial_hex() form (upper case,
// no separators, no leading zeros); Error(invalid_argument) otherwise.
std::string normalize_serial_hex(std::string_view serial);

// One interface over the store, so a server database can come later.
class Inventory {
public:
    virtual ~Inventory() = default;

    // In one write transaction (other writers wait): draws random serials
    // (random_serial()) until one is unused, calls `build(serial)` to sign the
    // certificate, records it, commits. `serial` is big-endian bytes, ready for
    // CertificateTemplate::serial. The record is keyed by the certificate's own
    // serial; if build used another serial that is already recorded, that is
    // Error(store) and nothing is recorded. If build throws, nothing is
    // recorded and the exception propagates. Returns the recorded certificate.
    virtual Certificate issue(std::string_view profile,
                              const std::function<Certificate(const std::string& serial)>& build) = 0;
    // Records existing certificates in one transaction (bulk import, benchmarks).
    // Records are stored as given (not re-parsed); a serial already present is
    // Error(exists) and nothing of the batch is recorded.
    virtual void import(const std::vector<InventoryRecord>& records) = 0;
    virtual std::vector<InventoryRecord> list(const ListFilter& filter = {}) = 0;
    // The serial is normalized with normalize_serial_hex. The PEM is checked
    // against the recorded fingerprint (a mismatch is Error(store)).
    virtual std::optional<InventoryRecord> find(std::string_view serial_hex) = 0;
    // Error(not_found) for an unknown serial; revoking twice is Error(policy).
    // `at` defaults to now. Returns the updated record.
    virtual InventoryRecord revoke(std::string_view serial_hex, RevocationReason reason,
                                   std::optional<Time> at = std::nullopt) = 0;
    // The entries of the issuing CA's CRL: every revoked record except those
    // with profile "ca" (an intermediate is signed by the root, so it belongs
    // on the root's CRL, not its own).
    virtual std::vector<RevokedCertificate> revoked() = 0;
    // The next CRL number (strictly greater than any handed out before), persisted.
    virtual std::uint64_t next_crl_number() = 0;
};

// Opens (creating if absent) an SQLite inventory. A truncated or corrupt
// file is Error(store) "inventory <path>: <reason>", never an empty listing;
// so is an existing file that is not a minica inventory (including an empty
// one). A new inventory is built under a temporary name and linked into place,
// so concurrent openers never see a half-made one. Each call opens its own
// connection (WAL, busy timeout 60 s, synchronous=FULL); one Inventory may be
// shared across threads (calls are serialized), or each thread opens its own.
std::unique_ptr<Inventory> open_sqlite_inventory(const std::filesystem::path& path);

// ---- the CA directory ------------------------------------------------------------
struct InitOptions {
    // The issuing CA: the root, or with `intermediate` the intermediate. For an
    // intermediate, path_len defaults to 0 (it signs leaves only) and a
    // validity left at default_root_validity means default_intermediate_validity.
    CaOptions ca;
    bool intermediate = false;  // a root signs an intermediate; the intermediate issues
    // With `intermediate`: the root's options. Default: ca's subject with
    // " Root" appended to the common name, ca's key type and clock,
    // default_root_validity, no name constraints (they go on the intermediate).
    std::optional<CaOptions> root;
    std::optional<std::string> passphrase;  // encrypts the CA key(s)
    Policy policy;
};

class CaDirectory {
public:
    // Creates a new CA in `dir` (created if missing, 0700). An existing CA
    // (ca.pem or ca-key.pem present) is Error(exists) "a CA already exists in
    // <dir>"; any other CA file left over is Error(exists) "<path> already
    // exists"; nothing is touched. On failure, whatever init created is removed
    // (never anything that existed before). ca.pem is written last. With an
    // intermediate, it is recorded in the inventory with profile "ca".
    static CaDirectory init(const std::filesystem::path& dir, const InitOptions& options);
    // Error(not_found) "no CA in <dir>" when absent (no ca.pem).
    static CaDirectory open(const std::filesystem::path& dir);
    // What `minica sign` does on first use: opens the CA in `dir`, or creates
    // it when there is none. Safe when many processes do it at once (they wait
    // on a lock on the directory and all use the one CA created), and after an
    // init killed midway (its files, never used, are moved aside).
    static CaDirectory open_or_init(const std::filesystem::path& dir, const InitOptions& options, bool& created);
    static bool exists(const std::filesystem::path& dir);  // ca.pem or ca-key.pem present

    const std::filesystem::path& path() const noexcept { return dir_; }
    std::filesystem::path cert_path() const { return dir_ / "ca.pem"; }
    std::filesystem::path key_path() const { return dir_ / "ca-key.pem"; }
    std::filesystem::path chain_path() const { return dir_ / "chain.pem"; }
    std::filesystem::path root_path() const { return dir_ / "root.pem"; }
    std::filesystem::path root_key_path() const { return dir_ / "root-key.pem"; }
    std::filesystem::path policy_path() const { return dir_ / "policy.json"; }
    std::filesystem::path inventory_path() const { return dir_ / "inventory.db"; }
    bool has_intermediate() const;  // root.pem present
    // What relying parties trust: root.pem with an intermediate, else ca.pem.
    std::filesystem::path trust_anchor_path() const;
    // The key PEM is "ENCRYPTED PRIVATE KEY" (or a legacy encrypted PEM).
    bool key_encrypted() const;

    // Loads ca.pem + ca-key.pem, and root.pem as the parent of an intermediate
    // (so Authority::intermediates() is the chain a leaf sends). A key that does
    // not match is Error(policy) "CA key <key> does not match <cert>"; a wrong or
    // missing passphrase is Error(passphrase).
    Authority authority(std::optional<std::string_view> passphrase = std::nullopt) const;
    Policy policy() const;  // policy.json
    // Opened on first use (one connection per CaDirectory). A missing
    // inventory.db is Error(store): recreating it empty would forget every
    // revocation and restart the CRL numbers.
    Inventory& inventory();
    // Closes the inventory connection now (SQLite checkpoints its WAL into
    // inventory.db and removes it) rather than when the CaDirectory goes; the
    // next inventory() opens it again. Every commit is durable before this:
    // it only tidies up, so a caller may run it beside other work.
    void close_inventory() noexcept;

private:
    explicit CaDirectory(std::filesystem::path dir);
    static CaDirectory init_locked(const std::filesystem::path& dir, const InitOptions& options,
                                   const std::filesystem::path& created_dir);
    std::filesystem::path dir_;
    std::shared_ptr<Inventory> inventory_;
};

}  // namespace minica
