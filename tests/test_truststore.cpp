// minica::trust with the external tools faked (a Runner that plays
// update-ca-certificates, certutil and keytool): what each store's backend
// runs, writes and reports. tests/e2e_trust_system.py and
// tests/e2e_trust_browser.py run the real tools against real clients.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <unistd.h>

#include "minica/authority.hpp"
#include "minica/files.hpp"
#include "minica/truststore.hpp"

namespace fs = std::filesystem;
using namespace minica;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "minica-trust-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

Certificate root_with_cn(const std::string& cn) {
    CaOptions o;
    o.subject.common_name = cn;
    return Authority::create_root(o).certificate();
}

std::string joined(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

// Plays the tools: NSS databases as sets of nicknames, a keystore as a set of
// aliases; every command line is recorded.
struct FakeTools {
    std::vector<std::string> log;
    std::map<std::string, std::set<std::string>> nss;  // "sql:DIR" -> nicknames
    std::set<std::string> java;
    int update_exit = 0;
    bool certutil = true;
    std::string hooks_input;

    static std::string after(const std::vector<std::string>& argv, const std::string& flag) {
        for (std::size_t i = 0; i + 1 < argv.size(); ++i)
            if (argv[i] == flag) return argv[i + 1];
        return {};
    }
    CommandResult operator()(const std::vector<std::string>& argv, std::string_view input) {
        log.push_back(joined(argv));
        const std::string& tool = argv[0];
        if (tool == "update-ca-certificates" || tool == "update-ca-trust" || tool == "trust")
            return {true, update_exit, update_exit ? "E: boom\n" : "1 added, 0 removed; done.\n"};
        if (tool == "run-parts") return {true, 0, argv.back() + "/jks-keystore\n"};
        if (tool.ends_with("/jks-keystore")) {
            hooks_input += input;
            return {true, 0, ""};
        }
        if (tool == "certutil") return run_certutil(argv, input);
        if (tool == "keytool") return run_keytool(argv, input);
        return {false, 127, tool + ": not found"};
    }
    CommandResult run_certutil(const std::vector<std::string>& argv, std::string_view input) {
        if (!certutil) return {false, 127, "certutil: not found"};
        const std::string db = after(argv, "-d"), nick = after(argv, "-n");
        const std::string& op = argv[1];
        if (op == "-N") {
            std::ofstream(fs::path(db.substr(4)) / "cert9.db") << "fake";
            nss[db];
            return {true, 0, ""};
        }
        if (op == "-L") return {true, nss[db].count(nick) ? 0 : 255, ""};
        if (op == "-A") {
            REQUIRE(input.find("BEGIN CERTIFICATE") != std::string_view::npos);
            nss[db].insert(nick);
            return {true, 0, ""};
        }
        if (op == "-D") return {true, nss[db].erase(nick) ? 0 : 255, ""};
        return {true, 1, "unexpected"};
    }
    CommandResult run_keytool(const std::vector<std::string>& argv, std::string_view input) {
        const std::string alias = after(argv, "-alias");
        if (argv[1] == "-list") return {true, java.count(alias) ? 0 : 1, ""};
        if (argv[1] == "-importcert") {
            REQUIRE(input.find("BEGIN CERTIFICATE") != std::string_view::npos);
            java.insert(alias);
            return {true, 0, ""};
        }
        if (argv[1] == "-delete") return {true, java.erase(alias) ? 0 : 1, ""};
        return {true, 1, "unexpected"};
    }
};

struct Machine {
    TempDir root, home;
    FakeTools tools;
    TrustAnchor anchor = TrustAnchor::of(root_with_cn("Trust: Test Root"));
    Machine() {
        fs::create_directories(root.path / "usr/local/share/ca-certificates");
        fs::create_directories(root.path / "etc/ca-certificates/update.d");
    }
    TrustResult run(TrustAction action, std::vector<TrustStoreKind> stores, bool dry_run = false) {
        TrustRequest r;
        r.action = action;
        r.stores = std::move(stores);
        r.dry_run = dry_run;
        r.home = home.path;
        r.root = root.path;
        r.run = [this](const std::vector<std::string>& argv, std::string_view in) { return tools(argv, in); };
        return trust(anchor, r);
    }
    fs::path anchor_file() const { return root.path / "usr/local/share/ca-certificates" / (anchor.name + ".crt"); }
};

}  // namespace

