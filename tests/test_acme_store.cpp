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
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "minica/acme/store.hpp"
#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/inventory.hpp"
#include "minica/testing/ca.hpp"

namespace fs = std::filesystem;
using namespace minica;
using namespace std::chrono_literals;

namespace {

const Time t0 = Time{std::chrono::seconds{1767225600}};  // 2026-01-01T00:00:00Z (DESIGN §12)

using testing::TempDir;

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
    const fs::path to = dir.path() / name;
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
    const fs::path fresh = dir.path() / "fresh.db";
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

namespace {

const Authority& test_ca() {
    static const Authority ca =
        Authority::create_root(CaOptions{.subject = {.common_name = "acme store test CA"}, .now = t0});
    return ca;
}

Certificate leaf(const std::string& serial, const std::string& name) {
    static const PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    CertificateTemplate t;
    t.serial = serial;
    t.subject.common_name = name;
    t.not_before = t0 - 5min;
    t.not_after = t0 + 90 * 24h;
    t.key_usage = ku_digital_signature;
    t.eku_server = true;
    t.names.dns = {name};
    return test_ca().sign_template(t, key.public_key_der());
}

Certificate issue(Inventory& inv, const std::string& name, const std::function<void(const Certificate&)>& also = {}) {
    return inv.issue(Profile::server, [&](const std::string& serial) { return leaf(serial, name); }, also);
}

using acme::Account;
using acme::AuthzStatus;
using acme::ChallengeStatus;
using acme::ChallengeType;
using acme::EabKey;
using acme::Identifier;
using acme::IdentifierType;
using acme::Order;
using acme::OrderStatus;

Account account(const std::string& n) {
    Account a;
    a.thumbprint = "thumb-" + n;
    a.spki_sha256 = detail::sha256_hex("spki-" + n);
    a.jwk = R"({"crv":"P-256","kty":"EC","x":")" + n + R"(","y":"y"})";
    a.contact = {"mailto:" + n + "@a.test", "mailto:ops@a.test"};
    a.created_at = t0;
    return a;
}

Order order(acme::Id account_id) {
    Order o;
    o.account_id = account_id;
    o.expires = t0 + 7 * 24h;
    o.created_at = t0;
    // Given out of order: the store keeps them sorted.
    o.identifiers = {{IdentifierType::ip, "192.0.2.1"}, {IdentifierType::dns, "b.test"},
                     {IdentifierType::dns, "*.a.test"}};
    return o;
}

acme::Authz authz(const Order& o, const std::string& name, Time expires = t0 + 30 * 24h) {
    acme::Authz a;
    a.order_id = o.id;
    a.account_id = o.account_id;
    a.identifier = {IdentifierType::dns, name};
    a.expires = expires;
    a.token = "token-" + name;
    return a;
}

void check_kind(const std::function<void()>& fn, ErrorKind kind) {
    try {
        fn();
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_MESSAGE(e.kind() == kind, e.what());
    }
}

struct Boom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

TEST_CASE("accounts: every field round trips; a key belongs to one account") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a");
    a.eab_kid = "kid-1";
    store.insert_account(a);
    CHECK(a.id > 0);
    auto got = store.find_account(a.id);
    REQUIRE(got);
    CHECK(got->id == a.id);
    CHECK(got->thumbprint == a.thumbprint);
    CHECK(got->spki_sha256 == a.spki_sha256);
    CHECK(got->jwk == a.jwk);
    CHECK(got->status == acme::AccountStatus::valid);
    CHECK(got->contact == a.contact);
    CHECK(got->eab_kid == "kid-1");
    CHECK(got->created_at == t0);
    CHECK(store.find_account_by_thumbprint("thumb-a")->id == a.id);
    CHECK(store.find_account_by_spki(a.spki_sha256)->id == a.id);
    CHECK_FALSE(store.find_account(a.id + 1));
    CHECK_FALSE(store.find_account_by_thumbprint("thumb-b"));

