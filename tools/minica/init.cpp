// minica init: create a CA (CaDirectory::init).
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include <openssl/crypto.h>

#include "cli.hpp"
#include "minica/error.hpp"

namespace minica::cli {

namespace {
struct InitArgs {
    std::string name;
    std::string key = "ec-p256";
    int days = 0;
    int path_len = -1;
    std::vector<std::string> permit, exclude;
    bool intermediate = false;
    bool encrypt = false;
    std::string passphrase_file;
};

// The topmost directory of `dir` that does not exist yet (what init will
// create), or "" when `dir` exists.
fs::path first_missing(const fs::path& dir) {
    fs::path top;
    for (fs::path p = dir; !p.empty() && !fs::exists(p); p = p.parent_path()) {
        top = p;
        if (p == p.parent_path()) break;
    }
    return top;
}

// Ctrl-C, SIGTERM or SIGHUP while init runs (an RSA key takes seconds):
// what it created is removed and minica exits 128 + the signal, instead of
// leaving a directory with half a CA in it. The signals are blocked here
// (threads started later inherit that) and taken by a thread in sigwait(),
// which runs ordinary code, out of any signal handler's limits. It removes
// the directory init created (again until it stays gone: init may be
// creating or writing into it meanwhile), or the
// CA files in a directory that existed. Once disarmed, a signal just exits.
class RemoveOnSignal {
public:
    RemoveOnSignal(fs::path created, std::vector<fs::path> files)
        : state_(std::make_shared<State>(std::move(created), std::move(files))) {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
        ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
        // Detached, and owning its state: it waits as long as the process runs.
        std::thread([state = state_, set] { wait(*state, set); }).detach();
    }
    // Runs init's work, then disarms: the CA is made and stays. Also when
    // the work fails, since a failure may be the clean-up's doing (it
    // removed the directory the work was creating): once a signal is being
    // handled, disarming waits for its exit (128 + signal), so that failure
    // is never reported as init's own.
    template <class F> auto run(F&& work) {
        try {
            auto made = work();
            disarm();
            return made;
        } catch (...) {
            disarm();
            throw;
        }
    }

private:
    void disarm() {
        std::lock_guard lock(state_->mutex);
        state_->armed = false;
    }