TEST_CASE("a trust anchor is named by its fingerprint and subject") {
    Certificate c = root_with_cn("Trust: Test Root");
    TrustAnchor a = TrustAnchor::of(c);
    std::string hex;
    for (char ch : c.fingerprint_sha256())
        if (ch != ':') hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    CHECK(a.id == "minica-" + hex.substr(0, 16));
    CHECK(a.name == a.id + "-trust-test-root");  // a file name without spaces, a keytool alias
    CHECK(a.nickname == a.id + " Trust_ Test Root");  // certutil reads "token:nickname"
    TrustAnchor u = TrustAnchor::of(root_with_cn("  Ünï  CA "));
    CHECK(u.name == u.id + "-n-ca");
}

TEST_CASE("the Debian system store: install, again, status, uninstall, status") {
    Machine m;
    TrustResult r = m.run(TrustAction::install, {TrustStoreKind::system});
    REQUIRE(r.steps.size() == 1);
    CHECK(r.ok);
    CHECK(r.steps[0].state == TrustState::installed);
    CHECK(r.steps[0].location == m.anchor_file().string());
    CHECK(read_file(m.anchor_file()) == m.anchor.certificate.to_pem());
    CHECK(m.tools.log == std::vector<std::string>{"update-ca-certificates"});

    m.tools.log.clear();
    r = m.run(TrustAction::install, {TrustStoreKind::system});
    CHECK(r.steps[0].state == TrustState::unchanged);
    CHECK(m.tools.log.empty());
    CHECK(m.run(TrustAction::status, {TrustStoreKind::system}).steps[0].state == TrustState::present);

    // an anchor of another CA in the same directory is left alone
    std::ofstream(m.anchor_file().parent_path() / "someone-else.crt") << "x";
    r = m.run(TrustAction::uninstall, {TrustStoreKind::system});
    CHECK(r.ok);
    CHECK(r.steps[0].state == TrustState::removed);
    CHECK_FALSE(fs::exists(m.anchor_file()));
    CHECK(fs::exists(m.anchor_file().parent_path() / "someone-else.crt"));
    REQUIRE(m.tools.log.size() == 3);
    CHECK(m.tools.log[0] == "update-ca-certificates --fresh");
    CHECK(m.tools.log[1].starts_with("run-parts --test -- "));
    // the hooks (the Java keystore's) hear of the removal
    CHECK(m.tools.hooks_input == "-/etc/ssl/certs/" + m.anchor.name + ".pem\n");

    r = m.run(TrustAction::status, {TrustStoreKind::system});
    CHECK(r.steps[0].state == TrustState::absent);
    CHECK_FALSE(r.ok);  // status fails when a store does not trust the CA
    CHECK(m.run(TrustAction::uninstall, {TrustStoreKind::system}).steps[0].state == TrustState::absent);
}

TEST_CASE("a failed update-ca-certificates leaves no anchor behind") {
    Machine m;
    m.tools.update_exit = 1;
    TrustResult r = m.run(TrustAction::install, {TrustStoreKind::system});
    CHECK_FALSE(r.ok);
    CHECK(r.steps[0].state == TrustState::failed);
    CHECK(r.steps[0].detail.find("E: boom") != std::string::npos);
    CHECK_FALSE(fs::exists(m.anchor_file()));
}

TEST_CASE("Fedora's and Arch's anchors directories are found") {
    for (auto [dir, file, update] :
         {std::tuple{"etc/pki/ca-trust/source/anchors", ".pem", "update-ca-trust extract"},
          std::tuple{"etc/ca-certificates/trust-source/anchors", ".crt", "trust extract-compat"}}) {
        Machine m;
        fs::remove_all(m.root.path / "usr");
        fs::create_directories(m.root.path / dir);
        TrustResult r = m.run(TrustAction::install, {TrustStoreKind::system});
        CHECK(r.steps[0].state == TrustState::installed);
        CHECK(fs::exists(m.root.path / dir / (m.anchor.name + file)));
        CHECK(m.tools.log == std::vector<std::string>{update});
    }
}

TEST_CASE("NSS: Chromium's database is created; every Firefox profile gets it; uninstall removes only ours") {
    Machine m;
    const fs::path profile = m.home.path / ".mozilla/firefox/abcd.default-release";
    fs::create_directories(profile);
    std::ofstream(profile / "cert9.db") << "fake";
    const std::string chromium = "sql:" + (m.home.path / ".pki/nssdb").string();
    const std::string firefox = "sql:" + profile.string();
    m.tools.nss[firefox].insert("someone else's CA");

    TrustResult r = m.run(TrustAction::install, {TrustStoreKind::nss});
    CHECK(r.ok);
    REQUIRE(r.steps.size() == 2);
    CHECK(r.steps[0].location == chromium);
    CHECK(r.steps[1].location == firefox);
    CHECK(r.steps[0].state == TrustState::installed);
    CHECK(r.steps[1].state == TrustState::installed);
    CHECK(m.tools.nss[chromium].count(m.anchor.nickname) == 1);
    CHECK(m.tools.nss[firefox].count(m.anchor.nickname) == 1);
    CHECK((fs::status(m.home.path / ".pki/nssdb").permissions() & fs::perms::all) == fs::perms::owner_all);

    CHECK(m.run(TrustAction::install, {TrustStoreKind::nss}).steps[1].state == TrustState::unchanged);
    r = m.run(TrustAction::uninstall, {TrustStoreKind::nss});
    CHECK(r.steps[0].state == TrustState::removed);
    CHECK(r.steps[1].state == TrustState::removed);
    CHECK(m.tools.nss[firefox] == std::set<std::string>{"someone else's CA"});
    CHECK(m.tools.nss[chromium].empty());
}

