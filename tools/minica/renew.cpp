// minica renew: a new certificate with the same names, profile and key type
// as an issued one (a new key unless --reuse-key): CaDirectory::renew.
#include <sys/stat.h>

#include <iostream>

#include "cli.hpp"

namespace minica::cli {

namespace {
struct RenewArgs {
    std::string cert, out, passphrase_file;
    int days = 0;
    bool reuse_key = false, force = false;
};
}  // namespace

Verb add_renew(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<RenewArgs>();
    CLI::App* cmd = app.add_subcommand("renew", "issue a new certificate with the names, profile and key type of CERT");
    cmd->add_option("cert", a->cert, "the certificate to renew (cert.pem written by sign)")->required();
    add_days_option(cmd, a->days);
    cmd->add_flag("--reuse-key", a->reuse_key, "keep the key (key.pem next to CERT) instead of making a new one");
    cmd->add_option("--out", a->out, "write into DIR/<name>/ instead of replacing the files next to CERT");
    cmd->add_flag("--force", a->force, "replace the files next to CERT (or in --out)");
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");

    return {cmd, [a, &g] {
                fs::path dir = g.resolved_ca_dir();
                RenewRequest req{.certificate = a->cert, .reuse_key = a->reuse_key, .overwrite = a->force,
                                 .ca_passphrase = ca_passphrase_source(dir, a->passphrase_file)};
                if (a->days > 0) req.validity = std::chrono::days(a->days);
                if (!a->out.empty()) req.out = a->out;
                Renewed r = CaDirectory::open(dir).renew(req);
                const Certificate& cert = r.issued.certificate;
                std::cout << "Renewed " << r.old.serial_hex() << " as " << with_article(usage_of(r.profile).description)
                          << " certificate for "
                          << cert.names().to_string() << (a->reuse_key ? " (same key)" : " (new key)") << "\n";
                print_files(r.issued.files);
                std::cout << "  serial " << cert.serial_hex() << " (" << cert.key_name() << ")\n"
                          << "Expires " << describe_expiry(cert.not_after()) << "\n";
                fs::path p12 = r.issued.files.front().path.parent_path() / "cert.p12";
                struct stat st;
                if (a->out.empty() && ::stat(p12.c_str(), &st) == 0)
                    std::cout << "Note: " << p12.string() << " still holds the old certificate (minica export "
                              << p12.parent_path().string() << " --p12 FILE)\n";
                std::cout << "The old certificate stays valid until " << format_time(r.old.not_after())
                          << " (minica revoke " << r.old.serial_hex() << " --reason superseded)\n";
            }};
}

}  // namespace minica::cli
