// The inventory's schema version 2 and the ACME store over it: migration of
// a file written by release 0.1.0 (tests/data/ca-v1), a new file equal to a
// migrated one, concurrent migrators, the store's rows, conflicts and
// transactions (alone, and nested inside Inventory::issue).
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/inventory.hpp"

namespace fs = std::filesystem;
using namespace minica;
using namespace std::chrono_literals;

namespace {

const Time t0 = Time{std::chrono::seconds{1767225600}};  // 2026-01-01T00:00:00Z (DESIGN §12)

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "minica-acme-store-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// tests/data/ca-v1, found from this file's path (the compiler's, relative to
// the build directory, which is where meson runs the tests) or from
// MINICA_SOURCE_ROOT.
fs::path fixture_dir() {
    std::vector<fs::path> candidates;
    if (const char* root = std::getenv("MINICA_SOURCE_ROOT")) candidates.push_back(fs::path(root) / "tests/data/ca-v1");
    candidates.push_back(fs::path(__FILE__).parent_path() / "data/ca-v1");
    for (const auto& c : candidates)
        if (fs::exists(c / "inventory.db")) return c;
    FAIL("tests/data/ca-v1 not found (set MINICA_SOURCE_ROOT)");
    return {};
}

// A private copy of the release's inventory (the fixture itself stays as
// committed: opening migrates in place).
fs::path copy_v1(const TempDir& dir, const std::string& name = "inventory.db") {
    const fs::path to = dir.path / name;
    fs::copy_file(fixture_dir() / "inventory.db", to);
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write);
    return to;
}

// Raw SQLite, to look under the library.
struct RawDb {
    sqlite3* db = nullptr;
    explicit RawDb(const fs::path& p) { REQUIRE(sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK); }
    ~RawDb() { sqlite3_close_v2(db); }
    std::vector<std::vector<std::string>> rows(const std::string& sql) const {
        sqlite3_stmt* s = nullptr;
        REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK, sqlite3_errmsg(db));
        std::vector<std::vector<std::string>> out;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int i = 0; i < sqlite3_column_count(s); ++i) {
                const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
                row.push_back(t ? t : "NULL");
            }
            out.push_back(std::move(row));
        }
        CHECK(rc == SQLITE_DONE);
        sqlite3_finalize(s);
        return out;
    }
    std::string one(const std::string& sql) const {
        auto r = rows(sql);
        REQUIRE(r.size() == 1);
        return r[0][0];
    }
    void exec(const std::string& sql) const {
        REQUIRE_MESSAGE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK, sqlite3_errmsg(db));
    }
};

std::vector<std::vector<std::string>> schema_of(const fs::path& db) {
    RawDb raw(db);
    return raw.rows("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name");
}

void check_refused(const fs::path& db, const std::string& message) {
    try {
        open_sqlite_inventory(db);
        FAIL("opened");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::store);
        CHECK(std::string(e.what()) == "inventory " + db.string() + ": " + message);
    }
}

}  // namespace

TEST_CASE("a new inventory is schema version 2, the same as a migrated version 1 one") {
    TempDir dir;
    const fs::path fresh = dir.path / "fresh.db";
    open_sqlite_inventory(fresh);
    const fs::path old = copy_v1(dir);
    CHECK(RawDb(old).one("PRAGMA user_version") == "1");
    open_sqlite_inventory(old);
    CHECK(RawDb(fresh).one("PRAGMA user_version") == "2");
    CHECK(RawDb(old).one("PRAGMA user_version") == "2");
    const auto a = schema_of(fresh), b = schema_of(old);
    CHECK(a.size() > 10);
    CHECK(a == b);
}

