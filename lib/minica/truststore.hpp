// Trust stores: installing a CA's trust anchor where the machine's clients
// look for it (`minica trust`), like mkcert -install, one backend per store:
//
//   system  Debian/Ubuntu: /usr/local/share/ca-certificates/<name>.crt and
//           update-ca-certificates (it reads only *.crt names without spaces);
//           Fedora/RHEL: /etc/pki/ca-trust/source/anchors/<name>.pem and
//           update-ca-trust extract; Arch (p11-kit):
//           /etc/ca-certificates/trust-source/anchors/<name>.crt and
//           trust extract-compat. Which one: the first whose anchors
//           directory exists.
//   nss     Chromium's shared database ~/.pki/nssdb (created when absent, as
//           Chromium would) and every Firefox profile's cert9.db, through
//           certutil (libnss3-tools), under the nickname "<id> <CN>".
//   java    the JDK's cacerts through keytool, under the alias <name>
//           only (on Debian, ca-certificates-java also copies the system store
//           there).
//
// <id> is "minica-" + the first 16 hex digits of the anchor's SHA-256
// fingerprint; <name> is <id> + "-" + the CN in lower case with runs of
// anything but letters and digits as one '-' ("minica-0123456789abcdef-
// minica-root-ca"): it says which CA it is (fingerprint and subject), is a
// valid file name (no spaces: update-ca-certificates) and keytool alias, and
// is what uninstall removes (exactly what install added, nothing else).
// External programs run through a Runner, so tests can fake them.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"

namespace minica {

struct TrustAnchor {
    Certificate certificate;
    std::string id;        // "minica-0123456789abcdef"
    std::string name;      // "minica-0123456789abcdef-minica-root-ca": file name and Java alias
    std::string nickname;  // "minica-0123456789abcdef <CN>" (NSS; ':' becomes '_')
    static TrustAnchor of(const Certificate& certificate);
};

// One run of an external program. `found` is false when it is not on PATH
// (exit_code is then 127).
struct CommandResult {
    bool found = true;
    int exit_code = 0;
    std::string output;  // stdout and stderr together
};
// Runs argv (argv[0] looked up in PATH) with `input` on its standard input.
using Runner = std::function<CommandResult(const std::vector<std::string>& argv, std::string_view input)>;
CommandResult run_command(const std::vector<std::string>& argv, std::string_view input = {});

enum class TrustAction { install, uninstall, status };
inline constexpr TrustAction all_trust_actions[] = {TrustAction::install, TrustAction::uninstall, TrustAction::status};
const char* to_string(TrustAction action) noexcept;
TrustAction parse_trust_action(std::string_view name);  // Error(invalid_argument)
enum class TrustStoreKind { system, nss, java };
inline constexpr TrustStoreKind all_trust_stores[] = {TrustStoreKind::system, TrustStoreKind::nss,
                                                     TrustStoreKind::java};
const char* to_string(TrustStoreKind kind) noexcept;
TrustStoreKind parse_trust_store(std::string_view name);  // Error(invalid_argument)

struct TrustRequest {
    TrustAction action = TrustAction::status;
    // The stores asked for; empty: every store found on the machine.
    std::vector<TrustStoreKind> stores;
    bool dry_run = false;            // say what would change, change nothing
    std::filesystem::path home;      // where ~/.pki/nssdb and ~/.mozilla are
    std::filesystem::path root = "/";  // the system store's file system root (tests)
    Runner run = run_command;
};

enum class TrustState {
    installed,       // install added it
    unchanged,       // install found it there already
    removed,         // uninstall removed it
    present,         // status: the store trusts it
    absent,          // status: it does not; uninstall: nothing to remove
    would_install,   // dry run
    would_remove,    // dry run
    skipped,         // the store is not on this machine (detail says why and how)
    failed,          // detail says why; nothing was left half done
};
const char* to_string(TrustState state) noexcept;

struct TrustStep {
    TrustStoreKind store;
    std::string location;  // "/usr/local/share/ca-certificates/<id>.crt", "sql:/home/u/.pki/nssdb", ...
    TrustState state;
    std::string detail;      // the reason of skipped/failed
    bool needs_root = false;  // failed or skipped for want of permission: run it as root
};

struct TrustResult {
    std::vector<TrustStep> steps;
    // Each store asked for explicitly succeeded; with the default, each store
    // found succeeded or was skipped (with its reason). For status: in
    // addition, every store that answered trusts the anchor.
    bool ok = true;
};

// Installs, removes or looks up the anchor in each store. A store whose
// tool is missing is skipped with the package that provides it; one that
// needs root and lacks it is refused before anything is changed in it.
TrustResult trust(const TrustAnchor& anchor, const TrustRequest& request);

}  // namespace minica
