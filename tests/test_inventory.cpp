// The SQLite inventory: issue / list / find / revoke / CRL numbers, serial
// uniqueness, rollback, corruption and truncation, concurrency.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "minica/authority.hpp"
#include "minica/error.hpp"
#include "minica/ca_directory.hpp"
#include "minica/files.hpp"
#include "minica/inventory.hpp"

namespace fs = std::filesystem;
using namespace minica;
using namespace std::chrono_literals;

namespace {

// "<prefix><a>[-<b>].example", appended: GCC 12 at -O3 warns (-Wrestrict, a
// false positive, GCC bug 105651) about "t" + std::to_string(...).
std::string numbered(const char* prefix, int a, int b = -1) {
    std::string s = prefix;
    s += std::to_string(a);
    if (b >= 0) {
        s += '-';
        s += std::to_string(b);
    }
    s += ".example";
    return s;
}

// 2026-01-01T00:00:00Z: a fixed clock (DESIGN §12).
const Time t0 = Time{std::chrono::seconds{1767225600}};

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "minica-inv-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

const Authority& test_ca() {
    static const Authority ca = Authority::create_root(CaOptions{.subject = {.common_name = "inventory test CA"},
                                                                 .now = t0});
    return ca;
}
const PrivateKey& leaf_key() {
    static const PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    return key;
}

// A leaf with the serial the inventory drew and a chosen expiry.
Certificate leaf(const std::string& serial, const std::string& name, Time not_after = t0 + 90 * 24h) {
    CertificateTemplate t;
    t.serial = serial;
    t.subject.common_name = name;
    t.not_before = t0 - 5min;
    t.not_after = not_after;
    t.key_usage = ku_digital_signature;
    t.eku_server = true;
    t.names.dns = {name};
    return test_ca().sign_template(t, leaf_key().public_key_der());
}

std::string to_hex(const std::string& bytes) {
    static const char* d = "0123456789ABCDEF";
    std::string s;
    for (unsigned char b : bytes) {
        s += d[b >> 4];
        s += d[b & 15];
    }
    s.erase(0, std::min(s.find_first_not_of('0'), s.size() - 1));
    return s;
}

Certificate issue(Inventory& inv, const std::string& name, Time not_after = t0 + 90 * 24h,
                  Profile profile = Profile::server) {
    return inv.issue(profile, [&](const std::string& serial) { return leaf(serial, name, not_after); });
}

std::vector<std::string> serials(const std::vector<InventoryRecord>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.serial_hex);
    return out;
}

void expect_store_error(const fs::path& db, const char* what) {
    INFO(what);
    bool refused = false;
    try {
        auto inv = open_sqlite_inventory(db);
        auto all = inv->list();
        // Reaching here is acceptable only if every record is still intact.
        CHECK(all.size() == 5);
        for (const auto& r : all) CHECK(inv->find(r.serial_hex).has_value());
    } catch (const Error& e) {
        refused = true;
        CHECK(e.kind() == ErrorKind::store);
        CHECK(std::string(e.what()).rfind("inventory " + db.string() + ": ", 0) == 0);
    }
    CHECK(refused);
}

}  // namespace

TEST_CASE("a new inventory is a private WAL database") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    {
        auto inv = open_sqlite_inventory(db);
        CHECK(inv->list().empty());
        CHECK(inv->revoked().empty());
    }
    struct stat st;
    REQUIRE(::stat(db.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    // No temporary file left behind.
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
        ++files;
        CHECK(e.path().filename() == "inventory.db");
    }
    CHECK(files == 1);
    // Reopening finds the same (empty) inventory.
    CHECK(open_sqlite_inventory(db)->list().empty());
}

