// The inventory of issued certificates in one SQLite file (WAL mode).
//
// Concurrency: every CaDirectory / open_sqlite_inventory call has its own
// connection. Writers take the write lock up front (BEGIN IMMEDIATE), so two
// processes never both draw a serial and then fight over the commit; waiting
// writers sleep in SQLite's busy handler for up to busy_timeout_ms. WAL lets
// readers (list, find) run while a writer signs.
//
// Durability: synchronous=FULL. In WAL mode NORMAL is already crash-safe for
// the process (a SIGKILL never loses a commit) but a power loss may roll back
// the last commits; a CA must never hand out a certificate that its inventory
// then forgets (it could not be revoked, and its serial could be drawn again),
// and one extra fsync per issued certificate is nothing next to signing.
//
// Corruption: an existing file must be a minica inventory. On open we check
// the header ourselves (SQLite magic, whole pages, page count against the file
// size), then application_id, user_version and the tables, and run
// PRAGMA quick_check for inventories up to quick_check_max_bytes. Any SQLite
// error later (a bad page met while listing) is Error(store) too, and the
// partial result is dropped, so a damaged inventory never lists as empty.
//
// Schema versions: user_version. An older file is migrated on open, in one
// write transaction (see migrate()); a newer one is refused (no downgrade).
#include "minica/inventory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <random>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "minica/acme/store_sqlite.hpp"
#include "minica/authority.hpp"
#include "minica/detail/files.hpp"
#include "minica/detail/sqlite.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"
#include "minica/text.hpp"

#include <spdlog/spdlog.h>

namespace fs = std::filesystem;

namespace minica {

namespace {

using detail::Stmt;
using detail::Tx;

// 'minc' in the database header, so another application's SQLite file is
// told apart from a minica inventory.
constexpr std::int32_t application_id = 0x6D696E63;
// Long enough for 50 processes signing at once on a slow machine: each holds
// the write lock for a signature and one fsync'ed commit.
constexpr int busy_timeout_ms = 60'000;
// quick_check reads every page, and every CLI run (each of 50 concurrent
// signers too) pays for it: up to 4 MiB (some 4,000 certificates) that is
// noise next to a signature; beyond it we rely on our header checks and
// SQLite's per-page checks when a query reaches a page.
constexpr std::int64_t quick_check_max_bytes = 4ll << 20;

constexpr const char* schema_sql = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('crl_number', 0);

-- One row per certificate, narrow so listing 1M rows stays fast; the PEM
-- lives in its own table and is read only by find/revoke.
CREATE TABLE certificates (
    id                 INTEGER PRIMARY KEY,          -- issue order
    serial             TEXT NOT NULL UNIQUE,         -- upper-case hex, no leading zeros
    subject            TEXT NOT NULL,
    names              TEXT NOT NULL,                -- JSON array of strings
    key_type           TEXT NOT NULL,
    profile            TEXT NOT NULL,                -- server | client | both | ca
    not_before         INTEGER NOT NULL,             -- unix seconds
    not_after          INTEGER NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    revoked_at         INTEGER,                      -- unix seconds
    reason             INTEGER,                      -- RFC 5280 CRLReason
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL AND reason IS NOT NULL))
);
CREATE INDEX certificates_not_after ON certificates (not_after);
-- Covers revoked(): the CRL's entries come from the index alone.
-- (status is listed too: SQLite counts an index as covering only if it
-- holds every column the query names, even the partial index's own WHERE).
CREATE INDEX certificates_revoked ON certificates (revoked_at, serial, reason, profile, status)
    WHERE status = 'revoked';

CREATE TABLE pems (
    id  INTEGER PRIMARY KEY REFERENCES certificates (id),
    pem TEXT NOT NULL
);
)sql";

