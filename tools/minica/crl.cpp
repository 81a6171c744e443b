// minica crl: publish a v2 CRL of every revoked certificate, signed by the
// issuing CA, with the next CRL number from the inventory.
#include <iostream>

#include <sys/stat.h>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"

namespace minica::cli {

namespace {
struct CrlArgs {
    std::string out;
    int days = 7;
    std::string passphrase_file;
    bool force = false;
};
}  // namespace

Verb add_crl(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<CrlArgs>();
    CLI::App* cmd = app.add_subcommand("crl", "write the CA's certificate revocation list");
    cmd->add_option("--out", a->out, "where to write it (default: <ca-dir>/crl.pem)");
    cmd->add_option("--days", a->days, "nextUpdate = now + DAYS (default 7)")->check(CLI::Range(1, 3650));
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");
    cmd->add_flag("--force", a->force, "replace FILE even if it is not an earlier CRL of this CA");

    return {cmd, [a, &g] {
                CaDirectory ca = CaDirectory::open(g.resolved_ca_dir());
                fs::path out = a->out.empty() ? ca.path() / "crl.pem" : fs::path(a->out);
                // A newer CRL replaces an older one of the same CA: that is what
                // this verb is for. Anything else is kept unless --force.
                Certificate ca_cert = Certificate::load(ca.cert_path());
                struct stat st;
                bool replace = a->force;
                if (!replace && ::lstat(out.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
                    std::string old = read_file(out);
                    if (old.find("-----BEGIN X509 CRL-----") != std::string::npos &&
                        Crl::parse(old, out.string()).signed_by(ca_cert))
                        replace = true;
                }
                std::vector<OutFile> files{{out, {}, 0644, "CRL"}};
                preflight(files, replace);

                auto pass = ca_passphrase(ca, a->passphrase_file);
                Authority authority = ca.authority(view(pass));
                auto revoked = ca.inventory().revoked();
                CrlOptions opts{.number = ca.inventory().next_crl_number(), .validity = std::chrono::days(a->days)};
                Crl crl = Crl::build(authority, revoked, opts);
                files[0].content = crl.to_pem();
                write_all(files, replace);
                std::cout << "Wrote CRL number " << crl.number() << " of " << quote(crl.issuer()) << " listing "
                          << revoked.size() << " revoked certificate(s)\n";
                print_files(files);
                std::cout << "Next update " << describe_expiry(crl.next_update()) << "\n";
            }};
}

}  // namespace minica::cli
