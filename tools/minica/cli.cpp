// Shared pieces of the minica CLI (see cli.hpp).
#include "cli.hpp"

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

namespace {

fs::path parent_of(const fs::path& p) {
    fs::path d = p.parent_path();
    return d.empty() ? fs::path(".") : d;
}

// The nearest ancestor of `dir` that exists (`dir` itself if it does) must be
// a directory we may write into.
void check_dir_writable(const fs::path& dir, const fs::path& for_file) {
    fs::path p = dir;
    for (;;) {
        struct stat st;
        if (::stat(p.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                throw Error(ErrorKind::io, "writing " + for_file.string() + ": " + p.string() + " is not a directory");
            if (::access(p.c_str(), W_OK | X_OK) != 0)
                throw Error(ErrorKind::io, "writing " + for_file.string() + ": " + p.string() + ": " +
                                               std::generic_category().message(errno));
            return;
        }
        int err = errno;
        if (err != ENOENT && err != ENOTDIR)  // ENOTDIR: an ancestor is a file; found going up
            throw Error(ErrorKind::io,
                        "writing " + for_file.string() + ": " + p.string() + ": " + std::generic_category().message(err));
        fs::path up = p.parent_path();
        if (up.empty()) up = ".";
        if (up == p) return;
        p = up;
    }
}

}  // namespace

void preflight(const std::vector<OutFile>& files, bool force) {
    std::vector<std::string> in_the_way;
    for (const auto& f : files) {
        struct stat st;
        if (::lstat(f.path.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) throw Error(ErrorKind::exists, f.path.string() + " is a directory");
            if (!force) in_the_way.push_back(f.path.string());
        }
    }
    if (!in_the_way.empty())
        throw Error(ErrorKind::exists, join(in_the_way) + (in_the_way.size() == 1 ? " already exists" : " already exist") +
                                           " (nothing was written; --force replaces)");
    for (const auto& f : files) check_dir_writable(parent_of(f.path), f.path);
}



std::vector<FileToWrite> to_write(const std::vector<OutFile>& files) {
    std::vector<FileToWrite> out;
    out.reserve(files.size());
    for (const auto& f : files) out.push_back({f.path, f.content, f.mode});
    return out;
}

void write_all(const std::vector<OutFile>& files, bool force) {
    preflight(files, force);
    StagedFiles staged(to_write(files), force, true);
    staged.publish();
}

void beside(const std::function<void()>& side, const std::function<void()>& here) {
    std::exception_ptr side_failed, here_failed;
    {
        std::jthread t;
        try {
            t = std::jthread([&] {
                try {
                    side();
                } catch (...) {
                    side_failed = std::current_exception();
                }
            });
        } catch (const std::system_error&) {
            try {
                side();
            } catch (...) {
                side_failed = std::current_exception();
            }
        }
        try {
            here();
        } catch (...) {
            here_failed = std::current_exception();
        }
    }  // joined
    if (side_failed) std::rethrow_exception(side_failed);
    if (here_failed) std::rethrow_exception(here_failed);
}

std::string leaf_dir_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '*') out += "_wildcard";
        else if (c == ':' || c == '/' || c == '\\') out += '_';
        else out += c;
    }
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

// ---- issuing -------------------------------------------------------------------

void check_constraints(const Authority& ca, const SubjectAltNames& names) {
    if (auto nc = ca.certificate().name_constraints(); !nc.empty()) nc.check(names);
    for (const auto& p : ca.parents())
        if (auto nc = p.name_constraints(); !nc.empty()) nc.check(names);
}

Certificate sign_leaf(const Authority& ca, const SubjectAltNames& names, Profile profile, KeyType key_type,
                      std::string_view spki_der, std::chrono::days validity, const std::string& serial) {
    CertificateTemplate t;
    t.serial = serial;
    // CN = the primary name when it fits RFC 5280's 64 characters; otherwise an
    // empty subject and a critical SAN (what Authority::issue does).
    if (std::string primary = names.primary(); primary.size() <= 64) t.subject.common_name = primary;
    Time t0 = now();
    t.not_before = t0 - backdate;
    t.not_after = t0 + validity;
    if (Time ca_end = ca.certificate().not_after(); t.not_after > ca_end) {
        logger()->warn("the certificate's validity is shortened to end with the CA's, on {}", format_time(ca_end));
        t.not_after = ca_end;
    }
    // keyEncipherment only for RSA: ECDSA/EdDSA keys cannot encipher (RFC 8813).
    t.key_usage = ku_digital_signature;
    if (key_type == KeyType::rsa_2048 || key_type == KeyType::rsa_3072 || key_type == KeyType::rsa_4096)
        t.key_usage |= ku_key_encipherment;
    t.eku_server = profile != Profile::client;
    t.eku_client = profile != Profile::server;
    t.names = names;
    return ca.sign_template(t, spki_der);
}

CaDirectory open_or_create_ca(const fs::path& dir, bool& created) {
    // The common case first: the CA exists (no user database lookup for a subject).
    if (::access((dir / "ca.pem").c_str(), F_OK) == 0) {
        created = false;
        return CaDirectory::open(dir);
    }
    InitOptions opts;
    opts.ca.subject = default_ca_subject(false);
    return CaDirectory::open_or_init(dir, opts, created);
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

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) out += sep;
        out += i;
    }
    return out;
}

std::string describe_names(const SubjectAltNames& names) {
    std::vector<std::string> parts;
    for (const auto& d : names.dns) parts.push_back("DNS:" + d);
    for (const auto& i : names.ip) parts.push_back("IP:" + i.to_string());
    for (const auto& e : names.email) parts.push_back("email:" + e);
    for (const auto& u : names.uri) parts.push_back("URI:" + u);
    return join(parts);
}

void print_files(const std::vector<OutFile>& files) {
    std::size_t width = 0;
    for (const auto& f : files) width = std::max(width, f.label.size());
    for (const auto& f : files)
        std::printf("  %-*s  %s\n", static_cast<int>(width), f.label.c_str(), f.path.c_str());
}

}  // namespace minica::cli