    Account b = account("b");
    store.insert_account(b);
    CHECK(b.id != a.id);
    // The same thumbprint, or the same SPKI, is another account's key.
    Account same_thumb = account("c");
    same_thumb.thumbprint = a.thumbprint;
    check_kind([&] { store.insert_account(same_thumb); }, ErrorKind::exists);
    Account same_spki = account("d");
    same_spki.spki_sha256 = b.spki_sha256;
    check_kind([&] { store.insert_account(same_spki); }, ErrorKind::exists);

    // Update: contact, status, key rollover; not onto another account's key.
    got->contact = {};
    got->status = acme::AccountStatus::deactivated;
    got->eab_kid.reset();
    got->thumbprint = "thumb-a2";
    got->spki_sha256 = detail::sha256_hex("spki-a2");
    store.update_account(*got);
    auto again = store.find_account(a.id);
    CHECK(again->contact.empty());
    CHECK(again->status == acme::AccountStatus::deactivated);
    CHECK_FALSE(again->eab_kid);
    CHECK(store.find_account_by_thumbprint("thumb-a2")->id == a.id);
    CHECK_FALSE(store.find_account_by_thumbprint("thumb-a"));
    again->thumbprint = b.thumbprint;
    check_kind([&] { store.update_account(*again); }, ErrorKind::exists);
    again->id = 999;
    again->thumbprint = "thumb-z";
    again->spki_sha256 = "z";
    check_kind([&] { store.update_account(*again); }, ErrorKind::not_found);
}

TEST_CASE("EAB keys bind once") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    const std::string hmac("\x00\x01\xff secret", 10);  // raw bytes, NUL included
    store.insert_eab(EabKey{.kid = "kid-1", .hmac_key = hmac, .created_at = t0});
    store.insert_eab(EabKey{.kid = "kid-2", .hmac_key = "k2", .created_at = t0 + 1s});
    check_kind([&] { store.insert_eab(EabKey{.kid = "kid-1", .hmac_key = "x", .created_at = t0}); }, ErrorKind::exists);
    auto k = store.find_eab("kid-1");
    REQUIRE(k);
    CHECK(k->hmac_key == hmac);
    CHECK(k->created_at == t0);
    CHECK_FALSE(k->account_id);
    CHECK_FALSE(k->used_at);
    CHECK_FALSE(store.find_eab("kid-3"));

    Account a = account("a"), b = account("b");
    store.insert_account(a);
    store.insert_account(b);
    store.bind_eab("kid-1", a.id, t0 + 1h);
    k = store.find_eab("kid-1");
    CHECK(k->account_id == a.id);
    CHECK(k->used_at == t0 + 1h);
    check_kind([&] { store.bind_eab("kid-1", b.id, t0 + 2h); }, ErrorKind::exists);
    CHECK(store.find_eab("kid-1")->account_id == a.id);
    check_kind([&] { store.bind_eab("kid-9", b.id, t0); }, ErrorKind::not_found);
    check_kind([&] { store.bind_eab("kid-2", 999, t0); }, ErrorKind::not_found);  // no such account
    CHECK_FALSE(store.find_eab("kid-2")->used_at);

    auto all = store.list_eab();
    REQUIRE(all.size() == 2);
    CHECK(all[0].kid == "kid-1");
    CHECK(all[1].kid == "kid-2");
    CHECK(store.remove_eab("kid-2"));
    CHECK_FALSE(store.remove_eab("kid-2"));
    CHECK(store.list_eab().size() == 1);
}

