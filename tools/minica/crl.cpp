// minica crl: publish the CA's v2 CRLs from the inventory (CaDirectory::
// publish_crls): the issuing CA's, and for an --intermediate CA the root's,
// which lists the revoked intermediates.
#include <iostream>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"

namespace minica::cli {

namespace {
struct CrlArgs {
    std::string out, root_out, root_key;
    int days = 7;
    std::string passphrase_file;
    bool force = false;
};
}  // namespace

Verb add_crl(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<CrlArgs>();
    CLI::App* cmd = app.add_subcommand("crl", "write the CA's certificate revocation lists");
    cmd->add_option("--out", a->out, "where to write it (default: <ca-dir>/crl.pem)");
    cmd->add_option("--root-out", a->root_out,
                    "with --intermediate: where the root's CRL goes (default: <ca-dir>/root-crl.pem)");
    cmd->add_option("--root-key", a->root_key,
                    "with --intermediate: the root key, when it is not <ca-dir>/root-key.pem");
    cmd->add_option("--days", a->days, "nextUpdate = now + DAYS (default 7)")->check(CLI::Range(1, 3650));
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");
    cmd->add_flag("--force", a->force, "replace FILE even if it is not an earlier CRL of this CA");

    return {cmd, [a, &g] {
                const fs::path dir = g.resolved_ca_dir();
                CaDirectory ca = CaDirectory::open(dir);
                CrlRequest req{.validity = std::chrono::days(a->days), .overwrite = a->force,
                               .ca_passphrase = ca_passphrase_source(dir, a->passphrase_file)};
                if (!a->out.empty()) req.out = a->out;
                if (!a->root_out.empty()) req.root_out = a->root_out;
                if (!a->root_key.empty()) req.root_key = a->root_key;
                PublishedCrls done = ca.publish_crls(req);
                auto say = [](const PublishedCrl& p) {
                    std::cout << "Wrote CRL number " << p.crl.number() << " of " << quote(p.crl.issuer())
                              << " listing " << p.entries << " revoked certificate(s) to " << p.file.path.string()
                              << "\n";
                };
                say(done.issuing);
                if (done.root) say(*done.root);
                if (!done.root_skipped.empty()) std::cout << "No root CRL: " << done.root_skipped << "\n";
                std::cout << "Next update " << describe_expiry(done.issuing.crl.next_update()) << "\n";
            }};
}

}  // namespace minica::cli