TEST_CASE("an inventory written by release 0.1.0 migrates and keeps every record") {
    TempDir dir;
    const fs::path db = copy_v1(dir);
    // What the release recorded, read before any migration.
    std::vector<std::vector<std::string>> before;
    {
        RawDb raw(db);
        before = raw.rows(
            "SELECT c.serial, c.subject, c.names, c.key_type, c.profile, c.not_before, c.not_after, "
            "c.fingerprint_sha256, c.status, c.revoked_at, c.reason, p.pem "
            "FROM certificates c JOIN pems p ON p.id = c.id ORDER BY c.id");
    }
    REQUIRE(before.size() == 3);  // a.test, b.test (revoked, keyCompromise), c.test

    auto inv = open_sqlite_inventory(db);
    const auto records = inv->list();
    REQUIRE(records.size() == before.size());
    std::string compromised_serial, compromised_spki;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        const auto& b = before[i];
        INFO(r.serial_hex);
        CHECK(r.serial_hex == b[0]);
        CHECK(r.subject == b[1]);
        CHECK(r.key_type == b[3]);
        CHECK(to_string(r.profile) == b[4]);
        CHECK(std::to_string(r.not_before.time_since_epoch().count()) == b[5]);
        CHECK(std::to_string(r.not_after.time_since_epoch().count()) == b[6]);
        CHECK(r.fingerprint_sha256 == b[7]);
        CHECK((r.status == CertStatus::revoked ? "revoked" : "valid") == b[8]);
        CHECK_FALSE(r.account.has_value());
        auto found = inv->find(r.serial_hex);
        REQUIRE(found);
        CHECK(found->pem == b[11]);
        if (r.status == CertStatus::revoked) {
            CHECK(r.reason == RevocationReason::key_compromise);
            compromised_serial = r.serial_hex;
            compromised_spki = Certificate::from_pem(b[11]).public_key_der();
        }
    }
    REQUIRE_FALSE(compromised_serial.empty());
    CHECK(inv->compromised_key(compromised_spki) == compromised_serial);
    CHECK_FALSE(inv->compromised_key(Certificate::from_pem(before[0][11]).public_key_der()).has_value());
    CHECK(inv->revocation_count() == 1);
    // The CRL number the release handed out goes on.
    CHECK(inv->next_crl_number() >= 2);

    // Every key hashed from its PEM (lower-case hex SHA-256 of the SPKI).
    RawDb raw(db);
    for (const auto& row : raw.rows("SELECT c.spki_sha256, p.pem FROM certificates c JOIN pems p ON p.id = c.id"))
        CHECK(row[0] == detail::sha256_hex(Certificate::from_pem(row[1]).public_key_der()));
    // compromised_key reads the partial index, no PEM.
    const std::string plan = raw.rows(
        "EXPLAIN QUERY PLAN SELECT serial FROM certificates WHERE spki_sha256 = 'x' AND status = 'revoked' "
        "AND reason = 1 ORDER BY id LIMIT 1")[0][3];
    CHECK(plan.find("certificates_compromised") != std::string::npos);

    // A second open finds nothing to do; a new revocation is counted.
    inv.reset();
    inv = open_sqlite_inventory(db);
    inv->revoke(records[0].serial_hex, RevocationReason::superseded, t0);
    CHECK(inv->revocation_count() == 2);
}

TEST_CASE("a migration that fails leaves the version 1 file as it was") {
    TempDir dir;
    const fs::path db = copy_v1(dir);
    std::string serial;
    {
        RawDb raw(db);
        serial = raw.one("SELECT serial FROM certificates ORDER BY id LIMIT 1 OFFSET 2");
        raw.exec("UPDATE pems SET pem = 'not a certificate' WHERE id = (SELECT id FROM certificates WHERE serial = '" +
                 serial + "')");
    }
    const auto schema = schema_of(db);
    check_refused(db, "corrupt record " + serial + " (unreadable PEM)");
    CHECK(RawDb(db).one("PRAGMA user_version") == "1");
    CHECK(schema_of(db) == schema);
}

TEST_CASE("an inventory of a newer schema is refused") {
    TempDir dir;
    const fs::path db = copy_v1(dir);
    open_sqlite_inventory(db);
    RawDb(db).exec("PRAGMA user_version = 3");
    check_refused(db, "schema version 3 is newer than this minica supports (2)");
}

TEST_CASE("openers racing to migrate one version 1 file all succeed, and it migrates once") {
    TempDir dir;
    const fs::path db = copy_v1(dir);
    constexpr int openers = 4;
    std::atomic<int> ready{0}, ok{0};
    std::vector<std::string> errors(openers);
    std::vector<std::thread> threads;
    for (int i = 0; i < openers; ++i) {
        threads.emplace_back([&, i] {
            ++ready;
            while (ready < openers) std::this_thread::yield();
            try {
                auto inv = open_sqlite_inventory(db);
                if (inv->list().size() == 3 && inv->revocation_count() == 1) ++ok;
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) CHECK(e == "");
    CHECK(ok == openers);
    // And processes: one forked child per opener, each with its own connection.
    const fs::path db2 = copy_v1(dir, "second.db");
    std::vector<pid_t> children;
    for (int i = 0; i < openers; ++i) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int rc = 1;
            try {
                auto inv = open_sqlite_inventory(db2);
                rc = inv->list().size() == 3 && inv->revocation_count() == 1 ? 0 : 2;
            } catch (...) {
                rc = 3;
            }
            ::_exit(rc);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(RawDb(db2).one("PRAGMA user_version") == "2");
    CHECK(RawDb(db2).one("SELECT value FROM meta WHERE key = 'revocations'") == "1");
}