// Version 2: the ACME server's tables (acme/store.hpp), the key and account of
// each certificate, and a revocation counter. Never edit a migration that
// shipped: add the next one.
constexpr const char* schema_v2_sql = R"sql(
CREATE TABLE acme_accounts (
    id          INTEGER PRIMARY KEY,                 -- URL /acme/acct/{id}
    thumbprint  TEXT NOT NULL UNIQUE,                -- RFC 7638 of the current key (lookup by jwk)
    spki_sha256 TEXT NOT NULL UNIQUE,                -- CSR-key == account-key check, revoke-by-key
    jwk         TEXT NOT NULL,                       -- canonical JSON
    status      TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact     TEXT NOT NULL DEFAULT '[]',          -- JSON array of URLs
    eab_kid     TEXT,
    created_at  INTEGER NOT NULL
);
-- A key binds one account, once.
CREATE TABLE acme_eab_keys (
    kid        TEXT PRIMARY KEY,
    hmac_key   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    account_id INTEGER REFERENCES acme_accounts (id),
    used_at    INTEGER
) WITHOUT ROWID;
CREATE TABLE acme_orders (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES acme_accounts (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
    expires     INTEGER NOT NULL,
    identifiers TEXT NOT NULL,                       -- canonical sorted JSON
    error       TEXT,                                -- problem document
    cert_serial TEXT,
    replaces    TEXT,                                -- the ARI certID
    created_at  INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, id);
-- A second order replacing one certificate is a constraint violation: alreadyReplaced.
CREATE UNIQUE INDEX acme_orders_replaces ON acme_orders (replaces)
    WHERE replaces IS NOT NULL AND status <> 'invalid';
-- Challenges are folded in: one token, one attempt per authorization.
CREATE TABLE acme_authzs (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES acme_orders (id),
    account_id       INTEGER NOT NULL,
    type             TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
    value            TEXT NOT NULL,
    wildcard         INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL
        CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
    expires          INTEGER NOT NULL,
    token            TEXT NOT NULL,
    challenge        TEXT CHECK (challenge IN ('http-01', 'tls-alpn-01', 'dns-01')),  -- the one attempted
    challenge_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (challenge_status IN ('pending', 'processing', 'valid', 'invalid')),
    validated        INTEGER,
    error            TEXT,                           -- problem document
    record           TEXT                            -- validationRecord JSON
);
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);
CREATE INDEX acme_authzs_processing ON acme_authzs (id) WHERE challenge_status = 'processing';

ALTER TABLE certificates ADD COLUMN spki_sha256 TEXT;  -- lower-case hex; backfilled from the PEMs
ALTER TABLE certificates ADD COLUMN account_id INTEGER REFERENCES acme_accounts (id);
CREATE INDEX certificates_compromised ON certificates (spki_sha256) WHERE status = 'revoked' AND reason = 1;
CREATE INDEX certificates_account ON certificates (account_id) WHERE account_id IS NOT NULL;
-- Bumped by every revocation, whoever makes it: a server polls it to notice a
-- `minica revoke` by another process and re-sign its CRL.
INSERT INTO meta (key, value) VALUES ('revocations', (SELECT count(*) FROM certificates WHERE status = 'revoked'));
CREATE TRIGGER certificates_revocations AFTER UPDATE OF status ON certificates WHEN NEW.status = 'revoked'
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'revocations';
END;
)sql";

// What SQL cannot compute in version 2: each certificate's SPKI hash, read
// from its PEM, a thousand rows at a time (a big inventory is not held in memory).
void backfill_spki_sha256(const detail::SqliteDb& db) {
    Stmt read(db,
              "SELECT c.id, c.serial, p.pem FROM certificates c JOIN pems p ON p.id = c.id "
              "WHERE c.spki_sha256 IS NULL AND c.id > ?1 ORDER BY c.id LIMIT 1000");
    Stmt write(db, "UPDATE certificates SET spki_sha256 = ?1 WHERE id = ?2");
    std::int64_t last = 0;
    for (;;) {
        std::vector<std::pair<std::int64_t, std::string>> chunk;
        read.reset();
        read.bind(1, last);
        while (read.step()) {
            std::string spki;
            try {
                spki = Certificate::from_pem(read.text(2)).public_key_der();
            } catch (const Error&) {
                db.fail("corrupt record " + read.text(1) + " (unreadable PEM)");
            }
            chunk.emplace_back(read.integer(0), detail::sha256_hex(spki));
        }
        if (chunk.empty()) return;
        for (const auto& [id, hash] : chunk) {
            write.reset();
            write.bind(1, hash).bind(2, id);
            write.step();
        }
        last = chunk.back().first;
    }
}

