// minica csr: a new key and a certificate signing request for NAME... (for a
// CA elsewhere, or `minica sign --csr` on another machine).
#include <iostream>

#include "cli.hpp"
#include "minica/csr.hpp"
#include "minica/error.hpp"

namespace minica::cli {

namespace {
struct CsrArgs {
    std::vector<std::string> names;
    std::string key = "ec-p256";
    std::string out = ".";
    bool force = false;
};
}  // namespace

Verb add_csr(CLI::App& app, const Globals&) {
    auto a = std::make_shared<CsrArgs>();
    CLI::App* cmd = app.add_subcommand("csr", "write a new key and a CSR for NAME...");
    cmd->add_option("names", a->names, "names to request; the first names the output directory")->required();
    cmd->add_option("--key", a->key, "key type (default ec-p256)")
        ->check(CLI::IsMember({"ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"}));
    cmd->add_option("--out", a->out, "write into DIR/<first-name>/ (default: the current directory)");
    cmd->add_flag("--force", a->force, "replace existing files");

    return {cmd, [a] {
                SubjectAltNames names = parse_identities(a->names);
                std::string first = parse_identity(a->names.front()).value;
                fs::path dir = fs::path(a->out) / leaf_dir_name(first);
                std::vector<OutFile> files{{dir / "key.pem", {}, 0600, "key"}, {dir / "csr.pem", {}, 0644, "request"}};
                preflight(files, a->force);

                PrivateKey key = PrivateKey::generate(parse_key_type(a->key));
                DistinguishedName subject;
                if (names.primary().size() <= 64) subject.common_name = names.primary();
                CertificateRequest req = CertificateRequest::create(key, subject, names);
                files[0].content = key.to_pem();
                files[1].content = req.to_pem();
                write_all(files, a->force);

                std::cout << "Wrote a " << to_string(key.type()) << " key and a request for " << describe_names(names)
                          << "\n";
                print_files(files);
                std::cout << "Sign it with: minica sign --csr " << files[1].path.string() << "\n";
            }};
}

}  // namespace minica::cli
