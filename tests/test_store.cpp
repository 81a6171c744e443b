// Atomic file writes and the CA directory (init / open / authority / refusal).
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "minica/authority.hpp"
#include "minica/error.hpp"
#include "minica/ca_directory.hpp"
#include "minica/files.hpp"
#include "minica/inventory.hpp"

namespace fs = std::filesystem;
using namespace minica;
using namespace std::chrono_literals;

namespace {

const Time t0 = Time{std::chrono::seconds{1767225600}};  // 2026-01-01T00:00:00Z

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "minica-store-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
};

unsigned mode_of(const fs::path& p) {
    struct stat st;
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// Directory entries, without SQLite's -wal/-shm files of an open inventory.
std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::string name = e.path().filename().string();
        if (name.ends_with("-wal") || name.ends_with("-shm")) continue;
        out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

struct Umask {
    mode_t old;
    explicit Umask(mode_t m) : old(::umask(m)) {}
    ~Umask() { ::umask(old); }
};

ErrorKind kind_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.kind();
    }
    FAIL("no Error thrown");
    return ErrorKind::invalid_argument;
}

// "f<mask>-<mode>", appended (GCC 12 -O3 -Wrestrict false positive on "f" + std::string).
std::string fmt_name(const char* prefix, unsigned a, unsigned b) {
    std::string s = prefix;
    s += std::to_string(a);
    s += '-';
    s += std::to_string(b);
    return s;
}

InitOptions quick_options() {
    InitOptions o;
    o.ca.subject.common_name = "store test CA";
    o.ca.now = t0;
    return o;
}

}  // namespace

TEST_CASE("write_file_atomic: content and exact mode whatever the umask") {
    TempDir dir;
    for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}, mode_t{0777}}) {
        Umask u(mask);
        for (unsigned mode : {0600u, 0400u, 0644u, 0640u}) {
            fs::path p = dir.path / fmt_name("f", mask, mode);
            write_file_atomic(p, "hello\n", mode);
            CHECK(mode_of(p) == mode);
            CHECK(read_file(p) == "hello\n");
        }
    }
    // Empty and large contents.
    write_file_atomic(dir.path / "empty", "", 0644);
    CHECK(read_file(dir.path / "empty").empty());
    std::string big(3 << 20, 'x');
    write_file_atomic(dir.path / "big", big, 0644);
    CHECK(read_file(dir.path / "big") == big);
    // Only the targets exist: no temporary files left.
    for (const auto& name : entries(dir.path)) CHECK(name.find(".tmp-") == std::string::npos);
}

TEST_CASE("write_file_atomic never replaces without overwrite") {
    TempDir dir;
    const fs::path p = dir.path / "ca-key.pem";
    write_file_atomic(p, "original", 0400);
    try {
        write_file_atomic(p, "replacement", 0644);
        FAIL("replaced");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::exists);
        CHECK(std::string(e.what()) == p.string() + " already exists");
    }
    CHECK(read_file(p) == "original");
    CHECK(mode_of(p) == 0400);
    CHECK(entries(dir.path) == std::vector<std::string>{"ca-key.pem"});

    // A dangling symlink counts as existing and is not followed.
    const fs::path link = dir.path / "link.pem";
    fs::create_symlink(dir.path / "nowhere", link);
    CHECK(kind_of([&] { write_file_atomic(link, "x", 0644); }) == ErrorKind::exists);
    CHECK(fs::is_symlink(link));
    CHECK_FALSE(fs::exists(dir.path / "nowhere"));

    // With overwrite: replaced, with the new mode.
    write_file_atomic(p, "replacement", 0644, true);
    CHECK(read_file(p) == "replacement");
    CHECK(mode_of(p) == 0644);
    // Overwriting a symlink replaces the link itself, never its target.
    write_file_atomic(link, "y", 0644, true);
    CHECK_FALSE(fs::is_symlink(link));
    CHECK_FALSE(fs::exists(dir.path / "nowhere"));
}

TEST_CASE("write_file_atomic: racing writers, exactly one wins, whole") {
    TempDir dir;
    const fs::path p = dir.path / "race.pem";
    constexpr int n = 16;
    std::atomic<int> wins{0}, refused{0}, other{0};
    std::vector<std::thread> pool;
    for (int i = 0; i < n; ++i)
        pool.emplace_back([&, i] {
            try {
                write_file_atomic(p, std::string(100000, static_cast<char>('a' + i)), 0644);
                ++wins;
            } catch (const Error& e) {
                (e.kind() == ErrorKind::exists ? refused : other)++;
            }
        });
    for (auto& t : pool) t.join();
    CHECK(wins == 1);
    CHECK(refused == n - 1);
    CHECK(other == 0);
    std::string content = read_file(p);
    REQUIRE(content.size() == 100000);
    CHECK(content == std::string(100000, content[0]));
    CHECK(entries(dir.path) == std::vector<std::string>{"race.pem"});
}