// migrations[i] takes a version i + 1 inventory to version i + 2, in the
// transaction that sets user_version. A new inventory is schema_sql plus
// every migration, so a new file and a migrated one are alike by construction.
struct Migration {
    const char* sql;
    void (*backfill)(const detail::SqliteDb&);  // what SQL cannot compute, or null
};
constexpr Migration migrations[] = {
    {schema_v2_sql, backfill_spki_sha256},
};
constexpr int schema_version = 1 + static_cast<int>(std::size(migrations));

constexpr const char* record_columns =
    "c.serial, c.subject, c.names, c.key_type, c.profile, c.not_before, c.not_after, "
    "c.fingerprint_sha256, c.status, c.revoked_at, c.reason, c.account_id";

bool valid_reason(std::int64_t r) {
    switch (r) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 9: case 10: return true;
        default: return false;
    }
}

// names is a JSON array of strings. Names never need escaping (DNS, IP,
// email, URI), so the common case is read without a JSON parser: listing a
// million records spends its time here.
bool parse_names(std::string_view text, std::vector<std::string>& out) {
    out.clear();
    if (text.find('\\') == std::string_view::npos && text.size() >= 2 && text.front() == '[' &&
        text.back() == ']') {
        std::string_view rest = text.substr(1, text.size() - 2);
        bool ok = true;
        while (ok && !rest.empty()) {
            if (rest.front() != '"') {
                ok = false;
                break;
            }
            std::size_t end = rest.find('"', 1);
            if (end == std::string_view::npos) {
                ok = false;
                break;
            }
            out.emplace_back(rest.substr(1, end - 1));
            rest.remove_prefix(end + 1);
            if (!rest.empty()) {
                if (rest.front() != ',') ok = false;
                rest.remove_prefix(1);
                if (rest.empty()) ok = false;  // trailing comma
            }
        }
        if (ok) return true;
        out.clear();
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_array()) return false;
    for (const auto& n : j) {
        if (!n.is_string()) return false;
        out.push_back(n.get<std::string>());
    }
    return true;
}

std::int64_t unix_seconds(Time t) { return t.time_since_epoch().count(); }
Time from_unix(std::int64_t s) { return Time{std::chrono::seconds{s}}; }

class SqliteInventory final : public Inventory {
public:
    enum class Mode { open_or_create, create_only };
    SqliteInventory(fs::path path, Mode mode);

    Certificate issue(Profile profile, const std::function<Certificate(const std::string& serial)>& build,
                      const std::function<void(const Certificate&)>& also) override;
    void withdraw(std::string_view serial_hex) override;
    void import(const std::vector<InventoryRecord>& records) override;
    std::vector<InventoryRecord> list(const ListFilter& filter) override;
    std::optional<InventoryRecord> find(std::string_view serial_hex) override;
    InventoryRecord revoke(std::string_view serial_hex, RevocationReason reason,
                           std::optional<Time> at) override;
    std::vector<RevokedCertificate> revoked(CrlScope scope) override;
    std::optional<std::string> compromised_key(std::string_view spki_der) override;
    std::uint64_t next_crl_number() override;
    std::uint64_t revocation_count() override;
    acme::AcmeStore& acme() override { return *acme_; }

private:
    [[noreturn]] void fail(std::string_view reason) const { db_.fail(reason); }
    void check_header() const;
    void check_existing();
    void create_new(Mode mode);
    void run_migrations(std::int64_t from);
    void migrate();
    bool serial_used(const std::string& serial_hex) const;
    void insert(Stmt& cert, Stmt& pem, const InventoryRecord& r, const std::string& spki_sha256);
    InventoryRecord read_record(const Stmt& s, bool with_pem) const;
    std::optional<InventoryRecord> find_locked(const std::string& serial);

    fs::path path_;
    detail::SqliteDb db_;
    std::unique_ptr<acme::AcmeStore> acme_;  // over db_
};

std::string temp_name(const fs::path& path) { return detail::temp_sibling(path).string(); }

void remove_db_files(const std::string& file) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((file + suffix).c_str());
}

