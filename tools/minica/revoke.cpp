// minica revoke: record a revocation in the inventory (by serial or by
// certificate file); `minica crl` then publishes it.
#include <iostream>

#include <sys/stat.h>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"

namespace minica::cli {

namespace {
struct RevokeArgs {
    std::string target;
    std::string reason = "unspecified";
    std::string passphrase_file;
};
}  // namespace

Verb add_revoke(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<RevokeArgs>();
    CLI::App* cmd = app.add_subcommand("revoke", "revoke a certificate, by SERIAL (hex) or CERT file");
    cmd->add_option("target", a->target, "serial number (hex, colons allowed) or certificate file")->required();
    cmd->add_option("--reason", a->reason, "CRL reason (default unspecified)")
        ->check(CLI::IsMember(choices(all_revocation_reasons)));
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");

    return {cmd, [a, &g] {
                RevocationReason reason = parse_revocation_reason(a->reason);
                CaDirectory ca = CaDirectory::open(g.resolved_ca_dir());
                struct stat st;
                std::optional<Certificate> cert;
                std::string serial;
                if (::stat(a->target.c_str(), &st) == 0) {
                    cert = Certificate::load(a->target);
                    serial = cert->serial_hex();
                } else if (a->target.find_first_of("/.") != std::string::npos) {
                    // A serial is hex digits (and colons): this was meant as a file.
                    throw Error(ErrorKind::not_found, "revoking " + a->target + ": no such file");
                } else {
                    serial = normalize_serial_hex(a->target);
                }
                // Revoking is the CA operator's act: prove it with the CA key.
                auto pass = ca_passphrase(ca, a->passphrase_file);
                Authority authority = ca.authority(view(pass));
                if (cert) {
                    bool ours = cert->signed_by(authority.certificate());
                    for (const auto& p : authority.parents()) ours = ours || cert->signed_by(p);
                    if (!ours)
                        throw Error(ErrorKind::not_found, "revoking " + a->target + ": not issued by the CA in " +
                                                              ca.path().string());
                }
                InventoryRecord r = ca.inventory().revoke(serial, reason);
                std::cout << "Revoked " << r.serial_hex << " (" << join(r.names) << ") on "
                          << format_time(r.revoked_at.value_or(now())) << ", reason " << to_string(reason) << "\n"
                          << "Publish it with: minica crl\n";
            }};
}

}  // namespace minica::cli