TEST_CASE("write_file_atomic: an unusable directory is Error(io), nothing created") {
    TempDir dir;
    write_file_atomic(dir.path / "plain", "x", 0644);
    for (const fs::path& p : {dir.path / "missing" / "f.pem", dir.path / "plain" / "f.pem"}) {
        INFO(p);
        try {
            write_file_atomic(p, "x", 0644);
            FAIL("wrote");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::io);
            CHECK(std::string(e.what()).rfind("writing " + p.string() + ": ", 0) == 0);
        }
    }
    CHECK(entries(dir.path) == std::vector<std::string>{"plain"});
    if (::geteuid() != 0) {  // root writes anywhere
        const fs::path ro = dir.path / "ro";
        fs::create_directory(ro);
        fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
        CHECK(kind_of([&] { write_file_atomic(ro / "f.pem", "x", 0644); }) == ErrorKind::io);
        fs::permissions(ro, fs::perms::owner_all);
        CHECK(entries(ro).empty());
    }
}

TEST_CASE("write_file_atomic: a failed write leaves no temporary file") {
    // RLIMIT_FSIZE makes write() fail with EFBIG half-way, even for root.
    TempDir dir;
    struct rlimit old;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 1000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    ErrorKind k = kind_of([&] { write_file_atomic(dir.path / "big.pem", std::string(5000, 'x'), 0644); });
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    CHECK(k == ErrorKind::io);
    CHECK(entries(dir.path).empty());
}

TEST_CASE("StagedFiles: durable under no name until published, all or nothing") {
    TempDir dir;
    const fs::path a = dir.path / "new" / "deeper" / "a.pem", b = dir.path / "new" / "deeper" / "b.pem";
    {
        StagedFiles staged({{a, "A\n", 0644}, {b, "B\n", 0600}}, false, true);
        CHECK(entries(dir.path / "new" / "deeper").empty());  // staged: no name yet, not even a temporary
    }  // never published: the directories it made are gone too
    CHECK(entries(dir.path).empty());

    {
        StagedFiles staged({{a, "A\n", 0644}, {b, "B\n", 0600}}, false, true);
        staged.publish();
    }
    CHECK(read_file(a) == "A\n");
    CHECK(read_file(b) == "B\n");
    CHECK(mode_of(a) == 0644);
    CHECK(mode_of(b) == 0600);

    // A file that appears between staging and publishing is never replaced;
    // what the group had already published is removed, the rest kept.
    const fs::path c = dir.path / "new" / "c.pem", d = dir.path / "new" / "d.pem";
    {
        StagedFiles staged({{c, "C\n", 0644}, {d, "D\n", 0644}}, false, true);
        write_file_atomic(d, "racer\n", 0644);
        CHECK(kind_of([&] { staged.publish(); }) == ErrorKind::exists);
    }
    CHECK_FALSE(fs::exists(c));
    CHECK(read_file(d) == "racer\n");
    CHECK(entries(dir.path / "new") == std::vector<std::string>{"d.pem", "deeper"});

    // With overwrite, both are replaced.
    {
        StagedFiles staged({{a, "A2\n", 0644}, {b, "B2\n", 0600}}, true, false);
        staged.publish();
    }
    CHECK(read_file(a) == "A2\n");
    CHECK(read_file(b) == "B2\n");
    CHECK(entries(dir.path / "new" / "deeper") == std::vector<std::string>{"a.pem", "b.pem"});

    // Without create_dirs, a missing directory is Error(io) and nothing is made.
    CHECK(kind_of([&] { StagedFiles({{dir.path / "missing" / "x.pem", "x", 0644}}, false, false); }) == ErrorKind::io);
    CHECK_FALSE(fs::exists(dir.path / "missing"));
}

TEST_CASE("read_file") {
    TempDir dir;
    CHECK(kind_of([&] { read_file(dir.path / "absent"); }) == ErrorKind::not_found);
    CHECK(kind_of([&] { read_file(dir.path); }) == ErrorKind::io);
    try {
        read_file(dir.path / "absent");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find((dir.path / "absent").string()) != std::string::npos);
    }
}