SqliteInventory::SqliteInventory(fs::path path, Mode mode) : path_(path), db_(std::move(path)) {
    try {
        struct stat st;
        if (mode == Mode::open_or_create && ::stat(path_.c_str(), &st) == 0) {
            check_existing();
        } else {
            if (mode == Mode::open_or_create && errno != ENOENT) fail(errno_text(errno));
            create_new(mode);
        }
        acme_ = detail::make_sqlite_acme_store(db_);
    } catch (...) {
        // A throwing constructor runs no destructor: close the connection here.
        db_.close_quietly();
        throw;
    }
}

// Our own look at the 100-byte header: catches truncation SQLite would only
// notice when a query reaches the missing pages. Read through SQLite's own
// file handle: opening and closing another descriptor on the database would
// drop every POSIX lock this process holds on it (fcntl locks belong to the
// process, and any close() releases them), corrupting a concurrent writer.
void SqliteInventory::check_header() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) fail(errno_text(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(db_.handle(), "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == nullptr ||
        file->pMethods == nullptr)
        fail("cannot read the database header");
    sqlite3_int64 size = 0;
    if (file->pMethods->xFileSize(file, &size) != SQLITE_OK) fail("cannot read the database size");
    if (size == 0) fail("empty file (truncated, or not a minica inventory)");
    std::array<unsigned char, 100> h{};
    int rc = file->pMethods->xRead(file, h.data(), static_cast<int>(h.size()), 0);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) fail("cannot read the database header");
    if (size < static_cast<sqlite3_int64>(h.size())) fail("truncated (" + std::to_string(size) + " bytes)");
    if (std::memcmp(h.data(), "SQLite format 3", 16) != 0) fail("not an SQLite database");
    std::int64_t page_size = (h[16] << 8) | h[17];
    if (page_size == 1) page_size = 65536;
    if (page_size < 512 || (page_size & (page_size - 1)) != 0) fail("corrupt header (page size)");
    if (size % page_size != 0)
        fail("truncated (" + std::to_string(size) + " bytes is not a whole number of " +
             std::to_string(page_size) + "-byte pages)");
    auto be32 = [&](std::size_t off) {
        return (std::uint32_t{h[off]} << 24) | (std::uint32_t{h[off + 1]} << 16) |
               (std::uint32_t{h[off + 2]} << 8) | std::uint32_t{h[off + 3]};
    };
    // The in-header page count is valid when the change counter matches
    // "version-valid-for". A non-empty WAL may legitimately hold newer pages
    // (a checkpoint interrupted by a crash), so then SQLite has the last word.
    std::uint32_t pages = be32(28);
    struct stat wal;
    bool wal_pending = ::stat((path_.string() + "-wal").c_str(), &wal) == 0 && wal.st_size > 0;
    if (!wal_pending && pages != 0 && be32(24) == be32(92) && pages * page_size > size)
        fail("truncated (" + std::to_string(size) + " bytes, the header says " +
             std::to_string(pages * page_size) + ")");
}

void SqliteInventory::check_existing() {
    db_.open(path_, false, busy_timeout_ms);
    check_header();
    db_.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
    std::int64_t app = 0, version = 0, page_count = 0, page_size = 0;
    {
        Stmt s(db_, "PRAGMA application_id");
        if (s.step()) app = s.integer(0);
    }
    {
        Stmt s(db_, "PRAGMA user_version");
        if (s.step()) version = s.integer(0);
    }
    if (app != application_id) fail("not a minica inventory (application_id " + std::to_string(app) + ")");
    if (version > schema_version)
        fail("schema version " + std::to_string(version) + " is newer than this minica supports (" +
             std::to_string(schema_version) + ")");
    if (version < 1) fail("corrupt (schema version " + std::to_string(version) + ")");
    {
        Stmt s(db_,
               "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
               "('meta', 'certificates', 'pems')");
        if (!s.step() || s.integer(0) != 3) fail("corrupt (tables missing)");
    }
    {
        Stmt s(db_, "PRAGMA journal_mode");
        if (!s.step() || s.text(0) != "wal") {
            s.reset();
            db_.exec("PRAGMA journal_mode = WAL");
        }
    }
    {
        Stmt s(db_, "PRAGMA page_count");
        if (s.step()) page_count = s.integer(0);
    }
    {
        Stmt s(db_, "PRAGMA page_size");
        if (s.step()) page_size = s.integer(0);
    }
    if (page_count * page_size <= quick_check_max_bytes) {
        Stmt s(db_, "PRAGMA quick_check(1)");
        std::string result = s.step() ? s.text(0) : std::string("no result");
        if (result != "ok") fail("corrupt (" + result + ")");
    }
    if (version < schema_version) migrate();
    {
        Stmt s(db_,
               "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
               "('acme_accounts', 'acme_eab_keys', 'acme_orders', 'acme_authzs')");
        if (!s.step() || s.integer(0) != 4) fail("corrupt (tables missing)");
    }
    {
        Stmt s(db_, "SELECT count(*) FROM meta WHERE key IN ('crl_number', 'revocations')");
        if (!s.step() || s.integer(0) != 2) fail("corrupt (no CRL number or revocation count)");
    }
}

