// minica sign: issue a leaf certificate (new key, or an external CSR) under
// the CA's policy, recorded in the inventory: CaDirectory::issue.
#include <iostream>

#include "cli.hpp"

namespace minica::cli {

namespace {
struct SignArgs {
    std::vector<std::string> names;
    ProfileFlags profile;
    bool p12 = false, force = false;
    std::string key = "ec-p256", out = ".", csr, p12_passphrase_file, passphrase_file;
    int days = 0;
};
}  // namespace

Verb add_sign(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<SignArgs>();
    CLI::App* cmd = app.add_subcommand("sign", "issue a certificate for NAME... (DNS, *.wildcard, IP, email, URI)");
    cmd->add_option("names", a->names, "names to certify; the first names the output directory");
    add_profile_flags(cmd, a->profile);
    auto* key = add_key_option(cmd, a->key, "key type of the new key");
    add_days_option(cmd, a->days);
    cmd->add_option("--out", a->out, "write into DIR/<first-name>/ (default: the current directory)");
    auto* csr = cmd->add_option("--csr", a->csr, "sign this CSR (its key and, without NAMEs, its names) instead of making a key")
                    ->excludes(key);
    auto* p12 = cmd->add_flag("--p12", a->p12, "also write cert.p12 (passphrase: $MINICA_P12_PASSPHRASE, --p12-passphrase-file, or a prompt)")
                    ->excludes(csr);
    cmd->add_option("--p12-passphrase-file", a->p12_passphrase_file, "read the PKCS#12 passphrase from FILE")->needs(p12);
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");
    cmd->add_flag("--force", a->force, "replace existing files");

    return {cmd, [a, &g] {
                if (a->names.empty() && a->csr.empty()) throw UsageError("sign needs at least one NAME, or --csr FILE");
                IssueRequest req{.names = a->names, .profile = profile_of(a->profile), .key_type = parse_key_type(a->key)};
                if (!a->csr.empty()) req.csr = CertificateRequest::load(a->csr);
                if (a->days > 0) req.validity = std::chrono::days(a->days);
                req.files = OutputFiles{.directory = a->out, .name_subdirectory = true, .overwrite = a->force};
                if (a->p12)
                    req.files->p12_passphrase = [a] {
                        return std::string(read_secret({"MINICA_P12_PASSPHRASE", a->p12_passphrase_file,
                                                        "--p12-passphrase-file", "a passphrase for cert.p12"}, true).view());
                    };
                fs::path dir = g.resolved_ca_dir();
                req.ca_passphrase = ca_passphrase_source(dir, a->passphrase_file);
                // A CA is made on first use only where minica keeps its own.
                Issued issued = CaDirectory::issue_in(dir, req, g.default_ca_dir() ? default_init_options
                                                                                   : std::function<InitOptions()>{});
                if (issued.created_ca)
                    std::cout << "Created a new CA in " << dir.string() << " (minica trust install makes this machine trust it)\n";
                std::cout << "Issued " << with_article(usage_of(issued.profile).description) << " certificate for " << issued.certificate.names().to_string() << "\n";
                print_files(issued.files);
                std::cout << "  serial " << issued.certificate.serial_hex() << " (" << issued.certificate.key_name()
                          << "), issued by " << quote(issued.issuer.subject()) << "\n"
                          << "Expires " << describe_expiry(issued.certificate.not_after()) << "\n";
            }};
}

}  // namespace minica::cli