TEST_CASE("CaDirectory: a root CA") {
    TempDir tmp;
    const fs::path dir = tmp.path / "ca";
    CHECK_FALSE(CaDirectory::exists(dir));
    CHECK(kind_of([&] { CaDirectory::open(dir); }) == ErrorKind::not_found);

    InitOptions o = quick_options();
    o.policy.allowed_names = {"example.com"};
    CaDirectory ca = CaDirectory::init(dir, o);
    CHECK(ca.path() == dir);
    CHECK(CaDirectory::exists(dir));
    CHECK(mode_of(dir) == 0700);
    CHECK(entries(dir) == std::vector<std::string>{"ca-key.pem", "ca.pem", "inventory.db", "policy.json"});
    CHECK(mode_of(ca.cert_path()) == 0644);
    CHECK(mode_of(ca.key_path()) == 0400);
    CHECK(mode_of(ca.policy_path()) == 0644);
    CHECK(mode_of(ca.inventory_path()) == 0600);
    CHECK_FALSE(ca.has_intermediate());
    CHECK(ca.trust_anchor_path() == ca.cert_path());
    CHECK_FALSE(ca.key_encrypted());

    CaDirectory opened = CaDirectory::open(dir);
    Authority a = opened.authority();
    CHECK(a.certificate().subject() == "CN=store test CA");
    CHECK(a.certificate().self_signed());
    CHECK(a.parents().empty());
    CHECK(a.intermediates().empty());
    CHECK(opened.policy().allowed_names == std::vector<std::string>{"example.com"});
    CHECK(opened.inventory().list().empty());
    CHECK(opened.inventory().next_crl_number() == 1);

    // A second init is refused and changes nothing.
    const std::string cert_before = read_file(ca.cert_path());
    try {
        CaDirectory::init(dir, quick_options());
        FAIL("initialized twice");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::exists);
        CHECK(std::string(e.what()) == "a CA already exists in " + dir.string());
    }
    CHECK(read_file(ca.cert_path()) == cert_before);
    CHECK(entries(dir) == std::vector<std::string>{"ca-key.pem", "ca.pem", "inventory.db", "policy.json"});

    // Even a lone key is a CA not to be overwritten.
    fs::remove(ca.cert_path());
    CHECK(CaDirectory::exists(dir));
    CHECK(kind_of([&] { CaDirectory::init(dir, quick_options()); }) == ErrorKind::exists);
    CHECK(kind_of([&] { CaDirectory::open(dir); }) == ErrorKind::not_found);
}

TEST_CASE("CaDirectory: init into an existing directory keeps what was there") {
    TempDir tmp;
    write_file_atomic(tmp.path / "README", "mine", 0644);
    CaDirectory::init(tmp.path, quick_options());
    CHECK(read_file(tmp.path / "README") == "mine");

    // A leftover CA file (not ca.pem/ca-key.pem) is refused by name.
    TempDir other;
    write_file_atomic(other.path / "inventory.db", "leftover", 0600);
    try {
        CaDirectory::init(other.path, quick_options());
        FAIL("initialized over a leftover inventory");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::exists);
        CHECK(std::string(e.what()) == (other.path / "inventory.db").string() + " already exists");
    }
    CHECK(entries(other.path) == std::vector<std::string>{"inventory.db"});
    CHECK(read_file(other.path / "inventory.db") == "leftover");
}