void SqliteInventory::run_migrations(std::int64_t from) {
    for (std::int64_t v = from; v < schema_version; ++v) {
        const Migration& m = migrations[v - 1];
        db_.exec(m.sql);
        if (m.backfill) m.backfill(db_);
    }
    db_.exec("PRAGMA user_version = " + std::to_string(schema_version));
}

// All or nothing, one migrator at a time: BEGIN IMMEDIATE waits for the
// write lock, and the version is read again under it, since another process
// opening the same old file may have migrated it meanwhile.
void SqliteInventory::migrate() {
    Tx tx(db_);
    const std::int64_t version = db_.integer("PRAGMA user_version");
    if (version > schema_version)
        fail("schema version " + std::to_string(version) + " is newer than this minica supports (" +
             std::to_string(schema_version) + ")");
    if (version < schema_version) run_migrations(version);
    tx.commit();
    if (version < schema_version)
        logger()->info("migrated inventory {} from schema version {} to {}", path_.string(), version,
                       schema_version);
}

// A new inventory is built under a temporary name, closed (so its WAL is
// checkpointed away) and linked into place without replacing anything: a
// concurrent opener sees either no file or a complete inventory.
void SqliteInventory::create_new(Mode mode) {
    const std::string tmp = temp_name(path_);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) fail(errno_text(errno));
    ::fchmod(fd, 0600);  // the umask must not narrow it (nor widen it)
    ::close(fd);
    try {
        db_.open(tmp, false, busy_timeout_ms);
        db_.exec("PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL");
        db_.exec(("PRAGMA application_id = " + std::to_string(application_id)).c_str());
        db_.exec("BEGIN IMMEDIATE");
        db_.exec(schema_sql);
        run_migrations(1);
        db_.exec("COMMIT");
        db_.close();
        bool published = detail::publish_noreplace(tmp, path_);
        remove_db_files(tmp);
        if (!published) {
            if (mode == Mode::create_only) throw Error(ErrorKind::exists, path_.string() + " already exists");
        } else {
            fs::path dir = path_.parent_path();
            if (dir.empty()) dir = ".";
            int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                ::fsync(dfd);
                ::close(dfd);
            }
            logger()->debug("created inventory {}", path_.string());
        }
    } catch (...) {
        db_.close_quietly();
        remove_db_files(tmp);
        throw;
    }
    check_existing();
}

bool SqliteInventory::serial_used(const std::string& serial_hex) const {
    Stmt s(db_, "SELECT 1 FROM certificates WHERE serial = ?1");
    s.bind(1, serial_hex);
    return s.step();
}

