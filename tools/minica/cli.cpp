// Shared pieces of the minica CLI (see cli.hpp).
#include "cli.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <system_error>
#include <thread>
#include <utility>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "minica/error.hpp"
#include "minica/log.hpp"

namespace minica::cli {

// ---- the CA directory ----------------------------------------------------------

fs::path Globals::resolved_ca_dir() const {
    if (!ca_dir.empty()) return ca_dir;
    if (const char* d = std::getenv("MINICA_CA_DIR"); d != nullptr && *d != '\0') return d;
    // XDG base directories: a relative $XDG_DATA_HOME is invalid and ignored.
    if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && *x == '/') return fs::path(x) / "minica";
    const char* home = std::getenv("HOME");
    if (home == nullptr || *home == '\0') {
        if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr) home = pw->pw_dir;
    }
    if (home == nullptr || *home == '\0')
        throw Error(ErrorKind::invalid_argument,
                    "finding the CA directory: no --ca-dir, $MINICA_CA_DIR, $XDG_DATA_HOME or $HOME");
    return fs::path(home) / ".local" / "share" / "minica";
}

bool Globals::default_ca_dir() const {
    const char* d = std::getenv("MINICA_CA_DIR");
    return ca_dir.empty() && (d == nullptr || *d == '\0');
}

// ---- the command line ------------------------------------------------------------

std::vector<char*> help_as_flag(int argc, char** argv, std::string_view verb) {
    static char help[] = "--help";
    std::vector<char*> args(argv, argv + argc);
    if (verb == "help") {
        std::erase_if(args, [&](const char* a) { return a == verb.data(); });
        args.push_back(help);  // after the verb asked about, if any
    }
    args.push_back(nullptr);
    return args;
}

namespace {
// Levenshtein distance, two rows.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}
}  // namespace

std::string_view nearest_name(std::string_view typed, const std::vector<std::string_view>& names) {
    std::string_view best;
    std::size_t best_distance = std::min<std::size_t>(3, typed.size());
    for (std::string_view n : names)
        if (std::size_t d = edit_distance(typed, n); d < best_distance) {
            best = n;
            best_distance = d;
        }
    return best;
}

std::string dash_hint(const std::string& message, int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--") break;  // what follows is a name already
        // One dash: a name like -foo read as flags (a --long one is no name anyone means).
        if (arg.size() > 1 && arg[0] == '-' && arg[1] != '-' && message.find(arg) != std::string::npos)
            return " (if " + std::string(arg) + " is a name, put -- before it)";
    }
    return {};
}

void silence_stdout() {
    std::fflush(stdout);
    int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::dup2(fd, STDOUT_FILENO);
    ::close(fd);
}

// ---- secrets -------------------------------------------------------------------

Secret& Secret::operator=(Secret&& o) noexcept {
    if (this != &o) {
        OPENSSL_cleanse(value_.data(), value_.size());
        value_ = std::move(o.value_);
    }
    return *this;
}
Secret::~Secret() { OPENSSL_cleanse(value_.data(), value_.size()); }

namespace {

// Reads one line from the terminal on stdin with echo off.
// The terminal settings to put back if Ctrl-C arrives while echo is off.
termios saved_termios;
volatile sig_atomic_t termios_saved = 0;
extern "C" void restore_terminal_and_die(int sig) {
    if (termios_saved) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

std::string prompt_line(const std::string& prompt) {
    // Echo off before the prompt shows, and TCSANOW (not TCSAFLUSH): an
    // answer typed as soon as the prompt appears is neither echoed nor lost.
    termios old{};
    bool restore = ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
        saved_termios = old;
        termios_saved = 1;
        ::signal(SIGINT, restore_terminal_and_die);
        ::signal(SIGTERM, restore_terminal_and_die);
        ::signal(SIGHUP, restore_terminal_and_die);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::cerr << prompt << std::flush;
    std::string line;
    char c;
    bool got_eof = false;
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            got_eof = true;
            break;
        }
        if (c == '\n') break;
        line.push_back(c);
    }
    if (restore) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
        termios_saved = 0;
    }
    if (got_eof && line.empty()) throw Error(ErrorKind::passphrase, "reading a passphrase: end of input");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

Secret read_secret(const SecretSource& src, bool confirm) {
    if (!src.file.empty()) {
        std::string text = read_file(src.file);
        std::string line = text.substr(0, text.find('\n'));
        OPENSSL_cleanse(text.data(), text.size());
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty())
            throw Error(ErrorKind::passphrase, "reading " + src.what + " from " + src.file + ": the first line is empty");
        return Secret(std::move(line));
    }
    if (const char* e = std::getenv(src.env); e != nullptr) {
        if (*e == '\0') throw Error(ErrorKind::passphrase, src.what + ": $" + src.env + " is set but empty");
        return Secret(e);
    }
    if (::isatty(STDIN_FILENO) != 1)
        throw Error(ErrorKind::passphrase, src.what + " is needed: set $" + src.env + ", pass " + src.file_flag +
                                               " FILE, or run on a terminal to be prompted");
    Secret first(prompt_line("Enter " + src.what + ": "));
    if (first.view().empty()) throw Error(ErrorKind::passphrase, src.what + ": an empty passphrase is not allowed");
    if (confirm) {
        Secret again(prompt_line("Enter " + src.what + " again: "));
        if (again.view() != first.view()) throw Error(ErrorKind::passphrase, src.what + ": the two entries differ");
    }
    return first;
}