TEST_CASE("CaDirectory: an encrypted key") {
    TempDir tmp;
    InitOptions o = quick_options();
    o.passphrase = "correct horse";
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", o);
    CHECK(ca.key_encrypted());
    CHECK(read_file(ca.key_path()).rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    CHECK(kind_of([&] { ca.authority(); }) == ErrorKind::passphrase);
    CHECK(kind_of([&] { ca.authority("wrong horse"); }) == ErrorKind::passphrase);
    Authority a = ca.authority("correct horse");
    CHECK(a.certificate() == Certificate::load(ca.cert_path()));

    // Loaded once: issuing and signing CRLs afterwards ask for nothing.
    int asked = 0;
    auto pass = [&] {
        ++asked;
        return std::string("correct horse");
    };
    CHECK(kind_of([&] { ca.loaded_authority(); }) == ErrorKind::passphrase);
    CHECK(ca.loaded_authority(pass)->certificate() == a.certificate());
    CHECK(ca.loaded_authority(pass) == ca.loaded_authority());
    IssueRequest issue;
    issue.names = {"once.example"};
    issue.ca_passphrase = pass;
    ca.issue(issue);
    CrlRequest crl;
    crl.ca_passphrase = pass;
    ca.publish_crls(crl);
    CHECK(asked == 1);
}

TEST_CASE("CaDirectory: with an intermediate") {
    TempDir tmp;
    const fs::path dir = tmp.path / "ca";
    InitOptions o = quick_options();
    o.intermediate = true;
    o.passphrase = "pw";
    o.ca.constraints.permit("example.com");
    CaDirectory ca = CaDirectory::init(dir, o);
    CHECK(entries(dir) == std::vector<std::string>{"ca-key.pem", "ca.pem", "chain.pem", "inventory.db",
                                                   "policy.json", "root-key.pem", "root.pem"});
    CHECK(mode_of(ca.root_key_path()) == 0400);
    CHECK(mode_of(ca.root_path()) == 0644);
    CHECK(mode_of(ca.chain_path()) == 0644);
    CHECK(ca.has_intermediate());
    CHECK(ca.trust_anchor_path() == ca.root_path());
    CHECK(ca.key_encrypted());
    CHECK(read_file(ca.root_key_path()).rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);

    Certificate root = Certificate::load(ca.root_path());
    Certificate inter = Certificate::load(ca.cert_path());
    CHECK(root.self_signed());
    CHECK(root.subject() == "CN=store test CA Root");
    CHECK(inter.subject() == "CN=store test CA");
    CHECK(inter.signed_by(root));
    CHECK(inter.path_len() == 0);
    CHECK(inter.not_after() == t0 + std::chrono::days{1825});
    CHECK(Certificate::load_chain(ca.chain_path()) == std::vector<Certificate>{inter});

    Authority a = ca.authority("pw");
    CHECK(a.certificate() == inter);
    CHECK(a.parents() == std::vector<Certificate>{root});
    CHECK(a.root() == root);
    CHECK(a.intermediates() == std::vector<Certificate>{inter});

    // The intermediate is in the inventory, as a "ca" record.
    auto all = ca.inventory().list();
    REQUIRE(all.size() == 1);
    CHECK(all[0].serial_hex == inter.serial_hex());
    CHECK(all[0].profile == Profile::ca);
    CHECK(ca.inventory().find(inter.serial_hex())->pem == inter.to_pem());
}

TEST_CASE("CaDirectory: a key that does not match ca.pem") {
    TempDir tmp;
    CaDirectory a = CaDirectory::init(tmp.path / "a", quick_options());
    CaDirectory b = CaDirectory::init(tmp.path / "b", quick_options());
    fs::remove(a.key_path());
    fs::copy_file(b.key_path(), a.key_path());
    try {
        a.authority();
        FAIL("loaded a mismatched key");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK(std::string(e.what()) ==
              "CA key " + a.key_path().string() + " does not match " + a.cert_path().string());
    }
    // A missing key names the file.
    fs::remove(a.key_path());
    CHECK(kind_of([&] { a.authority(); }) == ErrorKind::not_found);
}

TEST_CASE("CaDirectory: a missing inventory is not silently recreated") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    fs::remove(ca.inventory_path());
    CaDirectory again = CaDirectory::open(tmp.path / "ca");
    try {
        again.inventory();
        FAIL("opened a missing inventory");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::store);
        CHECK(std::string(e.what()).rfind("inventory " + ca.inventory_path().string() + ": missing", 0) == 0);
    }
    CHECK_FALSE(fs::exists(ca.inventory_path()));
}

