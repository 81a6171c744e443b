// Trust stores (truststore.hpp): one small backend per store, each a few
// external commands, as mkcert's truststore_<store>.go. Choices:
// - A store that needs root is checked for permission before anything is
//   changed; an install whose update command fails takes its file back out
//   (nothing half done).
// - Debian's update-ca-certificates forgets a removed local anchor only with
//   --fresh (without it, no change is counted and the hash link is left
//   dangling), and then tells its hooks (update.d: the Java keystore's) only
//   what it added: uninstall tells them "-/etc/ssl/certs/<id>.pem" itself, as
//   update-ca-certificates does for a removal it noticed.
// - NSS and Java are found by their tool (certutil, keytool); the nickname
//   and alias carry the fingerprint, so presence of the name is presence of
//   this CA.
#include "minica/truststore.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/log.hpp"
#include "minica/text.hpp"

extern char** environ;

namespace minica {

namespace fs = std::filesystem;

TrustAnchor TrustAnchor::of(const Certificate& certificate) {
    std::string hex;
    for (char c : certificate.fingerprint_sha256())
        if (c != ':' && hex.size() < 16) hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    TrustAnchor a{certificate, "minica-" + hex, {}, {}};
    std::string slug;
    for (char c : certificate.common_name()) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80 && std::isalnum(u))
            slug += static_cast<char>(std::tolower(u));
        else if (!slug.empty() && slug.back() != '-')
            slug += '-';
    }
    while (!slug.empty() && slug.back() == '-') slug.pop_back();
    a.name = slug.empty() ? a.id : a.id + "-" + slug.substr(0, 48);
    while (a.name.back() == '-') a.name.pop_back();
    std::string cn = printable(certificate.common_name());
    std::replace(cn.begin(), cn.end(), ':', '_');  // certutil reads "token:nickname"
    a.nickname = cn.empty() ? a.id : a.id + " " + cn;
    return a;
}

