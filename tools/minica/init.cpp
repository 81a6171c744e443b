// minica init: create a CA (CaDirectory::init).
#include <iostream>

#include <openssl/crypto.h>

#include "cli.hpp"
#include "minica/error.hpp"

namespace minica::cli {

namespace {
struct InitArgs {
    std::string name;
    std::string key = "ec-p256";
    int days = 0;
    int path_len = -1;
    std::vector<std::string> permit, exclude;
    bool intermediate = false;
    bool encrypt = false;
    std::string passphrase_file;
};
}  // namespace

Verb add_init(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<InitArgs>();
    CLI::App* cmd = app.add_subcommand("init", "create a CA (a root, or a root and an intermediate that issues)");
    cmd->add_option("--name", a->name, "CA common name (default: \"minica root CA\", O=minica, OU=user@host)");
    cmd->add_option("--key", a->key, "CA key type")
        ->check(CLI::IsMember(choices(all_key_types)));
    cmd->add_option("--days", a->days, "CA validity in days (default: 3650 for a root, 1825 for an intermediate)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--path-len", a->path_len, "basicConstraints pathLenConstraint of the issuing CA")
        ->check(CLI::Range(0, 16));
    cmd->add_option("--permit", a->permit, "name constraint: DNS suffix, CIDR range or @domain (repeatable)");
    cmd->add_option("--exclude", a->exclude, "excluded name constraint, same forms (repeatable)");
    cmd->add_flag("--intermediate", a->intermediate, "a root that signs an intermediate; the intermediate issues");
    auto* enc = cmd->add_flag("--encrypt", a->encrypt,
                              "encrypt the CA key(s) with a passphrase ($MINICA_PASSPHRASE, --passphrase-file, or a prompt)");
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the passphrase from the first line of FILE")
        ->needs(enc);

    return {cmd, [a, &g] {
                fs::path dir = g.resolved_ca_dir();
                // Refused before any work: an existing CA is never touched, nor
                // CA files without ca.pem (an init killed midway, or a CA whose
                // certificate was removed): init is explicit, so it says so and
                // changes nothing; `minica sign` sets such leftovers aside.
                if (CaDirectory::exists(dir)) {
                    if (!fs::exists(dir / "ca.pem"))
                        throw Error(ErrorKind::exists,
                                    "a CA already exists in " + dir.string() +
                                        ", without ca.pem (an interrupted init?); nothing was changed: move its files "
                                        "away, or let `minica sign` set them aside and make a new CA");
                    throw Error(ErrorKind::exists, "a CA already exists in " + dir.string() + " (nothing was changed)");
                }
                InitOptions opts;
                opts.intermediate = a->intermediate;
                opts.ca.subject = default_ca_subject(a->intermediate);
                if (!a->name.empty()) {
                    opts.ca.subject = DistinguishedName{.common_name = a->name};
                    // The root above an intermediate: the library's default, "<name> Root".
                } else if (a->intermediate) {
                    CaOptions root;
                    root.subject = default_ca_subject(false);
                    root.key_type = parse_key_type(a->key);
                    opts.root = root;
                }
                opts.ca.key_type = parse_key_type(a->key);
                if (a->days > 0) opts.ca.validity = std::chrono::days(a->days);
                if (a->path_len >= 0) opts.ca.path_len = a->path_len;
                for (const auto& p : a->permit) opts.ca.constraints.permit(p);
                for (const auto& e : a->exclude) opts.ca.constraints.exclude(e);
                std::optional<Secret> pass;
                if (a->encrypt) {
                    pass = read_secret({"MINICA_PASSPHRASE", a->passphrase_file, "--passphrase-file",
                                        "a passphrase for the new CA key"},
                                       true);
                    opts.passphrase = std::string(pass->view());
                }

                CaDirectory ca = CaDirectory::init(dir, opts);
                if (opts.passphrase) OPENSSL_cleanse(opts.passphrase->data(), opts.passphrase->size());

                Certificate cert = Certificate::load(ca.cert_path());
                std::cout << "Created " << (a->intermediate ? "a root CA and an intermediate CA" : "a root CA") << " "
                          << quote(cert.subject()) << " (" << cert.key_name() << ") in " << dir.string() << "\n";
                std::vector<OutFile> files;
                if (a->intermediate) {
                    files.push_back({ca.root_path(), {}, 0644, "root certificate"});
                    files.push_back({ca.root_key_path(), {}, 0400, "root key"});
                    files.push_back({ca.chain_path(), {}, 0644, "chain"});
                }
                files.push_back({ca.cert_path(), {}, 0644, a->intermediate ? "issuing CA" : "certificate"});
                files.push_back({ca.key_path(), {}, 0400, a->encrypt ? "key (encrypted)" : "key"});
                files.push_back({ca.policy_path(), {}, 0644, "policy"});
                files.push_back({ca.inventory_path(), {}, 0600, "inventory"});
                print_files(files);
                if (!cert.name_constraints().empty())
                    std::cout << "  name constraints: " << join(a->permit.empty() ? std::vector<std::string>{"(any)"} : a->permit)
                              << (a->exclude.empty() ? "" : "; excluded: " + join(a->exclude)) << "\n";
                std::cout << "Expires " << describe_expiry(cert.not_after()) << "\n"
                          << "Trust " << ca.trust_anchor_path().string() << " to accept what this CA issues.\n";
            }};
}

}  // namespace minica::cli