    struct State {
        State(fs::path c, std::vector<fs::path> f) : created(std::move(c)), files(std::move(f)) {}
        fs::path created;
        std::vector<fs::path> files;
        std::mutex mutex;
        bool armed = true;
    };
    static void wait(State& s, sigset_t set) {
        int sig = 0;
        while (::sigwait(&set, &sig) != 0) {
        }
        std::lock_guard lock(s.mutex);  // held until _Exit: a disarm() now never returns
        if (s.armed) {
            std::error_code ec;
            if (!s.created.empty()) {
                // init keeps running meanwhile: a create_directories() in
                // flight may make the directory again right after it was
                // removed, so it must stay gone across two looks 5 ms apart.
                for (int i = 0, gone = 0; i < 200 && gone < 2; ++i) {
                    if (fs::exists(s.created, ec)) {
                        gone = 0;
                        fs::remove_all(s.created, ec);
                    } else {
                        ++gone;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            } else {
                for (int i = 0, gone = 0; i < 200 && gone < 2; ++i) {
                    bool any = false;
                    for (const auto& f : s.files) any = fs::remove(f, ec) || any;
                    gone = any ? 0 : gone + 1;
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            }
            std::cerr << "minica: init interrupted (" << ::strsignal(sig) << "): removed "
                      << (s.created.empty() ? "the CA files in " + s.files.front().parent_path().string()
                                            : s.created.string())
                      << std::endl;
        }
        std::_Exit(128 + sig);
    }
    std::shared_ptr<State> state_;
};

// On a terminal, a line before a key that takes a while (RSA: seconds); init
// is otherwise silent until it is done.
void say_generating(const InitOptions& opts, bool quiet) {
    if (quiet || !is_rsa(opts.ca.key_type) || ::isatty(STDERR_FILENO) != 1) return;
    const std::string key(to_string(opts.ca.key_type));
    std::cerr << "Generating " << (opts.intermediate ? "two " + key + " keys" : with_article(key) + " key") << "..."
              << std::endl;
}
}  // namespace

Verb add_init(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<InitArgs>();
    CLI::App* cmd = app.add_subcommand("init", "create a CA (a root, or a root and an intermediate that issues)");
    cmd->add_option("--name", a->name, "CA common name (default: \"minica root CA\", O=minica, OU=user@host)");
    cmd->add_option("--key", a->key, "CA key type")
        ->check(CLI::IsMember(choices(all_key_types)));
    cmd->add_option("--days", a->days, "CA validity in days (default: 3650 for a root, 1825 for an intermediate)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--path-len", a->path_len, "basicConstraints pathLenConstraint of the issuing CA")
        ->check(CLI::Range(0, 16));
    cmd->add_option("--permit", a->permit, "name constraint: DNS suffix, CIDR range or @domain (repeatable)");
    cmd->add_option("--exclude", a->exclude, "excluded name constraint, same forms (repeatable)");
    cmd->add_flag("--intermediate", a->intermediate, "a root that signs an intermediate; the intermediate issues");
    auto* enc = cmd->add_flag("--encrypt", a->encrypt,
                              "encrypt the CA key(s) with a passphrase ($MINICA_PASSPHRASE, --passphrase-file, or a prompt)");
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the passphrase from the first line of FILE")
        ->needs(enc);

    return {cmd, [a, &g] {
                fs::path dir = g.resolved_ca_dir();
                // Refused before any work: an existing CA is never touched, nor
                // CA files without ca.pem (an init killed midway, or a CA whose
                // certificate was removed): init is explicit, so it says so and
                // changes nothing; `minica sign` sets such leftovers aside in
                // the default location (the one place it creates a CA).
                if (CaDirectory::exists(dir)) {
                    if (!fs::exists(dir / "ca.pem"))
                        throw Error(ErrorKind::exists,
                                    "a CA already exists in " + dir.string() +
                                        ", without ca.pem (an interrupted init?); nothing was changed: move its files "
                                        "away and run minica init again");
                    throw Error(ErrorKind::exists, "a CA already exists in " + dir.string() + " (nothing was changed)");
                }
                InitOptions opts;
                opts.intermediate = a->intermediate;
                opts.ca.subject = default_ca_subject(a->intermediate);
                if (!a->name.empty()) {
                    opts.ca.subject = DistinguishedName{.common_name = a->name};
                    // The root above an intermediate: the library's default, "<name> Root".
                } else if (a->intermediate) {
                    CaOptions root;
                    root.subject = default_ca_subject(false);
                    root.key_type = parse_key_type(a->key);
                    opts.root = root;
                }
                opts.ca.key_type = parse_key_type(a->key);
                if (a->days > 0) opts.ca.validity = std::chrono::days(a->days);
                if (a->path_len >= 0) opts.ca.path_len = a->path_len;
                for (const auto& p : a->permit) opts.ca.constraints.permit(p);
                for (const auto& e : a->exclude) opts.ca.constraints.exclude(e);
                std::optional<Secret> pass;
                if (a->encrypt) {
                    pass = read_secret({"MINICA_PASSPHRASE", a->passphrase_file, "--passphrase-file",
                                        "a passphrase for the new CA key"},
                                       true);
                    opts.passphrase = std::string(pass->view());
                }

                std::vector<fs::path> ca_files;
                for (const char* f : {"ca.pem", "ca-key.pem", "chain.pem", "root.pem", "root-key.pem", "policy.json",
                                      "inventory.db", "inventory.db-wal", "inventory.db-shm"})
                    ca_files.push_back(dir / f);
                RemoveOnSignal on_signal(first_missing(dir), ca_files);
                // After arming: once the line shows, an interrupt cleans up.
                say_generating(opts, g.quiet);
                CaDirectory ca = on_signal.run([&] { return CaDirectory::init(dir, opts); });
                if (opts.passphrase) OPENSSL_cleanse(opts.passphrase->data(), opts.passphrase->size());

                Certificate cert = Certificate::load(ca.cert_path());
                std::cout << "Created " << (a->intermediate ? "a root CA and an intermediate CA" : "a root CA") << " "
                          << quote(cert.subject()) << " (" << cert.key_name() << ") in " << dir.string() << "\n";
                std::vector<OutFile> files;
                if (a->intermediate) {
                    files.push_back({ca.root_path(), {}, 0644, "root certificate"});
                    files.push_back({ca.root_key_path(), {}, 0400, "root key"});
                    files.push_back({ca.chain_path(), {}, 0644, "chain"});
                }
                files.push_back({ca.cert_path(), {}, 0644, a->intermediate ? "issuing CA" : "certificate"});
                files.push_back({ca.key_path(), {}, 0400, a->encrypt ? "key (encrypted)" : "key"});
                files.push_back({ca.policy_path(), {}, 0644, "policy"});
                files.push_back({ca.inventory_path(), {}, 0600, "inventory"});
                print_files(files);
                if (!cert.name_constraints().empty())
                    std::cout << "  name constraints: " << join(a->permit.empty() ? std::vector<std::string>{"(any)"} : a->permit)
                              << (a->exclude.empty() ? "" : "; excluded: " + join(a->exclude)) << "\n";
                std::cout << "Expires " << describe_expiry(cert.not_after()) << "\n"
                          << "Trust " << ca.trust_anchor_path().string() << " to accept what this CA issues.\n";
            }};
}

}  // namespace minica::cli