TEST_CASE("issue records the certificate under the drawn serial") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    std::string drawn;
    Certificate cert = inv->issue(Profile::server, [&](const std::string& serial) {
        drawn = serial;
        return leaf(serial, "a.example.com");
    });
    CHECK(drawn.size() == 16);
    CHECK((static_cast<unsigned char>(drawn[0]) & 0xC0) == 0x40);
    CHECK(cert.serial_hex() == to_hex(drawn));

    auto all = inv->list();
    REQUIRE(all.size() == 1);
    const InventoryRecord& r = all[0];
    CHECK(r.serial_hex == cert.serial_hex());
    CHECK(r.subject == cert.subject());
    CHECK(r.names == std::vector<std::string>{"a.example.com"});
    CHECK(r.key_type == "ec-p256");
    CHECK(r.profile == Profile::server);
    CHECK(r.not_before == cert.not_before());
    CHECK(r.not_after == cert.not_after());
    CHECK(r.fingerprint_sha256 == cert.fingerprint_sha256());
    CHECK(r.status == CertStatus::valid);
    CHECK_FALSE(r.revoked_at);
    CHECK_FALSE(r.reason);
    CHECK(r.pem.empty());  // list never reads PEMs

    auto found = inv->find(cert.serial_hex());
    REQUIRE(found);
    CHECK(found->pem == cert.to_pem());
    CHECK(Certificate::from_pem(found->pem) == cert);
}

TEST_CASE("find accepts serials the way people type them") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate cert = issue(*inv, "b.example.com");
    const std::string hex = cert.serial_hex();
    std::string lower = hex;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string colons;
    std::string padded = "00" + hex;
    for (std::size_t i = 0; i < padded.size(); i += 2) {
        if (i) colons += ':';
        colons += padded.substr(i, 2);
    }
    for (const std::string& s : {hex, lower, colons, "0x" + hex, "000" + lower}) {
        INFO(s);
        auto r = inv->find(s);
        REQUIRE(r);
        CHECK(r->serial_hex == hex);
    }
    CHECK_FALSE(inv->find("1234"));
    CHECK_THROWS_AS(inv->find("not-hex"), Error);
    try {
        inv->find("xyz");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
    }
}

TEST_CASE("normalize_serial_hex") {
    CHECK(normalize_serial_hex("00:ab:CD") == "ABCD");
    CHECK(normalize_serial_hex("0x0001") == "1");
    CHECK(normalize_serial_hex("000") == "0");
    CHECK(normalize_serial_hex(" 7f \n") == "7F");
    const std::string too_long(42, 'A');
    for (const std::string& bad : {std::string(""), std::string(":"), std::string("0x"), std::string("12g4"),
                                   std::string("-1"), too_long}) {
        INFO(bad);
        try {
            normalize_serial_hex(bad);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::invalid_argument);
        }
    }
}

TEST_CASE("revoke: unknown, twice, entries for the CRL") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate a = issue(*inv, "a.example.com");
    Certificate b = issue(*inv, "b.example.com");

    try {
        inv->revoke("7F00", RevocationReason::key_compromise);
        FAIL("revoked an unknown serial");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::not_found);
        CHECK(std::string(e.what()).find("7F00") != std::string::npos);
    }

    const Time when = t0 + 24h;
    InventoryRecord r = inv->revoke(a.serial_hex(), RevocationReason::key_compromise, when);
    CHECK(r.status == CertStatus::revoked);
    CHECK(r.revoked_at == when);
    CHECK(r.reason == RevocationReason::key_compromise);
    CHECK(r.pem == a.to_pem());

    try {
        inv->revoke(a.serial_hex(), RevocationReason::superseded);
        FAIL("revoked twice");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
    }
    // The second attempt changed nothing.
    auto found = inv->find(a.serial_hex());
    REQUIRE(found);
    CHECK(found->reason == RevocationReason::key_compromise);
    CHECK(found->revoked_at == when);

    auto entries = inv->revoked();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].serial_hex == a.serial_hex());
    CHECK(entries[0].revoked_at == when);
    CHECK(entries[0].reason == RevocationReason::key_compromise);

    // Default time is now.
    const Time before = minica::now();
    inv->revoke(b.serial_hex(), RevocationReason::unspecified);
    auto rb = inv->find(b.serial_hex());
    REQUIRE(rb->revoked_at);
    CHECK(*rb->revoked_at >= before);
    CHECK(*rb->revoked_at <= minica::now());
    CHECK(inv->revoked().size() == 2);

    ListFilter f;
    f.revoked_only = true;
    CHECK(inv->list(f).size() == 2);
}