TEST_CASE("CaDirectory: a failed init leaves nothing behind") {
    TempDir tmp;
    SUBCASE("refused before anything is written") {
        InitOptions o = quick_options();
        o.intermediate = true;
        o.ca.key_type = KeyType::rsa_2048;
        o.ca.validity = std::chrono::days{-1};  // not_after before not_before
        const fs::path dir = tmp.path / "new" / "ca";
        bool threw = false;
        try {
            CaDirectory::init(dir, o);
        } catch (const Error&) {
            threw = true;
        }
        if (threw) CHECK_FALSE(fs::exists(tmp.path / "new"));
    }
    SUBCASE("a directory that cannot be made") {
        write_file_atomic(tmp.path / "file", "x", 0644);
        CHECK(kind_of([&] { CaDirectory::init(tmp.path / "file" / "ca", quick_options()); }) == ErrorKind::io);
        CHECK(read_file(tmp.path / "file") == "x");
    }
    SUBCASE("failing half-way through the files") {
        // Keys and PEMs fit in 3000 bytes, an SQLite database does not: init
        // fails creating inventory.db after writing the root files.
        for (bool existing_dir : {false, true}) {
            const fs::path dir = tmp.path / (existing_dir ? "existing" : "fresh");
            if (existing_dir) {
                fs::create_directory(dir);
                write_file_atomic(dir / "notes.txt", "keep me", 0644);
            }
            InitOptions o = quick_options();
            o.intermediate = true;
            struct rlimit old;
            REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
            auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
            struct rlimit small = old;
            small.rlim_cur = 3000;
            REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
            bool threw = false;
            try {
                CaDirectory::init(dir, o);
            } catch (const Error&) {
                threw = true;
            }
            ::setrlimit(RLIMIT_FSIZE, &old);
            std::signal(SIGXFSZ, old_handler);
            CHECK(threw);
            if (existing_dir) {
                CHECK(entries(dir) == std::vector<std::string>{"notes.txt"});
            } else {
                CHECK_FALSE(fs::exists(dir));
            }
            // And a retry works.
            CaDirectory::init(dir, quick_options());
            CHECK(CaDirectory::exists(dir));
        }
    }
}

// ---- CaDirectory::issue ------------------------------------------------------------

TEST_CASE("issue: one call makes, signs and records a leaf; without files nothing is written") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    auto before = entries(tmp.path / "ca");
    Issued issued = ca.issue({.names = {"app.example.test", "10.1.2.3"}, .profile = Profile::both});
    CHECK(issued.files.empty());
    REQUIRE(issued.key.has_value());
    CHECK(issued.certificate.matches(*issued.key));
    CHECK(issued.certificate.signed_by(issued.issuer));
    CHECK(issued.certificate.names().to_string() == "DNS:app.example.test, IP:10.1.2.3");
    CHECK(entries(tmp.path / "ca") == before);
    auto record = ca.inventory().find(issued.certificate.serial_hex());
    REQUIRE(record.has_value());
    CHECK(record->profile == Profile::both);
}

TEST_CASE("issue: rows `also` records commit with the certificate, or nothing does") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    // Another certificate stands for the rows an online CA records with its
    // order: written through the inventory inside issue()'s transaction.
    Authority other = Authority::create_root({.subject = {"other", {}, {}, {}}});
    Certificate extra = other.issue({.names = parse_identities({"extra.test"})}).certificate;
    Issued issued = ca.issue({.names = {"a.example.test"}, .also = [&](Inventory& inv, const Certificate& c) {
                                  CHECK(c.names().dns == std::vector<std::string>{"a.example.test"});
                                  inv.import({InventoryRecord::from_certificate(extra, Profile::server)});
                              }});
    CHECK(ca.inventory().find(issued.certificate.serial_hex()).has_value());
    CHECK(ca.inventory().find(extra.serial_hex()).has_value());

    Certificate extra2 = other.issue({.names = parse_identities({"extra2.test"})}).certificate;
    std::string refused_serial;
    CHECK_THROWS_WITH_AS(ca.issue({.names = {"b.example.test"},
                                   .also = [&](Inventory& inv, const Certificate& c) {
                                       refused_serial = c.serial_hex();
                                       inv.import({InventoryRecord::from_certificate(extra2, Profile::server)});
                                       throw Error(ErrorKind::store, "the order could not be recorded");
                                   }}),
                         "the order could not be recorded", Error);
    REQUIRE(!refused_serial.empty());
    CHECK_FALSE(ca.inventory().find(refused_serial).has_value());
    CHECK_FALSE(ca.inventory().find(extra2.serial_hex()).has_value());
    CHECK(ca.inventory().list().size() == 2);
}