// ---- running a program ------------------------------------------------------------

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// The input as a file descriptor the child reads from the start: a memfd, so
// that a child that exits without reading cannot raise SIGPIPE in this process.
int input_fd(std::string_view input) {
    int fd = ::memfd_create("minica-input", MFD_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::io, std::string("memfd_create: ") + std::strerror(errno));
    for (std::size_t done = 0; done < input.size();) {
        ssize_t n = ::write(fd, input.data() + done, input.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ::close(fd);
            throw Error(ErrorKind::io, std::string("writing a command's input: ") + std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    ::lseek(fd, 0, SEEK_SET);
    return fd;
}

constexpr std::size_t max_output = 1 << 20;  // a tool's output is a few lines; never hold more than this

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::string_view input) {
    if (argv.empty()) throw Error(ErrorKind::invalid_argument, "run_command: no program");
    Fd in{input_fd(input)};
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(ErrorKind::io, std::string("pipe: ") + std::strerror(errno));
    Fd out_read{pipe_fds[0]}, out_write{pipe_fds[1]};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.fd, 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_write.fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == ENOENT) return {false, 127, argv[0] + ": not found"};
    if (rc != 0) throw Error(ErrorKind::io, "running " + argv[0] + ": " + std::strerror(rc));
    ::close(out_write.fd);
    out_write.fd = -1;
    CommandResult r;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(out_read.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (r.output.size() < max_output) r.output.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    logger()->debug("ran {} -> exit {}", argv[0], r.exit_code);
    return r;
}

// ---- names ---------------------------------------------------------------------------

const char* to_string(TrustStoreKind kind) noexcept {
    switch (kind) {
        case TrustStoreKind::system: return "system";
        case TrustStoreKind::nss: return "nss";
        case TrustStoreKind::java: return "java";
    }
    return "?";
}

TrustStoreKind parse_trust_store(std::string_view name) {
    for (auto k : all_trust_stores)
        if (name == to_string(k)) return k;
    throw Error(ErrorKind::invalid_argument, "unknown trust store " + quote(name) + " (system, nss or java)");
}

const char* to_string(TrustAction action) noexcept {
    switch (action) {
        case TrustAction::install: return "install";
        case TrustAction::uninstall: return "uninstall";
        case TrustAction::status: return "status";
    }
    return "?";
}

TrustAction parse_trust_action(std::string_view name) {
    for (auto a : all_trust_actions)
        if (name == to_string(a)) return a;
    throw Error(ErrorKind::invalid_argument, "unknown trust action " + quote(name) + " (install, uninstall or status)");
}

const char* to_string(TrustState state) noexcept {
    switch (state) {
        case TrustState::installed: return "installed";
        case TrustState::unchanged: return "unchanged";
        case TrustState::removed: return "removed";
        case TrustState::present: return "present";
        case TrustState::absent: return "absent";
        case TrustState::would_install: return "would install";
        case TrustState::would_remove: return "would remove";
        case TrustState::skipped: return "skipped";
        case TrustState::failed: return "failed";
    }
    return "?";
}

// ---- the stores ----------------------------------------------------------------------

namespace {

// What every backend needs: the anchor, the request, and a way to report.
struct Context {
    const TrustAnchor& anchor;
    const TrustRequest& request;
    std::string pem;
    std::vector<TrustStep>& steps;

    CommandResult run(const std::vector<std::string>& argv, std::string_view input = {}) const {
        return request.run(argv, input);
    }
    void add(TrustStoreKind store, std::string location, TrustState state, std::string detail = {},
             bool needs_root = false) const {
        steps.push_back({store, std::move(location), state, std::move(detail), needs_root});
    }
};

// The last lines of a tool's output, for a message on one line.
std::string tail(const CommandResult& r) {
    std::string s = r.output;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (s.size() > 300) s = "..." + s.substr(s.size() - 300);
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return printable(s);
}

std::string failure(const std::vector<std::string>& argv, const CommandResult& r) {
    return argv[0] + " exited with " + std::to_string(r.exit_code) + (r.output.empty() ? "" : ": " + tail(r));
}

bool writable(const fs::path& p) { return ::access(p.c_str(), W_OK) == 0; }

bool same_file_content(const fs::path& p, std::string_view content) {
    try {
        return read_file(p) == content;
    } catch (const Error&) {
        return false;
    }
}

// -- system --------------------------------------------------------------------------

struct SystemStore {
    fs::path anchors;  // the directory anchors go into
    std::string extension;
    std::vector<std::string> update;  // the command that rebuilds the bundles
    bool debian = false;
};

std::optional<SystemStore> find_system_store(const fs::path& root) {
    auto is_dir = [&](const char* d) {
        std::error_code ec;
        return fs::is_directory(root / d, ec);
    };
    if (is_dir("usr/local/share/ca-certificates"))
        return SystemStore{root / "usr/local/share/ca-certificates", ".crt", {"update-ca-certificates"}, true};
    if (is_dir("etc/pki/ca-trust/source/anchors"))
        return SystemStore{root / "etc/pki/ca-trust/source/anchors", ".pem", {"update-ca-trust", "extract"}, false};
    if (is_dir("etc/ca-certificates/trust-source/anchors"))
        return SystemStore{root / "etc/ca-certificates/trust-source/anchors", ".crt", {"trust", "extract-compat"},
                           false};
    return std::nullopt;
}

// Debian: tell update-ca-certificates' hooks about the removal (see the top).
void run_debian_removal_hooks(const Context& cx, const std::string& name) {
    const fs::path hooks = cx.request.root / "etc/ca-certificates/update.d";
    std::error_code ec;
    if (!fs::is_directory(hooks, ec)) return;
    CommandResult list = cx.run({"run-parts", "--test", "--", hooks.string()});
    if (list.exit_code != 0) return;
    std::string line, input = "-/etc/ssl/certs/" + name + ".pem\n";
    for (std::size_t pos = 0; pos < list.output.size();) {
        std::size_t nl = list.output.find('\n', pos);
        line = list.output.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? list.output.size() : nl + 1;
        if (line.empty()) continue;
        CommandResult h = cx.run({line}, input);
        if (h.exit_code != 0) logger()->warn("{}: {}", line, failure({line}, h));
    }
}

void system_store(const Context& cx) {
    const auto store = find_system_store(cx.request.root);
    if (!store) {
        cx.add(TrustStoreKind::system, "", TrustState::skipped,
               "no system trust store found (update-ca-certificates, update-ca-trust or p11-kit trust)");
        return;
    }
    const fs::path file = store->anchors / (cx.anchor.name + store->extension);
    const bool present = same_file_content(file, cx.pem);
    const TrustAction action = cx.request.action;
    auto add = [&](TrustState s, std::string detail = {}, bool root = false) {
        cx.add(TrustStoreKind::system, file.string(), s, std::move(detail), root);
    };
    if (action == TrustAction::status) return add(present ? TrustState::present : TrustState::absent);
    if (action == TrustAction::install && present) return add(TrustState::unchanged);
    if (action == TrustAction::uninstall && !fs::exists(file)) return add(TrustState::absent);
    if (cx.request.dry_run)
        return add(action == TrustAction::install ? TrustState::would_install : TrustState::would_remove);
    if (!writable(store->anchors))
        return add(TrustState::failed, "no permission to write " + store->anchors.string() + ": it needs root", true);

    if (action == TrustAction::install) {
        write_file_atomic(file, cx.pem, 0644, true);
        CommandResult r = cx.run(store->update);
        if (r.exit_code != 0) {
            fs::remove(file);
            cx.run(store->update);
            return add(TrustState::failed, failure(store->update, r));
        }
        return add(TrustState::installed);
    }
    const std::string old = read_file(file);
    fs::remove(file);
    std::vector<std::string> update = store->update;
    if (store->debian) update.push_back("--fresh");
    CommandResult r = cx.run(update);
    if (r.exit_code != 0) {
        write_file_atomic(file, old, 0644, true);
        cx.run(store->update);
        return add(TrustState::failed, failure(update, r));
    }
    if (store->debian) run_debian_removal_hooks(cx, cx.anchor.name);
    add(TrustState::removed);
}

// -- nss -------------------------------------------------------------------------------

constexpr const char* certutil_missing = "certutil not found (Debian/Ubuntu: apt install libnss3-tools; Fedora: "
                                         "dnf install nss-tools)";

// Chromium's shared database, then every Firefox profile that has a cert9.db.
std::vector<fs::path> nss_databases(const fs::path& home) {
    std::vector<fs::path> dbs{home / ".pki/nssdb"};
    for (const char* profiles : {".mozilla/firefox", "snap/firefox/common/.mozilla/firefox"}) {
        std::error_code ec;
        std::vector<fs::path> found;
        for (const auto& e : fs::directory_iterator(home / profiles, ec))
            if (fs::exists(e.path() / "cert9.db", ec)) found.push_back(e.path());
        std::sort(found.begin(), found.end());
        dbs.insert(dbs.end(), found.begin(), found.end());
    }
    return dbs;
}

// certutil -L of the anchor's nickname: exit 0 when the database has it.
CommandResult nss_lookup(const Context& cx, const std::string& db) {
    return cx.run({"certutil", "-L", "-d", db, "-n", cx.anchor.nickname});
}

// One NSS database; false when certutil is not there (the caller stops).
bool nss_database(const Context& cx, const fs::path& dir) {
    const std::string db = "sql:" + dir.string();
    const TrustAction action = cx.request.action;
    auto add = [&](TrustState s, std::string detail = {}) { cx.add(TrustStoreKind::nss, db, s, std::move(detail)); };
    std::error_code ec;
    const bool exists = fs::exists(dir / "cert9.db", ec);
    if (!exists && action != TrustAction::install) {
        add(TrustState::absent);
        return true;
    }
    if (exists) {
        CommandResult probe = nss_lookup(cx, db);
        if (!probe.found) return false;
        const bool present = probe.exit_code == 0;
        if (action == TrustAction::status) return add(present ? TrustState::present : TrustState::absent), true;
        if (action == TrustAction::install && present) return add(TrustState::unchanged), true;
        if (action == TrustAction::uninstall && !present) return add(TrustState::absent), true;
    }
    if (cx.request.dry_run)
        return add(action == TrustAction::install ? TrustState::would_install : TrustState::would_remove), true;
    if (action == TrustAction::install) {
        if (!exists) {
            fs::create_directories(dir, ec);
            fs::permissions(dir, fs::perms::owner_all, ec);  // Chromium makes it 0700
            std::vector<std::string> create{"certutil", "-N", "-d", db, "--empty-password"};
            CommandResult r = cx.run(create);
            if (!r.found) return false;
            if (r.exit_code != 0) return add(TrustState::failed, failure(create, r)), true;
        }
        std::vector<std::string> argv{"certutil", "-A", "-d", db, "-t", "C,,", "-n", cx.anchor.nickname};
        CommandResult r = cx.run(argv, cx.pem);
        if (r.exit_code != 0) {
            cx.run({"certutil", "-D", "-d", db, "-n", cx.anchor.nickname});
            return add(TrustState::failed, failure(argv, r)), true;
        }
        return add(TrustState::installed), true;
    }
    std::vector<std::string> argv{"certutil", "-D", "-d", db, "-n", cx.anchor.nickname};
    for (int i = 0; i < 8 && nss_lookup(cx, db).exit_code == 0; ++i) {  // a nickname may be there more than once
        CommandResult r = cx.run(argv);
        if (r.exit_code != 0) return add(TrustState::failed, failure(argv, r)), true;
    }
    add(TrustState::removed);
    return true;
}

void nss_store(const Context& cx) {
    for (const auto& dir : nss_databases(cx.request.home)) {
        if (!nss_database(cx, dir)) {
            cx.add(TrustStoreKind::nss, "", TrustState::skipped, certutil_missing);
            return;
        }
    }
}

// -- java ------------------------------------------------------------------------------

constexpr const char* keytool_missing = "keytool not found (Debian/Ubuntu: apt install default-jre-headless)";
constexpr const char* java_storepass = "changeit";  // the JDK's well-known cacerts password

// The JDK's cacerts: $JAVA_HOME/lib/security/cacerts, else beside the keytool on PATH.
std::optional<fs::path> java_cacerts() {
    std::error_code ec;
    if (const char* jh = std::getenv("JAVA_HOME"); jh && *jh) {
        fs::path p = fs::path(jh) / "lib/security/cacerts";
        if (fs::exists(p, ec)) return fs::canonical(p, ec);
    }
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        auto colon = dirs.find(':');
        fs::path tool = fs::path(dirs.substr(0, colon)) / "keytool";
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
        if (::access(tool.c_str(), X_OK) != 0) continue;
        fs::path p = fs::canonical(tool, ec).parent_path().parent_path() / "lib/security/cacerts";
        if (fs::exists(p, ec)) return fs::canonical(p, ec);
    }
    return std::nullopt;
}

void java_store(const Context& cx) {
    const auto cacerts = java_cacerts();
    if (!cacerts) return cx.add(TrustStoreKind::java, "", TrustState::skipped, keytool_missing);
    const std::string ks = cacerts->string();
    auto add = [&](TrustState s, std::string detail = {}, bool root = false) {
        cx.add(TrustStoreKind::java, ks, s, std::move(detail), root);
    };
    const std::vector<std::string> base{"-keystore", ks, "-storepass", java_storepass, "-alias", cx.anchor.name};
    auto keytool = [&](std::string verb, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{"keytool", std::move(verb)};
        argv.insert(argv.end(), base.begin(), base.end());
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    };
    CommandResult probe = cx.run(keytool("-list"));
    if (!probe.found) return cx.add(TrustStoreKind::java, "", TrustState::skipped, keytool_missing);
    const bool present = probe.exit_code == 0;
    const TrustAction action = cx.request.action;
    if (action == TrustAction::status) return add(present ? TrustState::present : TrustState::absent);
    if (action == TrustAction::install && present) return add(TrustState::unchanged);
    if (action == TrustAction::uninstall && !present) return add(TrustState::absent);
    if (cx.request.dry_run)
        return add(action == TrustAction::install ? TrustState::would_install : TrustState::would_remove);
    if (!writable(*cacerts)) return add(TrustState::failed, "no permission to write " + ks + ": it needs root", true);
    auto argv = action == TrustAction::install ? keytool("-importcert", {"-noprompt"}) : keytool("-delete");
    CommandResult r = cx.run(argv, action == TrustAction::install ? std::string_view(cx.pem) : std::string_view{});
    if (r.exit_code != 0) return add(TrustState::failed, failure(argv, r));
    add(action == TrustAction::install ? TrustState::installed : TrustState::removed);
}

bool succeeded(const TrustStep& s, TrustAction action, bool explicit_store) {
    switch (s.state) {
        case TrustState::failed: return false;
        case TrustState::skipped: return !explicit_store;
        case TrustState::absent: return action != TrustAction::status;
        default: return true;
    }
}

}  // namespace

TrustResult trust(const TrustAnchor& anchor, const TrustRequest& request) {
    const bool explicit_stores = !request.stores.empty();
    std::vector<TrustStoreKind> stores = request.stores;
    if (stores.empty()) stores.assign(std::begin(all_trust_stores), std::end(all_trust_stores));
    TrustResult result;
    Context cx{anchor, request, anchor.certificate.to_pem(), result.steps};
    for (TrustStoreKind store : stores) {
        if (std::any_of(result.steps.begin(), result.steps.end(), [&](const TrustStep& s) { return s.store == store; }))
            continue;  // named twice
        const std::size_t first = result.steps.size();
        try {
            switch (store) {
                case TrustStoreKind::system: system_store(cx); break;
                case TrustStoreKind::nss: nss_store(cx); break;
                case TrustStoreKind::java: java_store(cx); break;
            }
        } catch (const Error& e) {
            cx.add(store, "", TrustState::failed, e.what());
        } catch (const std::exception& e) {  // a file-system error
            cx.add(store, "", TrustState::failed, e.what());
        }
        for (std::size_t i = first; i < result.steps.size(); ++i) {
            TrustStep& s = result.steps[i];
            // Found but not ours to change without root: with the default
            // stores, that store is skipped with the reason (and how).
            if (!explicit_stores && s.state == TrustState::failed && s.needs_root) s.state = TrustState::skipped;
            result.ok = result.ok && succeeded(s, request.action, explicit_stores);
        }
    }
    return result;
}

}  // namespace minica