TEST_CASE("revoked() leaves out the intermediate itself") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate ca = issue(*inv, "intermediate.example", t0 + 900 * 24h, Profile::ca);
    Certificate l = issue(*inv, "leaf.example.com");
    inv->revoke(ca.serial_hex(), RevocationReason::ca_compromise, t0);
    inv->revoke(l.serial_hex(), RevocationReason::superseded, t0);
    auto entries = inv->revoked();
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].serial_hex == l.serial_hex());
}

TEST_CASE("next_crl_number grows and persists") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    {
        auto inv = open_sqlite_inventory(db);
        CHECK(inv->next_crl_number() == 1);
        CHECK(inv->next_crl_number() == 2);
        auto other = open_sqlite_inventory(db);
        CHECK(other->next_crl_number() == 3);
        CHECK(inv->next_crl_number() == 4);
    }
    CHECK(open_sqlite_inventory(db)->next_crl_number() == 5);
}

TEST_CASE("list filters: expiring within, revoked only, issue order") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    const Time now = t0 + 10 * 24h;
    Certificate expired = issue(*inv, "expired.example", now - 1s);
    Certificate later = issue(*inv, "later.example", now + 31 * 24h);
    Certificate edge = issue(*inv, "edge.example", now + 30 * 24h);  // inclusive
    Certificate soon = issue(*inv, "soon.example", now + 24h);
    Certificate today = issue(*inv, "today.example", now);  // inclusive: still valid at `now`

    CHECK(serials(inv->list()) == std::vector<std::string>{expired.serial_hex(), later.serial_hex(),
                                                           edge.serial_hex(), soon.serial_hex(),
                                                           today.serial_hex()});
    ListFilter f;
    f.expiring_within = std::chrono::days{30};
    f.now = now;
    // Soonest first.
    CHECK(serials(inv->list(f)) ==
          std::vector<std::string>{today.serial_hex(), soon.serial_hex(), edge.serial_hex()});

    inv->revoke(soon.serial_hex(), RevocationReason::superseded, now);
    f.revoked_only = true;
    CHECK(serials(inv->list(f)) == std::vector<std::string>{soon.serial_hex()});
    ListFilter r;
    r.revoked_only = true;
    CHECK(serials(inv->list(r)) == std::vector<std::string>{soon.serial_hex()});
}

TEST_CASE("to_json: one element of schemas/list.schema.json") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate c = issue(*inv, "json.example.com", t0 + 90 * 24h);
    auto j = inv->list()[0].to_json();
    CHECK(j["serial"] == c.serial_hex());
    CHECK(j["subject"] == "CN=json.example.com");
    CHECK(j["names"] == nlohmann::json::array({"json.example.com"}));
    CHECK(j["key_type"] == "ec-p256");
    CHECK(j["profile"] == "server");
    CHECK(j["not_before"] == "2025-12-31T23:55:00Z");
    CHECK(j["not_after"] == "2026-04-01T00:00:00Z");
    CHECK(j["fingerprint_sha256"] == c.fingerprint_sha256());
    CHECK(j["status"] == "valid");
    CHECK(j["revoked_at"].is_null());
    CHECK(j["reason"].is_null());
    CHECK(j["account"].is_null());  // not issued through ACME
    CHECK_FALSE(j.contains("pem"));
    CHECK(j.size() == 12);

    inv->revoke(c.serial_hex(), RevocationReason::cessation_of_operation, t0 + 24h);
    auto k = inv->find(c.serial_hex())->to_json();
    CHECK(k["status"] == "revoked");
    CHECK(k["revoked_at"] == "2026-01-02T00:00:00Z");
    CHECK(k["reason"] == "cessationOfOperation");
    CHECK_FALSE(k.contains("pem"));
}

TEST_CASE("a build that throws records nothing and releases the lock") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    auto inv = open_sqlite_inventory(db);
    issue(*inv, "kept.example");
    struct Boom : std::runtime_error {
        using std::runtime_error::runtime_error;
    };
    CHECK_THROWS_AS(inv->issue(Profile::server, [](const std::string&) -> Certificate { throw Boom("no"); }), Boom);
    CHECK_THROWS_AS(inv->issue(Profile::server,
                               [](const std::string&) -> Certificate {
                                   throw Error(ErrorKind::policy, "refused");
                               }),
                    Error);
    CHECK(inv->list().size() == 1);
    // Another connection can write at once (no transaction was left open).
    auto other = open_sqlite_inventory(db);
    issue(*other, "next.example");
    CHECK(inv->list().size() == 2);
    issue(*inv, "again.example");
    CHECK(other->list().size() == 3);
}

