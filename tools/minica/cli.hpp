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
#include "minica/store.hpp"

namespace minica::cli {

namespace fs = std::filesystem;

// Options every verb sees (set before the verb runs).
struct Globals {
    std::string ca_dir;  // --ca-dir
    bool verbose = false;
    bool quiet = false;
    // --ca-dir, else $MINICA_CA_DIR, else $XDG_DATA_HOME/minica, else ~/.local/share/minica.
    fs::path resolved_ca_dir() const;
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

// Checks, before any work, that every file can be written: none exists
// (unless `force`), and the nearest existing ancestor of each is a writable
// directory. Error(exists) names every file in the way; Error(io) the path
// that cannot be a directory or cannot be written.
void preflight(const std::vector<OutFile>& files, bool force);
// Creates the parent directories (0755, the umask applies), writes every
// file to a temporary beside it (mode set with fchmod, fsynced), then renames
// them all into place (never replacing without `force`) and fsyncs each
// directory once: write_file_atomic's discipline for a group, with one
// directory fsync instead of one per file. On failure, whatever it created
// is removed again.
void write_all(const std::vector<OutFile>& files, bool force);
// The files as the library's StagedFiles takes them (write_all in two steps:
// sign writes and fsyncs them beside the inventory's commit).
std::vector<FileToWrite> to_write(const std::vector<OutFile>& files);
// Runs `side` on a second thread while `here` runs on this one (one after
// the other when no thread can be had): a CLI run is mostly start-up work
// that does not depend on itself, and this machine class has two cores.
// Rethrows the failure the sequential order would have met first: side's,
// then here's.
void beside(const std::function<void()>& side, const std::function<void()>& here);

// The directory name for a leaf: "*" -> "_wildcard", ":" and "/" -> "_".
std::string leaf_dir_name(std::string_view canonical_name);

// ---- issuing -------------------------------------------------------------------
// The leaf template Authority::issue builds (subject from the primary name,
// backdated notBefore, notAfter clamped to the CA's, keyEncipherment only for
// RSA, EKU for the profile), signed with `serial` for the key `spki_der`.
Certificate sign_leaf(const Authority& ca, const SubjectAltNames& names, Profile profile, KeyType key_type,
                      std::string_view spki_der, std::chrono::days validity, const std::string& serial);
// Refuses names outside the name constraints of the CA or its parents,
// before any key is generated.
void check_constraints(const Authority& ca, const SubjectAltNames& names);
// Opens the CA in `dir`, or creates one with default options when there is
// none yet (what sign does, as mkcert and minica do). Sets `created`.
CaDirectory open_or_create_ca(const fs::path& dir, bool& created);
// The default CA subject: "minica root CA" (or "minica intermediate CA"),
// O=minica, OU=user@host.
DistinguishedName default_ca_subject(bool intermediate);

// ---- output --------------------------------------------------------------------
// "2027-06-03T10:00:00Z (in 397 days)" / "(expired 3 days ago)"
std::string describe_expiry(Time t);
std::string quote(std::string_view s);  // "\"s\""
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");
// "DNS:a.test, IP:127.0.0.1, email:x@y, URI:spiffe://..."
std::string describe_names(const SubjectAltNames& names);
// Prints the files written, aligned: "  certificate  ./a.test/cert.pem".
void print_files(const std::vector<OutFile>& files);

}  // namespace minica::cli