std::function<std::string()> ca_passphrase_source(const fs::path& ca_dir, const std::string& passphrase_file) {
    return [passphrase_file, what = "the passphrase of " + (ca_dir / "ca-key.pem").string()] {
        return std::string(read_secret({"MINICA_PASSPHRASE", passphrase_file, "--passphrase-file", what}, false).view());
    };
}

std::optional<Secret> ca_passphrase(const CaDirectory& ca, const std::string& passphrase_file) {
    if (!ca.key_encrypted()) {
        if (!passphrase_file.empty())
            logger()->info("{} is not encrypted; ignoring --passphrase-file", ca.key_path().string());
        return std::nullopt;
    }
    return read_secret({"MINICA_PASSPHRASE", passphrase_file, "--passphrase-file",
                        "the passphrase of " + ca.key_path().string()},
                       false);
}

// ---- files ---------------------------------------------------------------------

void preflight(const std::vector<OutFile>& files, bool force) {
    std::vector<fs::path> paths;
    for (const auto& f : files) paths.push_back(f.path);
    check_writable(paths, force);
}

void write_all(const std::vector<OutFile>& files, bool force) {
    std::vector<FileToWrite> out;
    for (const auto& f : files) out.push_back({f.path, f.content, f.mode});
    write_files_atomic(out, force);
}

// ---- the CA ----------------------------------------------------------------------

InitOptions default_init_options() {
    InitOptions opts;
    opts.ca.subject = default_ca_subject(false);
    return opts;
}

DistinguishedName default_ca_subject(bool intermediate) {
    // Which person and machine made it, as mkcert does: two people's dev CAs
    // never share a subject, so trust stores and chain builders cannot mix them up.
    DistinguishedName dn;
    dn.common_name = intermediate ? "minica intermediate CA" : "minica root CA";
    dn.organization = "minica";
    std::string who;
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr) who = pw->pw_name;
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') who += std::string(who.empty() ? "" : "@") + host;
    if (who.size() > 64) who.resize(64);
    dn.organizational_unit = who;
    return dn;
}

// ---- options --------------------------------------------------------------------

CLI::Option* add_key_option(CLI::App* cmd, std::string& key, const std::string& what) {
    return cmd->add_option("--key", key, what + " (default ec-p256)")->check(CLI::IsMember(choices(all_key_types)));
}

void add_profile_flags(CLI::App* cmd, ProfileFlags& f) {
    auto* s = cmd->add_flag("--server", f.server, "TLS server certificate (EKU serverAuth; the default)");
    auto* c = cmd->add_flag("--client", f.client, "TLS client certificate (EKU clientAuth)");
    auto* b = cmd->add_flag("--both", f.both, "both serverAuth and clientAuth");
    auto* e = cmd->add_flag("--email", f.email,
                            "email (S/MIME) and TLS client certificate (EKU emailProtection and clientAuth; the "
                            "default when every name is an email address)");
    s->excludes(c, b, e);
    c->excludes(s, b, e);
    b->excludes(s, c, e);
    e->excludes(s, c, b);
}

std::optional<Profile> profile_of(const ProfileFlags& f) {
    if (f.server) return Profile::server;
    if (f.client) return Profile::client;
    if (f.both) return Profile::both;
    if (f.email) return Profile::email;
    return std::nullopt;
}

void add_days_option(CLI::App* cmd, int& days) {
    cmd->add_option("--days", days, "validity in days (default: 397, or the policy's maximum if lower)")
        ->check(CLI::Range(1, 36500));
}

// ---- output --------------------------------------------------------------------

std::string describe_expiry(Time t) {
    using namespace std::chrono;
    auto left = duration_cast<minutes>(t - now()).count();
    std::string out = format_time(t);
    // Rounded to the nearest day: a 397-day certificate reads "in 397 days".
    if (left >= 48 * 60) out += " (in " + std::to_string((left + 12 * 60) / (24 * 60)) + " days)";
    else if (left >= 0) out += " (in " + std::to_string(left / 60) + " hours)";
    else out += " (expired " + std::to_string(-left / (24 * 60)) + " days ago)";
    return out;
}


std::string with_article(std::string_view word) {
    const bool an = !word.empty() && std::string_view("aeiouAEIOU").find(word[0]) != std::string_view::npos;
    const bool letters = word.starts_with("rsa") || word.starts_with("RSA");
    return std::string(an || letters ? "an " : "a ") + std::string(word);
}

namespace {
template <class Files> void print_aligned(const Files& files) {
    std::size_t width = 0;
    for (const auto& f : files) width = std::max(width, f.label.size());
    for (const auto& f : files)
        std::printf("  %-*s  %s\n", static_cast<int>(width), f.label.c_str(), f.path.c_str());
}
}  // namespace

void print_files(const std::vector<OutFile>& files) { print_aligned(files); }
void print_files(const std::vector<WrittenFile>& files) { print_aligned(files); }

}  // namespace minica::cli