TEST_CASE("issue: files are written whole, with their modes; a directory that cannot be made records nothing") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    Issued issued = ca.issue({.names = {"*.example.test"},
                              .files = OutputFiles{.directory = tmp.path / "out", .name_subdirectory = true}});
    const fs::path dir = tmp.path / "out" / "_wildcard.example.test";
    // A root CA's leaf: no chain.pem (no intermediates; an empty file is no PEM).
    REQUIRE(issued.files.size() == 3);
    CHECK(issued.files[0].path == dir / "cert.pem");
    CHECK_FALSE(fs::exists(dir / "chain.pem"));
    CHECK(mode_of(dir / "key.pem") == 0600);
    CHECK(mode_of(dir / "cert.pem") == 0644);
    CHECK(Certificate::load(dir / "fullchain.pem") == issued.certificate);
    CHECK(PrivateKey::load(dir / "key.pem").same_public_key(issued.key->native()));

    std::ofstream(tmp.path / "plain-file") << "x";
    CHECK_THROWS_AS(ca.issue({.names = {"c.example.test"},
                              .files = OutputFiles{.directory = tmp.path / "plain-file" / "sub"}}),
                    Error);
    CHECK(ca.inventory().list().size() == 1);
    // A file in the way is refused before any work, and never replaced.
    CHECK_THROWS_WITH_AS(ca.issue({.names = {"*.example.test"},
                                   .files = OutputFiles{.directory = tmp.path / "out", .name_subdirectory = true}}),
                         doctest::Contains("already exist"), Error);
    CHECK(Certificate::load(dir / "cert.pem") == issued.certificate);
    CHECK(ca.inventory().list().size() == 1);
}

TEST_CASE("issue: a leaf of an intermediate has a chain.pem of the intermediate") {
    TempDir tmp;
    InitOptions o = quick_options();
    o.intermediate = true;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", o);
    Issued issued = ca.issue({.names = {"via.example.test"}, .files = OutputFiles{.directory = tmp.path / "out"}});
    CHECK(issued.files.size() == 4);
    CHECK(Certificate::load_chain(tmp.path / "out" / "chain.pem") == issued.intermediates);
}

TEST_CASE("issue_in: a CA is made on first use only when asked; else a missing one is refused and nothing made") {
    TempDir tmp;
    const fs::path dir = tmp.path / "typo" / "caa";
    const IssueRequest req{.names = {"a.example.test"}, .files = OutputFiles{.directory = tmp.path / "out"}};
    try {
        CaDirectory::issue_in(dir, req);
        FAIL("issued from a CA that does not exist");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::not_found);
        CHECK(std::string(e.what()) == "no CA in " + dir.string() + ": create one with minica init --ca-dir " + dir.string());
    }
    CHECK_FALSE(fs::exists(tmp.path / "typo"));
    CHECK_FALSE(fs::exists(tmp.path / "out"));
    Issued issued = CaDirectory::issue_in(dir, req, quick_options);
    CHECK(issued.created_ca);
    CHECK(fs::exists(dir / "ca.pem"));
}

TEST_CASE("issue: email addresses only get the email profile; a server certificate for them is refused") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    Issued mail = ca.issue({.names = {"carol@example.test"}});
    CHECK(mail.profile == Profile::email);
    CHECK(mail.certificate.extended_key_usage() == std::vector<std::string>{"clientAuth", "emailProtection"});
    CHECK(ca.inventory().find(mail.certificate.serial_hex())->profile == Profile::email);
    CHECK(ca.issue({.names = {"a.example.test", "carol@example.test"}}).profile == Profile::server);
    CHECK(ca.issue({.names = {"carol@example.test"}, .profile = Profile::client}).profile == Profile::client);
    for (Profile p : {Profile::server, Profile::both})
        CHECK_THROWS_WITH_AS(ca.issue({.names = {"carol@example.test"}, .profile = p}),
                             doctest::Contains("needs a DNS name or an IP address"), Error);
    CHECK_THROWS_WITH_AS(ca.issue({.names = {"a.example.test"}, .profile = Profile::ca}),
                         doctest::Contains("never ca"), Error);
    CHECK(ca.inventory().list().size() == 3);
}

TEST_CASE("issue: a policy refusal names the policy file") {
    TempDir tmp;
    InitOptions o = quick_options();
    o.policy.allowed_names = {"example.com"};
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", o);
    const std::string expected = ca.policy_path().string() + ": name \"a.other.test\" is not allowed";
    CHECK_THROWS_WITH_AS(ca.issue({.names = {"a.other.test"}}), doctest::Contains(expected.c_str()), Error);
}