TEST_CASE("orders and authorizations: every field round trips") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a");
    store.insert_account(a);
    Order o = order(a.id);
    store.insert_order(o);
    CHECK(o.id > 0);
    auto got = store.find_order(o.id);
    REQUIRE(got);
    CHECK(got->account_id == a.id);
    CHECK(got->status == OrderStatus::pending);
    CHECK(got->expires == t0 + 7 * 24h);
    CHECK(got->created_at == t0);
    CHECK(got->identifiers == std::vector<Identifier>{{IdentifierType::dns, "*.a.test"},
                                                      {IdentifierType::dns, "b.test"},
                                                      {IdentifierType::ip, "192.0.2.1"}});
    CHECK_FALSE(got->error);
    CHECK_FALSE(got->cert_serial);
    CHECK_FALSE(got->replaces);
    // Stored as canonical sorted JSON text.
    {
        RawDb raw(dir.path() / "inventory.db");
        CHECK(raw.one("SELECT identifiers FROM acme_orders") ==
              R"([{"type":"dns","value":"*.a.test"},{"type":"dns","value":"b.test"},{"type":"ip","value":"192.0.2.1"}])");
    }

    got->status = OrderStatus::invalid;
    got->error = R"({"type":"urn:ietf:params:acme:error:unauthorized"})";
    got->cert_serial = "0A";
    got->replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
    store.update_order(*got);
    auto again = store.find_order(o.id);
    CHECK(again->status == OrderStatus::invalid);
    CHECK(again->error == got->error);
    CHECK(again->cert_serial == "0A");
    CHECK(again->replaces == got->replaces);
    got->id = 999;
    check_kind([&] { store.update_order(*got); }, ErrorKind::not_found);
    check_kind([&] { Order x = order(999); store.insert_order(x); }, ErrorKind::not_found);

    Order second = order(a.id);
    store.insert_order(second);
    Account b = account("b");
    store.insert_account(b);
    Order others = order(b.id);
    store.insert_order(others);
    CHECK(store.orders_of(a.id) == std::vector<acme::Id>{o.id, second.id});
    CHECK(store.orders_of(b.id) == std::vector<acme::Id>{others.id});

    acme::Authz z = authz(o, "a.test");
    z.wildcard = true;
    store.insert_authz(z);
    acme::Authz y = authz(o, "b.test");
    y.identifier = {IdentifierType::ip, "192.0.2.1"};
    store.insert_authz(y);
    CHECK(z.id > 0);
    auto az = store.find_authz(z.id);
    REQUIRE(az);
    CHECK(az->order_id == o.id);
    CHECK(az->account_id == a.id);
    CHECK(az->identifier == Identifier{IdentifierType::dns, "a.test"});
    CHECK(az->wildcard);
    CHECK(az->status == AuthzStatus::pending);
    CHECK(az->expires == t0 + 30 * 24h);
    CHECK(az->token == "token-a.test");
    CHECK_FALSE(az->challenge);
    CHECK(az->challenge_status == ChallengeStatus::pending);
    CHECK_FALSE(az->validated);
    CHECK_FALSE(az->error);
    CHECK_FALSE(az->record);
    CHECK(store.find_authz(y.id)->identifier == Identifier{IdentifierType::ip, "192.0.2.1"});
    CHECK_FALSE(store.find_authz(y.id)->wildcard);

    az->status = AuthzStatus::valid;
    az->challenge = ChallengeType::dns_01;
    az->challenge_status = ChallengeStatus::valid;
    az->validated = t0 + 1min;
    az->error = "{}";
    az->record = R"([{"hostname":"a.test"}])";
    store.update_authz(*az);
    auto after = store.find_authz(z.id);
    CHECK(after->status == AuthzStatus::valid);
    CHECK(after->challenge == ChallengeType::dns_01);
    CHECK(after->challenge_status == ChallengeStatus::valid);
    CHECK(after->validated == t0 + 1min);
    CHECK(after->error == "{}");
    CHECK(after->record == az->record);
    auto of = store.authzs_of(o.id);
    REQUIRE(of.size() == 2);
    CHECK(of[0].id == z.id);
    CHECK(of[1].id == y.id);
    CHECK(store.authzs_of(second.id).empty());
    az->id = 999;
    check_kind([&] { store.update_authz(*az); }, ErrorKind::not_found);
}

TEST_CASE("one replacement per certificate, unless the order replacing it is invalid") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a");
    store.insert_account(a);
    Order first = order(a.id);
    first.replaces = "aki.serial";
    store.insert_order(first);
    Order second = order(a.id);
    second.replaces = "aki.serial";
    check_kind([&] { store.insert_order(second); }, ErrorKind::exists);
    // Nothing of the refused order stays.
    CHECK(store.orders_of(a.id) == std::vector<acme::Id>{first.id});
    first.status = OrderStatus::invalid;
    store.update_order(first);
    store.insert_order(second);
    CHECK(second.id > first.id);
    // Nor may an update take over a replacement.
    first.status = OrderStatus::pending;
    check_kind([&] { store.update_order(first); }, ErrorKind::exists);
}

