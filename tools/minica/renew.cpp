// minica renew: a new certificate with the same names, profile and key type
// as an issued one (a new key unless --reuse-key), recorded in the inventory.
#include <algorithm>
#include <iostream>

#include <sys/stat.h>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/policy.hpp"

namespace minica::cli {

namespace {
struct RenewArgs {
    std::string cert;
    int days = 0;
    bool reuse_key = false;
    std::string out;
    bool force = false;
    std::string passphrase_file;
};
}  // namespace

Verb add_renew(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<RenewArgs>();
    CLI::App* cmd = app.add_subcommand("renew", "issue a new certificate with the names, profile and key type of CERT");
    cmd->add_option("cert", a->cert, "the certificate to renew (cert.pem written by sign)")->required();
    cmd->add_option("--days", a->days, "validity in days (default: 397, or the policy's maximum if lower)")
        ->check(CLI::Range(1, 36500));
    cmd->add_flag("--reuse-key", a->reuse_key, "keep the key (key.pem next to CERT) instead of making a new one");
    cmd->add_option("--out", a->out, "write into DIR/<name>/ instead of replacing the files next to CERT");
    cmd->add_flag("--force", a->force, "replace the files next to CERT (or in --out)");
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");

    return {cmd, [a, &g] {
                fs::path old_file = a->cert;
                fs::path old_dir = old_file.parent_path().empty() ? fs::path(".") : old_file.parent_path();
                Certificate old = Certificate::load(old_file);
                if (old.is_ca())
                    throw Error(ErrorKind::invalid_argument,
                                "renewing " + a->cert + ": it is a CA certificate (renew renews leaves; minica init makes CAs)");
                SubjectAltNames names = old.names();
                if (names.empty())
                    throw Error(ErrorKind::invalid_argument, "renewing " + a->cert + ": it has no subject alternative names");
                KeyType kt = parse_key_type(old.key_type());
                std::optional<PrivateKey> reused;
                if (a->reuse_key) {
                    reused = PrivateKey::load(old_dir / "key.pem");
                    if (!old.matches(*reused))
                        throw Error(ErrorKind::invalid_argument,
                                    "renewing " + a->cert + ": " + (old_dir / "key.pem").string() + " is not its key");
                }
                std::string base = old_dir.filename().string();
                if (base.empty() || base == "." || base == "..") base = leaf_dir_name(names.primary());
                fs::path dir = a->out.empty() ? old_dir : fs::path(a->out) / base;
                bool same_dir = a->out.empty();
                std::vector<OutFile> files{{dir / "cert.pem", {}, 0644, "certificate"}};
                if (!(reused && same_dir)) files.push_back({dir / "key.pem", {}, 0600, reused ? "key (same)" : "key"});
                files.push_back({dir / "chain.pem", {}, 0644, "chain"});
                files.push_back({dir / "fullchain.pem", {}, 0644, "full chain"});
                preflight(files, a->force);

                CaDirectory ca = CaDirectory::open(g.resolved_ca_dir());
                Policy policy = ca.policy();
                auto pass = ca_passphrase(ca, a->passphrase_file);
                Authority authority = ca.authority(view(pass));
                if (!old.signed_by(authority.certificate()))
                    throw Error(ErrorKind::not_found, "renewing " + a->cert + ": not issued by the CA in " + ca.path().string());
                // The profile recorded at issue; else what the EKU says.
                Profile profile = Profile::server;
                auto record = ca.inventory().find(old.serial_hex());
                if (record && record->profile != "ca") {
                    profile = parse_profile(record->profile);
                } else {
                    auto eku = old.extended_key_usage();
                    bool s = std::find(eku.begin(), eku.end(), "serverAuth") != eku.end();
                    bool c = std::find(eku.begin(), eku.end(), "clientAuth") != eku.end();
                    profile = s && c ? Profile::both : c ? Profile::client : Profile::server;
                }
                std::chrono::days days =
                    a->days > 0 ? std::chrono::days(a->days) : std::min(default_leaf_validity, policy.max_validity);
                policy.check(names, to_string(kt), profile, days);
                check_constraints(authority, names);

                PrivateKey key = reused ? *reused : PrivateKey::generate(kt);
                std::string spki = key.public_key_der();
                Certificate cert = ca.inventory().issue(to_string(profile), [&](const std::string& serial) {
                    return sign_leaf(authority, names, profile, kt, spki, days, serial);
                });
                std::vector<Certificate> chain = authority.intermediates();
                std::vector<Certificate> full{cert};
                full.insert(full.end(), chain.begin(), chain.end());
                std::size_t i = 0;
                files[i++].content = cert.to_pem();
                if (!(reused && same_dir)) files[i++].content = key.to_pem();
                files[i++].content = to_pem(chain);
                files[i++].content = to_pem(full);
                try {
                    write_all(files, a->force);
                } catch (const Error& e) {
                    throw Error(e.kind(), std::string(e.what()) + " (certificate " + cert.serial_hex() +
                                              " was issued and recorded; minica revoke it if unwanted)",
                                e.openssl_queue());
                }

                std::cout << "Renewed " << old.serial_hex() << " as a " << to_string(profile) << " certificate for "
                          << describe_names(names) << (reused ? " (same key)" : " (new key)") << "\n";
                print_files(files);
                std::cout << "  serial " << cert.serial_hex() << " (" << cert.key_type() << ")\n"
                          << "Expires " << describe_expiry(cert.not_after()) << "\n";
                struct stat st;
                if (same_dir && ::stat((dir / "cert.p12").c_str(), &st) == 0)
                    std::cout << "Note: " << (dir / "cert.p12").string()
                              << " still holds the old certificate (minica export " << dir.string() << " --p12 FILE)\n";
                std::cout << "The old certificate stays valid until " << format_time(old.not_after())
                          << " (minica revoke " << old.serial_hex() << " --reason superseded)\n";
            }};
}

}  // namespace minica::cli
