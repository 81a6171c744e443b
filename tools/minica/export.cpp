// minica export: a PKCS#12 file of an issued certificate, its key and chain
// (for browsers, Windows, macOS keychains and Java), passphrase-protected.
#include <iostream>

#include <sys/stat.h>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/pkcs12.hpp"

namespace minica::cli {

namespace {
struct ExportArgs {
    std::string source;
    std::string p12;
    std::string key;
    std::string name;
    std::string p12_passphrase_file;
    bool force = false;
};

bool is_dir(const fs::path& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool file_exists(const fs::path& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}
}  // namespace

Verb add_export(CLI::App& app, const Globals&) {
    auto a = std::make_shared<ExportArgs>();
    CLI::App* cmd = app.add_subcommand("export", "write a PKCS#12 file of an issued certificate (DIR from sign, or CERT)");
    cmd->add_option("source", a->source, "a directory written by sign (cert.pem, key.pem, chain.pem), or a certificate")
        ->required();
    cmd->add_option("--p12", a->p12, "the PKCS#12 file to write (0600)")->required();
    cmd->add_option("--key", a->key, "the private key (default: key.pem next to the certificate)");
    cmd->add_option("--name", a->name, "friendly name (default: the certificate's first name)");
    cmd->add_option("--p12-passphrase-file", a->p12_passphrase_file,
                    "read the passphrase from FILE (else $MINICA_P12_PASSPHRASE, or a prompt)");
    cmd->add_flag("--force", a->force, "replace an existing file");

    return {cmd, [a] {
                fs::path src = a->source;
                fs::path cert_file = is_dir(src) ? src / "cert.pem" : src;
                fs::path dir = cert_file.parent_path().empty() ? fs::path(".") : cert_file.parent_path();
                fs::path key_file = a->key.empty() ? dir / "key.pem" : fs::path(a->key);
                std::vector<OutFile> files{{a->p12, {}, 0600, "PKCS#12"}};
                preflight(files, a->force);

                // A full chain carries its intermediates; else chain.pem beside it.
                auto certs = Certificate::load_chain(cert_file);
                Certificate cert = certs.front();
                std::vector<Certificate> chain(certs.begin() + 1, certs.end());
                if (chain.empty() && file_exists(dir / "chain.pem") && !read_file(dir / "chain.pem").empty())
                    chain = Certificate::load_chain(dir / "chain.pem");
                PrivateKey key = PrivateKey::load(key_file);
                if (!cert.matches(key))
                    throw Error(ErrorKind::invalid_argument,
                                "exporting " + cert_file.string() + ": " + key_file.string() + " is not its key");
                std::string name = a->name.empty() ? cert.names().primary() : a->name;
                Secret pass = read_secret({"MINICA_P12_PASSPHRASE", a->p12_passphrase_file, "--p12-passphrase-file",
                                           "a passphrase for " + a->p12},
                                          true);
                files[0].content = to_pkcs12(cert, key, chain, pass.view(), name);
                write_all(files, a->force);
                std::cout << "Exported " << quote(cert.subject()) << " with its key and " << chain.size()
                          << " intermediate(s) as " << quote(name) << "\n";
                print_files(files);
                std::cout << "Expires " << describe_expiry(cert.not_after()) << "\n";
            }};
}

}  // namespace minica::cli
