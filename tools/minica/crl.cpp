// minica crl: publish the CA's v2 CRLs from the inventory (CaDirectory::
// publish_crls): the issuing CA's, and for an --intermediate CA the root's,
// which lists the revoked intermediates. --url / --root-url / --no-url also
// record where they are served (publication.json): every leaf issued from
// then on carries that URL as its CRL Distribution Point.
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
    std::string url, root_url;
    bool no_url = false;
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
    auto url = cmd->add_option("--url", a->url,
                               "record http://... as where the CRL is served: leaves issued from now on carry it "
                               "as their CRL Distribution Point (<ca-dir>/publication.json)");
    auto root_url = cmd->add_option("--root-url", a->root_url,
                                    "with --intermediate: where the root's CRL is served (for intermediates "
                                    "created with it set; existing ones are unchanged)");
    cmd->add_flag("--no-url", a->no_url, "forget the recorded URLs: leaves issued from now on carry no CRL "
                                         "Distribution Point")
        ->excludes(url)
        ->excludes(root_url);

    return {cmd, [a, &g, url, root_url] {
                const fs::path dir = g.resolved_ca_dir();
                CaDirectory ca = CaDirectory::open(dir);
                CrlRequest req{.validity = std::chrono::days(a->days), .overwrite = a->force,
                               .ca_passphrase = ca_passphrase_source(dir, a->passphrase_file)};
                if (!a->out.empty()) req.out = a->out;
                if (!a->root_out.empty()) req.root_out = a->root_out;
                if (!a->root_key.empty()) req.root_key = a->root_key;
                const bool set_url = url->count() > 0, set_root_url = root_url->count() > 0;
                if (set_url || set_root_url || a->no_url) {
                    Publication pub = a->no_url ? Publication{} : ca.publication();
                    if (set_url) pub.crl_url = a->url;
                    if (set_root_url) pub.root_crl_url = a->root_url;
                    req.publication = pub;
                }
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
                if (req.publication) {
                    const Publication& pub = ca.publication();
                    if (pub.crl_url.empty())
                        std::cout << "Leaves issued from now on carry no CRL Distribution Point\n";
                    else
                        std::cout << "Leaves issued from now on carry the CRL Distribution Point " << pub.crl_url
                                  << " (serve " << done.issuing.file.path.string()
                                  << " there; certificates already issued are unchanged)\n";
                    if (!pub.root_crl_url.empty())
                        std::cout << "Intermediates created from now on carry the root CRL Distribution Point "
                                  << pub.root_crl_url << " (the existing intermediate is unchanged)\n";
                }
            }};
}

}  // namespace minica::cli