TEST_CASE("the store enforces serial uniqueness") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate first = issue(*inv, "first.example");
    // A build that ignores the drawn serial and reuses a recorded one.
    std::string first_bytes;
    {
        std::string hex = first.serial_hex();
        for (std::size_t i = 0; i < hex.size(); i += 2) first_bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    try {
        inv->issue(Profile::server, [&](const std::string&) { return leaf(first_bytes, "dup.example"); });
        FAIL("recorded a duplicate serial");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::store);
        CHECK(std::string(e.what()).find(first.serial_hex()) != std::string::npos);
    }
    CHECK(inv->list().size() == 1);
    CHECK(inv->find(first.serial_hex())->subject == "CN=first.example");

    // import: a duplicate anywhere in the batch records nothing of it.
    Certificate fresh = leaf(random_serial(), "fresh.example");
    try {
        inv->import({InventoryRecord::from_certificate(fresh, Profile::server),
                     InventoryRecord::from_certificate(first, Profile::server)});
        FAIL("imported a duplicate serial");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::exists);
    }
    CHECK(inv->list().size() == 1);
    CHECK_FALSE(inv->find(fresh.serial_hex()));
    inv->import({InventoryRecord::from_certificate(fresh, Profile::client)});
    CHECK(inv->find(fresh.serial_hex())->profile == Profile::client);
}

TEST_CASE("concurrent writers on separate connections") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    constexpr int threads = 8, each = 12;
    std::atomic<int> failures{0};
    std::vector<std::string> issued[threads];
    std::vector<std::uint64_t> numbers[threads];
    {
        // Every thread opens the (not yet existing) inventory itself: creation races too.
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                try {
                    auto inv = open_sqlite_inventory(db);
                    for (int i = 0; i < each; ++i) {
                        issued[t].push_back(
                            issue(*inv, numbered("t", t, i)).serial_hex());
                        numbers[t].push_back(inv->next_crl_number());
                    }
                } catch (const std::exception& e) {
                    ++failures;
                    MESSAGE(e.what());
                }
            });
        for (auto& th : pool) th.join();
    }
    CHECK(failures == 0);
    auto inv = open_sqlite_inventory(db);
    auto all = inv->list();
    CHECK(all.size() == threads * each);
    std::set<std::string> unique;
    for (const auto& r : all) unique.insert(r.serial_hex);
    CHECK(unique.size() == threads * each);
    std::set<std::uint64_t> nums;
    for (auto& v : numbers) nums.insert(v.begin(), v.end());
    CHECK(nums.size() == threads * each);
    CHECK(*nums.begin() == 1);
    CHECK(*nums.rbegin() == threads * each);
    for (auto& v : issued)
        for (auto& s : v) CHECK(inv->find(s));
}

TEST_CASE("one inventory shared across threads") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < 10; ++i) {
                issue(*inv, numbered("s", t, i));
                (void)inv->list();
            }
        });
    for (auto& th : pool) th.join();
    CHECK(inv->list().size() == 40);
}