TEST_CASE("has_valid_authz: valid, this account, this name, not expired") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a"), b = account("b");
    store.insert_account(a);
    store.insert_account(b);
    Order o = order(a.id);
    store.insert_order(o);
    acme::Authz z = authz(o, "a.test", t0 + 24h);
    store.insert_authz(z);
    const Identifier name{IdentifierType::dns, "a.test"};
    CHECK_FALSE(store.has_valid_authz(a.id, name, t0));  // pending
    z.status = AuthzStatus::valid;
    store.update_authz(z);
    CHECK(store.has_valid_authz(a.id, name, t0));
    CHECK(store.has_valid_authz(a.id, name, t0 + 24h - 1s));
    CHECK_FALSE(store.has_valid_authz(a.id, name, t0 + 24h));  // expired
    CHECK_FALSE(store.has_valid_authz(b.id, name, t0));
    CHECK_FALSE(store.has_valid_authz(a.id, Identifier{IdentifierType::dns, "b.test"}, t0));
    CHECK_FALSE(store.has_valid_authz(a.id, Identifier{IdentifierType::ip, "a.test"}, t0));
}

TEST_CASE("transaction: everything or nothing") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a");
    store.insert_account(a);
    CHECK_THROWS_AS(store.transaction([&] {
        Order o = order(a.id);
        store.insert_order(o);
        store.insert_eab(EabKey{.kid = "k", .hmac_key = "h", .created_at = t0});
        throw Boom("no");
    }),
                    Boom);
    CHECK(store.orders_of(a.id).empty());
    CHECK(store.list_eab().empty());
    // A conflict inside is the caller's to catch; the rest still commits.
    store.transaction([&] {
        Order o = order(a.id);
        store.insert_order(o);
        Account dup = account("a");
        check_kind([&] { store.insert_account(dup); }, ErrorKind::exists);
        store.transaction([&] { store.insert_eab(EabKey{.kid = "k", .hmac_key = "h", .created_at = t0}); });
        CHECK_THROWS_AS(store.transaction([&] {
            store.insert_eab(EabKey{.kid = "k2", .hmac_key = "h", .created_at = t0});
            throw Boom("inner");
        }),
                        Boom);
    });
    CHECK(store.orders_of(a.id).size() == 1);
    auto keys = store.list_eab();
    REQUIRE(keys.size() == 1);
    CHECK(keys[0].kid == "k");
    // The lock is free: another connection writes at once.
    auto other = open_sqlite_inventory(dir.path() / "inventory.db");
    Account b = account("b");
    other->acme().insert_account(b);
    CHECK(store.find_account(b.id));
}

TEST_CASE("finalize: the certificate and the order commit together inside Inventory::issue") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Account a = account("a");
    store.insert_account(a);
    Order o = order(a.id);
    o.status = OrderStatus::ready;
    store.insert_order(o);

    auto finalize = [&](const Certificate& cert) {
        store.transaction([&] {
            Order done = *store.find_order(o.id);
            done.status = OrderStatus::valid;
            done.cert_serial = cert.serial_hex();
            store.update_order(done);
            store.set_certificate_account(cert.serial_hex(), a.id);
        });
    };
    CHECK_THROWS_AS(issue(*inv, "a.test",
                          [&](const Certificate& cert) {
                              finalize(cert);
                              throw Boom("signing the answer failed");
                          }),
                    Boom);
    CHECK(inv->list().empty());
    CHECK(store.find_order(o.id)->status == OrderStatus::ready);
    CHECK_FALSE(store.find_order(o.id)->cert_serial);

    Certificate cert = issue(*inv, "a.test", finalize);
    CHECK(store.find_order(o.id)->status == OrderStatus::valid);
    CHECK(store.find_order(o.id)->cert_serial == cert.serial_hex());
    CHECK(store.certificate_account(cert.serial_hex()) == a.id);
    auto records = inv->list();
    REQUIRE(records.size() == 1);
    CHECK(records[0].account == a.id);
    CHECK(records[0].to_json()["account"] == a.id);
    CHECK(inv->find(cert.serial_hex())->account == a.id);
}