TEST_CASE("a missing certutil: skipped with its package by default, a failure when asked for") {
    Machine m;
    m.tools.certutil = false;
    const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
    ::setenv("JAVA_HOME", (m.root.path / "no-jdk").c_str(), 1);
    ::setenv("PATH", m.root.path.c_str(), 1);  // no keytool either
    TrustResult r = m.run(TrustAction::install, {});
    ::setenv("PATH", path.c_str(), 1);
    ::unsetenv("JAVA_HOME");
    CHECK(r.ok);
    std::map<TrustStoreKind, TrustStep> by;
    for (const auto& s : r.steps) by[s.store] = s;
    CHECK(by.at(TrustStoreKind::system).state == TrustState::installed);
    CHECK(by.at(TrustStoreKind::nss).state == TrustState::skipped);
    CHECK(by.at(TrustStoreKind::nss).detail.find("libnss3-tools") != std::string::npos);
    CHECK(by.at(TrustStoreKind::java).state == TrustState::skipped);
    CHECK(by.at(TrustStoreKind::java).detail.find("keytool") != std::string::npos);

    r = m.run(TrustAction::install, {TrustStoreKind::nss});
    CHECK_FALSE(r.ok);
    CHECK(r.steps[0].state == TrustState::skipped);
}

TEST_CASE("java: keytool on the JDK's cacerts, under the anchor's alias") {
    Machine m;
    const fs::path jdk = m.root.path / "jdk";
    fs::create_directories(jdk / "lib/security");
    std::ofstream(jdk / "lib/security/cacerts") << "fake";
    ::setenv("JAVA_HOME", jdk.c_str(), 1);
    TrustResult r = m.run(TrustAction::install, {TrustStoreKind::java});
    CHECK(r.ok);
    CHECK(r.steps[0].state == TrustState::installed);
    CHECK(r.steps[0].location == fs::canonical(jdk / "lib/security/cacerts").string());
    CHECK(m.tools.java == std::set<std::string>{m.anchor.name});
    CHECK(m.tools.log.back().find("-keystore " + r.steps[0].location) != std::string::npos);
    CHECK(m.run(TrustAction::status, {TrustStoreKind::java}).steps[0].state == TrustState::present);
    CHECK(m.run(TrustAction::uninstall, {TrustStoreKind::java}).steps[0].state == TrustState::removed);
    CHECK(m.tools.java.empty());
    ::unsetenv("JAVA_HOME");
}

TEST_CASE("a dry run changes nothing and says what it would do") {
    Machine m;
    TrustResult r = m.run(TrustAction::install, {TrustStoreKind::system, TrustStoreKind::nss}, true);
    CHECK(r.ok);
    for (const auto& s : r.steps) CHECK(s.state == TrustState::would_install);
    CHECK_FALSE(fs::exists(m.anchor_file()));
    CHECK_FALSE(fs::exists(m.home.path / ".pki"));
    CHECK(m.tools.log.empty());
    m.run(TrustAction::install, {TrustStoreKind::system});
    m.tools.log.clear();
    r = m.run(TrustAction::uninstall, {TrustStoreKind::system}, true);
    CHECK(r.steps[0].state == TrustState::would_remove);
    CHECK(fs::exists(m.anchor_file()));
    CHECK(m.tools.log.empty());
}

TEST_CASE("run_command runs a program with input and reports a missing one") {
    CommandResult r = run_command({"sh", "-c", "cat; echo err >&2; exit 3"}, "hello\n");
    CHECK(r.found);
    CHECK(r.exit_code == 3);
    CHECK(r.output == "hello\nerr\n");
    // a child that never reads its input: no SIGPIPE here
    r = run_command({"true"}, std::string(1 << 20, 'x'));
    CHECK(r.exit_code == 0);
    r = run_command({"minica-no-such-program-anywhere"});
    CHECK_FALSE(r.found);
    CHECK(r.exit_code == 127);
}