void SqliteInventory::insert(Stmt& cert, Stmt& pem, const InventoryRecord& r, const std::string& spki_sha256) {
    const std::string serial = normalize_serial_hex(r.serial_hex);
    cert.reset();
    cert.bind(1, serial)
        .bind(2, r.subject)
        .bind(3, nlohmann::json(r.names).dump())
        .bind(4, r.key_type)
        .bind(5, to_string(r.profile))
        .bind(6, unix_seconds(r.not_before))
        .bind(7, unix_seconds(r.not_after))
        .bind(8, r.fingerprint_sha256)
        .bind(9, r.status == CertStatus::revoked ? "revoked" : "valid");
    if (r.status == CertStatus::revoked) {
        cert.bind(10, unix_seconds(r.revoked_at.value_or(r.not_before)))
            .bind(11, static_cast<std::int64_t>(r.reason.value_or(RevocationReason::unspecified)));
    } else {
        cert.bind_null(10).bind_null(11);
    }
    if (spki_sha256.empty()) cert.bind_null(12); else cert.bind(12, spki_sha256);
    if (r.account) cert.bind(13, *r.account); else cert.bind_null(13);
    int rc = cert.step_raw();
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        throw Error(ErrorKind::exists, "serial " + serial + " is already in inventory " + path_.string());
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        throw Error(ErrorKind::not_found, "ACME account " + std::to_string(r.account.value_or(0)) +
                                              " of serial " + serial + " is not in inventory " + path_.string());
    if (rc != SQLITE_DONE) db_.fail_sqlite();
    pem.reset();
    pem.bind(1, db_.last_insert_rowid()).bind(2, r.pem);
    pem.step();
}

constexpr const char* insert_cert_sql =
    "INSERT INTO certificates (serial, subject, names, key_type, profile, not_before, not_after, "
    "fingerprint_sha256, status, revoked_at, reason, spki_sha256, account_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
constexpr const char* insert_pem_sql = "INSERT INTO pems (id, pem) VALUES (?1, ?2)";

InventoryRecord SqliteInventory::read_record(const Stmt& s, bool with_pem) const {
    InventoryRecord r;
    r.serial_hex = s.text(0);
    r.subject = s.text(1);
    if (!parse_names(s.text(2), r.names)) fail("corrupt record " + r.serial_hex + " (names)");
    r.key_type = s.text(3);
    try {
        r.profile = parse_profile(s.text(4));
    } catch (const Error&) {
        fail("corrupt record " + r.serial_hex + " (profile)");
    }
    r.not_before = from_unix(s.integer(5));
    r.not_after = from_unix(s.integer(6));
    r.fingerprint_sha256 = s.text(7);
    const std::string status = s.text(8);
    if (status == "revoked") {
        r.status = CertStatus::revoked;
        if (s.null(9) || s.null(10) || !valid_reason(s.integer(10)))
            fail("corrupt record " + r.serial_hex + " (revocation)");
        r.revoked_at = from_unix(s.integer(9));
        r.reason = static_cast<RevocationReason>(s.integer(10));
    } else if (status != "valid") {
        fail("corrupt record " + r.serial_hex + " (status)");
    }
    if (!s.null(11)) r.account = s.integer(11);
    if (with_pem) {
        if (s.null(12)) fail("corrupt record " + r.serial_hex + " (PEM missing)");
        r.pem = s.text(12);
    }
    return r;
}

Certificate SqliteInventory::issue(Profile profile, const std::function<Certificate(const std::string& serial)>& build,
                                   const std::function<void(const Certificate&)>& also) {
    std::lock_guard lock(db_.mutex());
    Tx tx(db_);
    std::string serial;
    for (int attempt = 0;; ++attempt) {
        // 126 random bits: a collision means a broken random generator, not bad luck.
        if (attempt == 8) fail("no unused serial after 8 random draws (is the random generator broken?)");
        serial = random_serial();
        if (!serial_used(detail::serial_hex_of_bytes(serial))) break;
    }
    Certificate cert = build(serial);
    InventoryRecord r = InventoryRecord::from_certificate(cert, profile);
    Stmt c(db_, insert_cert_sql);
    Stmt p(db_, insert_pem_sql);
    try {
        insert(c, p, r, detail::sha256_hex(cert.public_key_der()));
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::exists) fail("serial " + r.serial_hex + " of the new certificate is already recorded");
        throw;
    }
    if (also) also(cert);
    tx.commit();
    logger()->debug("recorded certificate {} ({}) in {}", r.serial_hex, r.subject, path_.string());
    return cert;
}