TEST_CASE("a truncated or corrupt inventory is an error, never an empty listing") {
    TempDir dir;
    const fs::path good = dir.path / "good.db";
    std::vector<std::string> recorded;
    {
        auto inv = open_sqlite_inventory(good);
        for (int i = 0; i < 5; ++i) recorded.push_back(issue(*inv, numbered("c", i)).serial_hex());
        inv->revoke(recorded[0], RevocationReason::key_compromise, t0);
    }
    REQUIRE_FALSE(fs::exists(fs::path(good) += "-wal"));  // closed cleanly: no WAL left
    const auto size = fs::file_size(good);
    REQUIRE(size >= 4 * 4096);
    const fs::path bad = dir.path / "inventory.db";

    SUBCASE("truncated") {
        for (std::uintmax_t cut : {std::uintmax_t{0}, std::uintmax_t{1}, std::uintmax_t{16}, std::uintmax_t{99},
                                   std::uintmax_t{100}, std::uintmax_t{512}, std::uintmax_t{4095},
                                   std::uintmax_t{4096}, std::uintmax_t{8192}, size / 2, size - 4096, size - 1}) {
            fs::remove(bad);
            fs::copy_file(good, bad);
            fs::resize_file(bad, cut);
            expect_store_error(bad, ("truncated to " + std::to_string(cut)).c_str());
        }
    }
    SUBCASE("garbage bytes") {
        std::mt19937 rng(42);
        std::vector<std::uintmax_t> offsets{0, 16, 40, 60, 96};
        for (std::uintmax_t page = 0; page < size / 4096; ++page) offsets.push_back(page * 4096 + 8);
        for (std::uintmax_t page = 1; page < size / 4096; ++page) offsets.push_back(page * 4096 + 2048);
        for (std::uintmax_t off : offsets) {
            fs::remove(bad);
            fs::copy_file(good, bad);
            {
                std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
                f.seekp(static_cast<std::streamoff>(off));
                std::string junk(64, '\0');
                for (auto& c : junk) c = static_cast<char>(rng());
                f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
            }
            INFO("garbage at " << off);
            try {
                auto inv = open_sqlite_inventory(bad);
                // Garbage in free space may go unnoticed; then nothing may be lost.
                auto all = inv->list();
                CHECK(serials(all) == recorded);
                for (const auto& s : recorded) CHECK(inv->find(s));
                CHECK(inv->revoked().size() == 1);
            } catch (const Error& e) {
                CHECK(e.kind() == ErrorKind::store);
                CHECK(std::string(e.what()).rfind("inventory " + bad.string() + ": ", 0) == 0);
            }
        }
    }
    SUBCASE("not a database, another application's database, an empty file") {
        {
            std::ofstream(bad) << "this is not a database\n";
            expect_store_error(bad, "text");
        }
        fs::remove(bad);
        {
            std::ofstream f(bad, std::ios::binary);
            f << std::string(8192, '\0');
        }
        expect_store_error(bad, "zeros");
        fs::remove(bad);
        {
            std::ofstream f(bad);
        }
        expect_store_error(bad, "empty");
        CHECK(fs::file_size(bad) == 0);  // left as it was
    }
}

TEST_CASE("a record whose PEM is not the certificate recorded is refused, never handed out") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    std::string a, b;
    {
        auto inv = open_sqlite_inventory(db);
        a = issue(*inv, "a.example").serial_hex();
        b = issue(*inv, "b.example").serial_hex();
    }
    auto set_pem = [&](const std::string& serial, const std::string& sql_pem) {
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
        const std::string sql = "UPDATE pems SET pem = " + sql_pem +
                                " WHERE id = (SELECT id FROM certificates WHERE serial = '" + serial + "')";
        CHECK(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
        CHECK(sqlite3_changes(raw) == 1);
        sqlite3_close_v2(raw);
    };
    auto refused = [&](const std::string& serial, const std::string& why) {
        auto inv = open_sqlite_inventory(db);
        try {
            inv->find(serial);
            FAIL("found " << serial);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::store);
            CHECK(std::string(e.what()).find("corrupt record " + serial + " (" + why + ")") != std::string::npos);
        }
    };
    // Another certificate's PEM, itself sound: only the fingerprint tells.
    set_pem(a, "(SELECT p.pem FROM pems p JOIN certificates c ON c.id = p.id WHERE c.serial = '" + b + "')");
    refused(a, "the PEM does not match the recorded fingerprint");
    set_pem(a, "'not a PEM at all'");
    refused(a, "unreadable PEM");
    set_pem(a, "'-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'");
    refused(a, "unreadable PEM");
    CHECK(open_sqlite_inventory(db)->find(b));  // the other record is untouched
}

TEST_CASE("an unopenable path is Error(store)") {
    TempDir dir;
    fs::create_directory(dir.path / "a-directory");
    for (const fs::path& p : {dir.path / "a-directory", dir.path / "missing" / "inventory.db"}) {
        INFO(p);
        try {
            open_sqlite_inventory(p);
            FAIL("opened");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::store);
            CHECK(std::string(e.what()).rfind("inventory " + p.string() + ": ", 0) == 0);
        }
    }
}

