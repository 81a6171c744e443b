// Shared pieces of the minica CLI: the CA directory, passphrases, writing a
// set of files all-or-nothing, and how results are shown. Each verb lives in
// its own file (init.cpp, sign.cpp, ...) and registers itself with add_<verb>.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/key.hpp"
#include "minica/names.hpp"
#include "minica/ca_directory.hpp"
#include "minica/files.hpp"
#include "minica/text.hpp"

namespace minica::cli {

namespace fs = std::filesystem;

// Options every verb sees (set before the verb runs).
struct Globals {
    std::string ca_dir;  // --ca-dir
    bool verbose = false;
    bool quiet = false;
    // --ca-dir, else $MINICA_CA_DIR, else $XDG_DATA_HOME/minica, else ~/.local/share/minica.
    fs::path resolved_ca_dir() const;
    // Neither --ca-dir nor $MINICA_CA_DIR: the one place sign creates a CA
    // on first use. A directory someone named may be a typo (./caa), and a
    // CA made there would issue from a root nobody trusts.
    bool default_ca_dir() const;
};

// A verb: its subcommand, and what runs when it was chosen. Throws
// minica::Error to fail (main prints it and exits 1).
struct Verb {
    CLI::App* command;
    std::function<void()> run;
};

Verb add_init(CLI::App& app, const Globals& g);
Verb add_sign(CLI::App& app, const Globals& g);
Verb add_csr(CLI::App& app, const Globals& g);
Verb add_inspect(CLI::App& app, const Globals& g);
Verb add_verify(CLI::App& app, const Globals& g);
Verb add_export(CLI::App& app, const Globals& g);
Verb add_list(CLI::App& app, const Globals& g);
Verb add_revoke(CLI::App& app, const Globals& g);
Verb add_crl(CLI::App& app, const Globals& g);
Verb add_renew(CLI::App& app, const Globals& g);
Verb add_trust(CLI::App& app, const Globals& g);
Verb add_serve(CLI::App& app, const Globals& g);
Verb add_eab(CLI::App& app, const Globals& g);

// ---- the command line ------------------------------------------------------------
// `minica help [VERB]` rewritten as `minica [VERB] --help` (git's `help`), so
// that CLI11 prints either; other command lines unchanged. `verb` is
// verb_on_command_line's answer, a view into argv. Null-terminated.
std::vector<char*> help_as_flag(int argc, char** argv, std::string_view verb);
// The name in `names` nearest `typed` (edit distance at most 2, and less
// than typed's length), or "" (git's "did you mean").
std::string_view nearest_name(std::string_view typed, const std::vector<std::string_view>& names);
// " (if -foo is a name, put -- before it)" when a CLI11 message refuses an
// argument of argv that starts with one '-', else "".
std::string dash_hint(const std::string& message, int argc, char** argv);
// -q: the verbs print their output on stdout, which goes to /dev/null;
// errors and warnings go to stderr and stay.
void silence_stdout();

// Usage errors found after parsing (conflicting flags CLI11 cannot express):
// main exits 2, as for any CLI11 parse error.
struct UsageError : CLI::ParseError {
    explicit UsageError(const std::string& msg) : CLI::ParseError("UsageError", msg, 2) {}
};

// ---- secrets -------------------------------------------------------------------
// A passphrase, wiped from memory when it goes.
class Secret {
public:
    Secret() = default;
    explicit Secret(std::string v) : value_(std::move(v)) {}
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    Secret(Secret&& o) noexcept : value_(std::move(o.value_)) {}
    Secret& operator=(Secret&& o) noexcept;
    ~Secret();
    std::string_view view() const noexcept { return value_; }

private:
    std::string value_;
};

// Where a passphrase comes from, first match wins: the file named by a flag
// (first line), the environment variable, a no-echo prompt when stdin is a
// terminal. No source at all is Error(passphrase) naming the three; an empty
// passphrase is refused. `confirm` asks twice on a terminal (new secrets).
struct SecretSource {
    const char* env;        // "MINICA_PASSPHRASE"
    std::string file;       // --passphrase-file (may be empty)
    const char* file_flag;  // "--passphrase-file", for the error message
    std::string what;       // "the CA key passphrase", for prompts and errors
};
Secret read_secret(const SecretSource& src, bool confirm);

// The CA key passphrase when ca-key.pem is encrypted (nullopt otherwise).
// A passphrase file given for an unencrypted key is ignored with a note.
std::optional<Secret> ca_passphrase(const CaDirectory& ca, const std::string& passphrase_file);
inline std::optional<std::string_view> view(const std::optional<Secret>& s) {
    return s ? std::optional<std::string_view>(s->view()) : std::nullopt;
}

// ---- files ---------------------------------------------------------------------
struct OutFile {
    fs::path path;
    std::string content;
    unsigned mode;
    std::string label;  // "certificate", "key", ... for the summary
};

// check_writable for the files (before any work).
void preflight(const std::vector<OutFile>& files, bool force);
// write_files_atomic: all of them, or none.
void write_all(const std::vector<OutFile>& files, bool force);

// ---- the CA --------------------------------------------------------------------
// The options of the CA sign creates on first use (as mkcert does).
InitOptions default_init_options();
// The default CA subject: "minica root CA" (or "minica intermediate CA"),
// O=minica, OU=user@host.
DistinguishedName default_ca_subject(bool intermediate);
// Asks for the CA key passphrase when the library needs it (ca_passphrase()'s sources).
// The CA key passphrase from ca_passphrase()'s sources, for the library to
// ask when ca-key.pem is encrypted (a file given for a plain key is ignored).
std::function<std::string()> ca_passphrase_source(const fs::path& ca_dir, const std::string& passphrase_file);

// ---- options --------------------------------------------------------------------
// The names of one of the library's tables (all_key_types, leaf_profiles,
// all_revocation_reasons), as CLI11 choices: never a re-typed list.
template <class Table> std::vector<std::string> choices(const Table& table) {
    std::vector<std::string> out;
    for (auto v : table) out.emplace_back(to_string(v));
    return out;
}
// --key TYPE (the library's key types), default ec-p256.
CLI::Option* add_key_option(CLI::App* cmd, std::string& key, const std::string& what);
// --server | --client | --both | --email (mutually exclusive; none: the
// library's default_profile, email for email addresses only, else server).
struct ProfileFlags {
    bool server = false, client = false, both = false, email = false;
};
void add_profile_flags(CLI::App* cmd, ProfileFlags& flags);
std::optional<Profile> profile_of(const ProfileFlags& flags);
// --days N for a leaf (default: 397, or the policy's maximum if lower).
void add_days_option(CLI::App* cmd, int& days);

// ---- output --------------------------------------------------------------------
// "an ed25519", "an rsa-2048", "a server": the article English gives the word
// (key type names are read letter by letter: an R-S-A key).
std::string with_article(std::string_view word);
// "2027-06-03T10:00:00Z (in 397 days)" / "(expired 3 days ago)"
std::string describe_expiry(Time t);
// Prints the files written, aligned: "  certificate  ./a.test/cert.pem".
void print_files(const std::vector<OutFile>& files);
void print_files(const std::vector<WrittenFile>& files);

}  // namespace minica::cli