void SqliteInventory::withdraw(std::string_view serial_hex) {
    const std::string serial = normalize_serial_hex(serial_hex);
    std::lock_guard lock(db_.mutex());
    Tx tx(db_);
    {
        Stmt p(db_, "DELETE FROM pems WHERE id = (SELECT id FROM certificates WHERE serial = ?1)");
        p.bind(1, serial);
        p.step();
        Stmt c(db_, "DELETE FROM certificates WHERE serial = ?1");
        c.bind(1, serial);
        c.step();
    }
    if (db_.changes() != 1)
        throw Error(ErrorKind::not_found, "serial " + serial + " is not in inventory " + path_.string());
    tx.commit();
    logger()->info("withdrew certificate {} (never handed out)", serial);
}

void SqliteInventory::import(const std::vector<InventoryRecord>& records) {
    std::lock_guard lock(db_.mutex());
    Tx tx(db_);
    Stmt c(db_, insert_cert_sql);
    Stmt p(db_, insert_pem_sql);
    // Records are not re-parsed, but the key of each PEM is hashed for
    // compromised_key(); a batch repeating one PEM (a benchmark's) hashes it once.
    std::string last_pem, last_spki;
    for (const auto& r : records) {
        if (r.pem != last_pem || last_spki.empty()) {
            last_spki.clear();
            if (!r.pem.empty()) {
                try {
                    last_spki = detail::sha256_hex(Certificate::from_pem(r.pem).public_key_der());
                } catch (const Error&) {
                    // Stored as given: a record without a readable PEM has no key to match.
                }
            }
            last_pem = r.pem;
        }
        insert(c, p, r, last_spki);
    }
    tx.commit();
}