TEST_CASE("names survive the round trip, whatever they contain") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    Certificate c = leaf(random_serial(), "names.example");
    std::vector<std::vector<std::string>> cases{
        {}, {"a.example"}, {"a.example", "10.0.0.1", "x@example.com", "spiffe://example.org/a"},
        {"quo\"te", "back\\slash", "caf\xc3\xa9", "[,]", "\x01"}};
    for (const auto& names : cases) {
        InventoryRecord r = InventoryRecord::from_certificate(leaf(random_serial(), "n.example"), Profile::server);
        r.names = names;
        inv->import({r});
        CHECK(inv->find(r.serial_hex)->names == names);
        bool listed = false;
        for (const auto& l : inv->list())
            if (l.serial_hex == r.serial_hex) {
                listed = true;
                CHECK(l.names == names);
            }
        CHECK(listed);
    }
}

TEST_CASE("a writer keeps its lock while other connections open and wait") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    auto a = open_sqlite_inventory(db);
    std::atomic<bool> b_done{false};
    std::thread waiter;
    std::unique_ptr<Inventory> b;
    a->issue(Profile::server, [&](const std::string& serial) {
        // Opening a second connection reads the header: it must not drop a's locks.
        b = open_sqlite_inventory(db);
        waiter = std::thread([&] {
            b->next_crl_number();
            b_done = true;
        });
        std::this_thread::sleep_for(300ms);
        CHECK_FALSE(b_done.load());  // still waiting for a's transaction
        return leaf(serial, "locked.example");
    });
    waiter.join();
    CHECK(b_done);
    CHECK(b->list().size() == 1);
}

TEST_CASE("revocation_count counts every revocation, whichever connection made it") {
    TempDir dir;
    const fs::path db = dir.path / "inventory.db";
    auto inv = open_sqlite_inventory(db);
    auto other = open_sqlite_inventory(db);
    CHECK(inv->revocation_count() == 0);
    Certificate a = issue(*inv, "a.example"), b = issue(*inv, "b.example");
    inv->revoke(a.serial_hex(), RevocationReason::superseded, t0);
    CHECK(inv->revocation_count() == 1);
    CHECK_THROWS_AS(inv->revoke(a.serial_hex(), RevocationReason::superseded, t0), Error);
    CHECK(inv->revocation_count() == 1);
    other->revoke(b.serial_hex(), RevocationReason::key_compromise, t0);
    CHECK(inv->revocation_count() == 2);
    CHECK(open_sqlite_inventory(db)->revocation_count() == 2);
}

TEST_CASE("compromised_key finds keys of issued and imported certificates") {
    TempDir dir;
    auto inv = open_sqlite_inventory(dir.path / "inventory.db");
    const std::string spki = leaf_key().public_key_der();
    Certificate issued = issue(*inv, "issued.example");
    CHECK_FALSE(inv->compromised_key(spki));
    inv->revoke(issued.serial_hex(), RevocationReason::superseded, t0);
    CHECK_FALSE(inv->compromised_key(spki));  // superseded is not keyCompromise

    // An imported record's key is read from its PEM.
    Certificate imported = leaf(random_serial(), "imported.example");
    InventoryRecord r = InventoryRecord::from_certificate(imported, Profile::server);
    r.status = CertStatus::revoked;
    r.revoked_at = t0;
    r.reason = RevocationReason::key_compromise;
    inv->import({r});
    CHECK(inv->compromised_key(spki) == imported.serial_hex());
    const PrivateKey other = PrivateKey::generate(KeyType::ec_p256);
    CHECK_FALSE(inv->compromised_key(other.public_key_der()));

    TempDir dir2;
    auto inv2 = open_sqlite_inventory(dir2.path / "inventory.db");
    Certificate fresh = issue(*inv2, "fresh.example");
    inv2->revoke(fresh.serial_hex(), RevocationReason::key_compromise, t0);
    CHECK(inv2->compromised_key(spki) == fresh.serial_hex());
}
