// minica revoke: record a revocation in the inventory (by serial or by
// certificate file, CaDirectory::revoke); `minica crl` then publishes it.
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
                const fs::path dir = g.resolved_ca_dir();
                CaDirectory ca = CaDirectory::open(dir);
                std::variant<std::string, Certificate> target = a->target;
                struct stat st;
                if (::stat(a->target.c_str(), &st) == 0)
                    target = Certificate::load(a->target);
                else if (a->target.find_first_of("/.") != std::string::npos)
                    // A serial is hex digits (and colons): this was meant as a file.
                    throw Error(ErrorKind::not_found, "revoking " + a->target + ": no such file");
                InventoryRecord r;
                try {
                    r = ca.revoke(target, reason, ca_passphrase_source(dir, a->passphrase_file));
                } catch (const Error& e) {
                    throw Error(e.kind(), "revoking " + a->target + ": " + e.what(), e.openssl_queue());
                }
                std::cout << "Revoked " << r.serial_hex << " (" << (r.names.empty() ? quote(r.subject) : join(r.names)) << ") on "
                          << format_time(r.revoked_at.value_or(now())) << ", reason " << to_string(reason) << "\n";
                if (r.profile == Profile::ca)
                    std::cout << "This CA issues nothing more under this intermediate. Publish it on the root's "
                                 "CRL (root-crl.pem) with: minica crl\n";
                else
                    std::cout << "Publish it with: minica crl\n";
            }};
}

}  // namespace minica::cli