TEST_CASE("the account of a certificate") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path() / "inventory.db");
    auto& store = inv->acme();
    Certificate cert = issue(*inv, "plain.test");
    CHECK_FALSE(store.certificate_account(cert.serial_hex()));
    CHECK(inv->list()[0].to_json()["account"].is_null());
    Account a = account("a");
    store.insert_account(a);
    // Serials the way people type them.
    std::string lower = cert.serial_hex();
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    store.set_certificate_account(lower, a.id);
    CHECK(store.certificate_account(cert.serial_hex()) == a.id);
    CHECK(inv->list()[0].account == a.id);
    check_kind([&] { store.set_certificate_account("ABCDEF", a.id); }, ErrorKind::not_found);
    check_kind([&] { store.set_certificate_account(cert.serial_hex(), 999); }, ErrorKind::not_found);
    CHECK_FALSE(store.certificate_account("ABCDEF"));

    // import() keeps a record's account, which must exist.
    InventoryRecord r = InventoryRecord::from_certificate(leaf(random_serial(), "imported.test"), Profile::server);
    r.account = 999;
    check_kind([&] { inv->import({r}); }, ErrorKind::not_found);
    CHECK(inv->list().size() == 1);
    r.account = a.id;
    inv->import({r});
    CHECK(inv->list().back().account == a.id);
    CHECK(store.certificate_account(r.serial_hex) == a.id);
}

TEST_CASE("a restarted server finds pending orders and processing authorizations") {
    TempDir dir;
    const fs::path db = dir.path() / "inventory.db";
    acme::Id order_id = 0, processing_id = 0, account_id = 0;
    {
        auto inv = open_sqlite_inventory(db);
        auto& store = inv->acme();
        Account a = account("a");
        store.insert_account(a);
        account_id = a.id;
        Order o = order(a.id);
        store.insert_order(o);
        order_id = o.id;
        acme::Authz idle = authz(o, "a.test");
        store.insert_authz(idle);
        acme::Authz busy = authz(o, "b.test");
        busy.challenge = ChallengeType::http_01;
        busy.challenge_status = ChallengeStatus::processing;
        store.insert_authz(busy);
        processing_id = busy.id;
    }
    auto inv = open_sqlite_inventory(db);
    auto& store = inv->acme();
    CHECK(store.orders_of(account_id) == std::vector<acme::Id>{order_id});
    CHECK(store.find_order(order_id)->status == OrderStatus::pending);
    auto processing = store.processing_authzs();
    REQUIRE(processing.size() == 1);
    CHECK(processing[0].id == processing_id);
    CHECK(processing[0].challenge == ChallengeType::http_01);
    CHECK(processing[0].token == "token-b.test");
    processing[0].challenge_status = ChallengeStatus::valid;
    processing[0].status = AuthzStatus::valid;
    store.update_authz(processing[0]);
    CHECK(store.processing_authzs().empty());
}

TEST_CASE("a damaged row is Error(store), never a default") {
    TempDir dir;
    const fs::path db = dir.path() / "inventory.db";
    auto inv = open_sqlite_inventory(db);
    auto& store = inv->acme();
    Account a = account("a");
    store.insert_account(a);
    Order o = order(a.id);
    store.insert_order(o);
    {
        RawDb raw(db);
        raw.exec("UPDATE acme_orders SET identifiers = '[{\"type\":\"email\",\"value\":\"x\"}]'");
        raw.exec("UPDATE acme_accounts SET contact = 'not json'");
    }
    check_kind([&] { store.find_order(o.id); }, ErrorKind::store);
    check_kind([&] { store.find_account(a.id); }, ErrorKind::store);
}