std::vector<InventoryRecord> SqliteInventory::list(const ListFilter& filter) {
    std::lock_guard lock(db_.mutex());
    std::string sql = std::string("SELECT ") + record_columns + " FROM certificates c";
    std::vector<std::string> where;
    if (filter.expiring_within) where.push_back("c.not_after >= ?1 AND c.not_after <= ?2");
    if (filter.revoked_only) where.push_back("c.status = 'revoked'");
    for (std::size_t i = 0; i < where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += filter.expiring_within ? " ORDER BY c.not_after, c.id" : " ORDER BY c.id";
    Stmt s(db_, sql.c_str());
    if (filter.expiring_within) {
        const Time t = filter.now.value_or(minica::now());
        s.bind(1, unix_seconds(t));
        s.bind(2, unix_seconds(t + *filter.expiring_within));
    }
    std::vector<InventoryRecord> out;
    while (s.step()) out.push_back(read_record(s, false));
    return out;
}

std::optional<InventoryRecord> SqliteInventory::find_locked(const std::string& serial) {
    std::string sql = std::string("SELECT ") + record_columns +
                      ", p.pem FROM certificates c LEFT JOIN pems p ON p.id = c.id WHERE c.serial = ?1";
    Stmt s(db_, sql.c_str());
    s.bind(1, serial);
    if (!s.step()) return std::nullopt;
    InventoryRecord r = read_record(s, true);
    // The PEM is the one part of a record no query looks into: check it
    // against the recorded fingerprint, so a damaged one is not handed out.
    // The fingerprint is the DER's SHA-256: the same bytes as the
    // certificate recorded (which was parsed then), so no parse here.
    const std::optional<std::string> der = detail::pem_block_der(r.pem, "CERTIFICATE");
    if (!der) fail("corrupt record " + r.serial_hex + " (unreadable PEM)");
    if (detail::sha256_hex(*der, ':') != r.fingerprint_sha256)
        fail("corrupt record " + r.serial_hex + " (the PEM does not match the recorded fingerprint)");
    return r;
}

std::optional<InventoryRecord> SqliteInventory::find(std::string_view serial_hex) {
    const std::string serial = normalize_serial_hex(serial_hex);
    std::lock_guard lock(db_.mutex());
    return find_locked(serial);
}

InventoryRecord SqliteInventory::revoke(std::string_view serial_hex, RevocationReason reason,
                                        std::optional<Time> at) {
    const std::string serial = normalize_serial_hex(serial_hex);
    if (!valid_reason(static_cast<std::int64_t>(reason)))
        throw Error(ErrorKind::invalid_argument,
                    "invalid revocation reason " + std::to_string(static_cast<int>(reason)));
    std::lock_guard lock(db_.mutex());
    Tx tx(db_);
    auto existing = find_locked(serial);
    if (!existing) throw Error(ErrorKind::not_found, "serial " + serial + " is not in inventory " + path_.string());
    if (existing->status == CertStatus::revoked)
        throw Error(ErrorKind::policy, "certificate " + serial + " is already revoked (" +
                                           format_time(*existing->revoked_at) + ", " +
                                           std::string(to_string(*existing->reason)) + ")");
    const Time when = at.value_or(minica::now());
    Stmt s(db_,
           "UPDATE certificates SET status = 'revoked', revoked_at = ?1, reason = ?2 "
           "WHERE serial = ?3 AND status = 'valid'");
    s.bind(1, unix_seconds(when)).bind(2, static_cast<std::int64_t>(reason)).bind(3, serial);
    s.step();
    if (db_.changes() != 1) fail("revoking " + serial + ": record changed underneath");
    tx.commit();
    existing->status = CertStatus::revoked;
    existing->revoked_at = when;
    existing->reason = reason;
    logger()->info("revoked certificate {} ({})", serial, to_string(reason));
    return *existing;
}

std::vector<RevokedCertificate> SqliteInventory::revoked(CrlScope scope) {
    std::lock_guard lock(db_.mutex());
    Stmt s(db_, scope == CrlScope::leaves
                      ? "SELECT serial, revoked_at, reason FROM certificates WHERE status = 'revoked' "
                        "AND profile <> 'ca' ORDER BY revoked_at, serial"
                      : "SELECT serial, revoked_at, reason FROM certificates WHERE status = 'revoked' "
                        "AND profile = 'ca' ORDER BY revoked_at, serial");
    std::vector<RevokedCertificate> out;
    while (s.step()) {
        RevokedCertificate r;
        r.serial_hex = s.text(0);
        if (s.null(1) || s.null(2) || !valid_reason(s.integer(2)))
            fail("corrupt record " + r.serial_hex + " (revocation)");
        r.revoked_at = from_unix(s.integer(1));
        r.reason = static_cast<RevocationReason>(s.integer(2));
        out.push_back(std::move(r));
    }
    return out;
}

// certificates_compromised (a partial index on spki_sha256) answers it
// without reading a PEM.
std::optional<std::string> SqliteInventory::compromised_key(std::string_view spki_der) {
    const std::string hash = detail::sha256_hex(spki_der);
    std::lock_guard lock(db_.mutex());
    Stmt s(db_,
           "SELECT serial FROM certificates WHERE spki_sha256 = ?1 AND status = 'revoked' AND reason = 1 "
           "ORDER BY id LIMIT 1");
    s.bind(1, hash);
    if (s.step()) return s.text(0);
    return std::nullopt;
}

std::uint64_t SqliteInventory::revocation_count() {
    std::lock_guard lock(db_.mutex());
    Stmt s(db_, "SELECT value FROM meta WHERE key = 'revocations'");
    if (!s.step() || s.integer(0) < 0) fail("corrupt (no revocation count)");
    return static_cast<std::uint64_t>(s.integer(0));
}

std::uint64_t SqliteInventory::next_crl_number() {
    std::lock_guard lock(db_.mutex());
    Tx tx(db_);
    Stmt s(db_, "UPDATE meta SET value = value + 1 WHERE key = 'crl_number' RETURNING value");
    if (!s.step()) fail("corrupt (no CRL number)");
    const std::int64_t n = s.integer(0);
    while (s.step()) {
    }
    if (n < 1) fail("corrupt (CRL number " + std::to_string(n) + ")");
    tx.commit();
    return static_cast<std::uint64_t>(n);
}

}  // namespace

std::unique_ptr<Inventory> create_sqlite_inventory(const fs::path& path) {
    return std::make_unique<SqliteInventory>(path, SqliteInventory::Mode::create_only);
}

std::unique_ptr<Inventory> open_sqlite_inventory(const fs::path& path) {
    return std::make_unique<SqliteInventory>(path, SqliteInventory::Mode::open_or_create);
}

}  // namespace minica