TEST_CASE("issue: a CSR contributes its key and names, never a CA; renew keeps names, profile and key type") {
    TempDir tmp;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", quick_options());
    PrivateKey key = PrivateKey::generate(KeyType::ec_p384);
    auto csr = CertificateRequest::create(key, {}, parse_identities({"csr.example.test"}));
    Issued issued = ca.issue({.profile = Profile::client, .csr = csr});
    CHECK_FALSE(issued.key.has_value());
    CHECK(issued.certificate.matches(key));
    CHECK(issued.certificate.key_type() == KeyType::ec_p384);
    CHECK(issued.certificate.extended_key_usage() == std::vector<std::string>{"clientAuth"});
    CHECK_THROWS_AS(ca.issue({.key = key, .csr = csr}), Error);

    Issued to_renew = ca.issue({.names = {"r.example.test"}, .profile = Profile::client, .key_type = KeyType::ed25519,
                                .files = OutputFiles{.directory = tmp.path / "r"}});
    Renewed renewed = ca.renew({.certificate = tmp.path / "r" / "cert.pem", .reuse_key = true, .overwrite = true});
    CHECK(renewed.profile == Profile::client);
    CHECK(renewed.issued.certificate.matches(*to_renew.key));
    CHECK(renewed.issued.certificate.names() == to_renew.certificate.names());
    CHECK(Certificate::load(tmp.path / "r" / "cert.pem") == renewed.issued.certificate);
    CHECK(ca.inventory().list().size() == 3);
}

TEST_CASE("revocation: verify asks the inventory, then the published CRLs; a revoked intermediate is on the "
          "root's CRL and issues nothing more") {
    TempDir tmp;
    InitOptions o = quick_options();
    o.intermediate = true;
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", o);
    const Certificate root = Certificate::load(ca.root_path());
    const Certificate inter = Certificate::load(ca.cert_path());
    Issued a = ca.issue({.names = {"a.example.test"}});
    Issued b = ca.issue({.names = {"b.example.test"}});
    CHECK(ca.verify(a.certificate, {}).ok);

    // Recorded, not yet published: the inventory answers.
    ca.revoke(a.certificate, RevocationReason::key_compromise);
    VerifyResult r = ca.verify(a.certificate, {});
    CHECK_FALSE(r.ok);
    REQUIRE(r.revoked.has_value());
    CHECK(r.revoked->reason == "keyCompromise");
    CHECK(r.revoked->source.find("inventory") != std::string::npos);
    CHECK(r.reason.find("at depth 0") != std::string::npos);
    CHECK(ca.verify(b.certificate, {}).ok);

    // Published: both levels, each signed by its issuer.
    PublishedCrls p = ca.publish_crls({});
    CHECK(p.issuing.entries == 1);
    CHECK(p.issuing.crl.signed_by(inter));
    CHECK(p.issuing.crl.is_revoked(a.certificate.serial_hex()));
    REQUIRE(p.root.has_value());
    CHECK(p.root->entries == 0);
    CHECK(p.root->crl.signed_by(root));
    CHECK(p.root->crl.number() > p.issuing.crl.number());
    // A verifier without the inventory, given the CRLs.
    VerifyOptions with_crls;
    with_crls.crls = {&p.issuing.crl, &p.root->crl};
    VerifyResult foreign = verify_chain(a.certificate, a.intermediates, {root}, with_crls);
    CHECK_FALSE(foreign.ok);
    REQUIRE(foreign.revoked.has_value());
    CHECK(foreign.revoked->reason == "keyCompromise");
    CHECK(verify_chain(b.certificate, b.intermediates, {root}, with_crls).ok);

    // The intermediate: revoked once, refuses to issue, listed by the root only.
    ca.revoke(inter.serial_hex(), RevocationReason::ca_compromise);
    CHECK(kind_of([&] { ca.revoke(inter.serial_hex(), RevocationReason::ca_compromise); }) == ErrorKind::policy);
    CHECK(kind_of([&] { ca.issue({.names = {"c.example.test"}}); }) == ErrorKind::policy);
    p = ca.publish_crls({});  // replaces its own earlier CRLs
    CHECK(p.root->crl.is_revoked(inter.serial_hex()));
    CHECK_FALSE(p.issuing.crl.is_revoked(inter.serial_hex()));
    r = ca.verify(b.certificate, {});
    CHECK_FALSE(r.ok);
    CHECK(r.reason.find("at depth 1") != std::string::npos);
    // A file that is not an earlier CRL of this CA is kept.
    write_file_atomic(tmp.path / "precious.pem", "keep\n", 0644);
    CHECK(kind_of([&] { ca.publish_crls({.out = tmp.path / "precious.pem"}); }) == ErrorKind::exists);
    CHECK(read_file(tmp.path / "precious.pem") == "keep\n");
}

TEST_CASE("CaDirectory: publication.json gives every leaf issued after it its CRL Distribution Point") {
    TempDir tmp;
    const fs::path dir = tmp.path / "ca";
    CaDirectory ca = CaDirectory::init(dir, quick_options());
    CHECK(ca.publication().empty());
    Certificate before = ca.issue({.names = {"before.test"}}).certificate;
    CHECK(before.crl_distribution_points().empty());

    // Refused: nothing written.
    CHECK(kind_of([&] { ca.set_publication({.crl_url = "https://ca.example/crl"}); }) == ErrorKind::invalid_argument);
    CHECK(kind_of([&] { ca.set_publication({.crl_url = "http://ca.example/crl", .root_crl_url = "http://ca.example/root"}); }) ==
          ErrorKind::invalid_argument);  // a root CA has no root CRL
    CHECK(!fs::exists(ca.publication_path()));
    CHECK(kind_of([&] { ca.publish_crls({.publication = Publication{.crl_url = "ftp://ca.example/crl"}}); }) ==
          ErrorKind::invalid_argument);
    CHECK(!fs::exists(dir / "crl.pem"));

    ca.set_publication({.crl_url = "HTTP://127.0.0.1:8080/crl"});
    CHECK(mode_of(ca.publication_path()) == 0644);
    CHECK(Publication::from_json(read_file(ca.publication_path())).crl_url == "http://127.0.0.1:8080/crl");
    Certificate after = ca.issue({.names = {"after.test"}}).certificate;
    CHECK(after.crl_distribution_points() == std::vector<std::string>{"http://127.0.0.1:8080/crl"});
    // Another CaDirectory (another process) reads the file.
    CaDirectory again = CaDirectory::open(dir);
    CHECK(again.publication().crl_url == "http://127.0.0.1:8080/crl");
    CHECK(again.issue({.names = {"again.test"}}).certificate.crl_distribution_points().size() == 1);
    // Already issued: unchanged.
    CHECK(Certificate::from_pem(ca.inventory().find(before.serial_hex())->pem).crl_distribution_points().empty());

    // publish_crls records it once the CRL is written; an empty one removes the file.
    ca.publish_crls({.publication = Publication{.crl_url = "http://crl.example.test/ca.crl"}});
    CHECK(fs::exists(dir / "crl.pem"));
    CHECK(CaDirectory::open(dir).publication().crl_url == "http://crl.example.test/ca.crl");
    ca.publish_crls({.publication = Publication{}});
    CHECK(!fs::exists(ca.publication_path()));
    CHECK(ca.issue({.names = {"none.test"}}).certificate.crl_distribution_points().empty());

    // A publication.json edited by hand is checked as it is read.
    write_file_atomic(ca.publication_path(), R"({"crl_url": "https://x.example/crl"})", 0644);
    CHECK(kind_of([&] { CaDirectory::open(dir).publication(); }) == ErrorKind::parse);
    write_file_atomic(ca.publication_path(), R"({"crl_uri": "http://x.example/crl"})", 0644, true);
    CHECK(kind_of([&] { CaDirectory::open(dir).publication(); }) == ErrorKind::parse);
}

TEST_CASE("CaDirectory: an intermediate made with a root CRL URL carries it; its leaves carry the CA's") {
    TempDir tmp;
    InitOptions o = quick_options();
    o.intermediate = true;
    o.publication = {.crl_url = "http://crl.example.test/ca.crl", .root_crl_url = "http://crl.example.test/root.crl"};
    CaDirectory ca = CaDirectory::init(tmp.path / "ca", o);
    CHECK(mode_of(ca.publication_path()) == 0644);
    CHECK(Certificate::load(ca.cert_path()).crl_distribution_points() ==
          std::vector<std::string>{"http://crl.example.test/root.crl"});
    CHECK(Certificate::load(ca.root_path()).crl_distribution_points().empty());
    CHECK(ca.issue({.names = {"leaf.test"}}).certificate.crl_distribution_points() ==
          std::vector<std::string>{"http://crl.example.test/ca.crl"});
    // Without an intermediate, a root CRL URL is refused before anything is made.
    InitOptions r = quick_options();
    r.publication.root_crl_url = "http://crl.example.test/root.crl";
    CHECK(kind_of([&] { CaDirectory::init(tmp.path / "root", r); }) == ErrorKind::invalid_argument);
    CHECK(!fs::exists(tmp.path / "root" / "ca.pem"));
}
