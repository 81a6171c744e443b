// minica sign: issue a leaf certificate (new key, or an external CSR) under
// the CA's policy, recorded in the inventory with its serial.
#include <algorithm>
#include <future>
#include <iostream>
#include <system_error>

#include "cli.hpp"
#include "minica/csr.hpp"
#include "minica/error.hpp"
#include "minica/pkcs12.hpp"
#include "minica/policy.hpp"

namespace minica::cli {

namespace {
struct SignArgs {
    std::vector<std::string> names;
    bool server = false, client = false, both = false;
    std::string key = "ec-p256";
    int days = 0;
    std::string out = ".";
    std::string csr;
    bool p12 = false;
    std::string p12_passphrase_file;
    std::string passphrase_file;
    bool force = false;
};
}  // namespace

Verb add_sign(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<SignArgs>();
    CLI::App* cmd = app.add_subcommand("sign", "issue a certificate for NAME... (DNS, *.wildcard, IP, email, URI)");
    cmd->add_option("names", a->names, "names to certify; the first names the output directory");
    auto* server = cmd->add_flag("--server", a->server, "TLS server certificate (EKU serverAuth; the default)");
    auto* client = cmd->add_flag("--client", a->client, "TLS client certificate (EKU clientAuth)");
    auto* both = cmd->add_flag("--both", a->both, "both serverAuth and clientAuth");
    server->excludes(client, both);
    client->excludes(server, both);
    both->excludes(server, client);
    auto* key = cmd->add_option("--key", a->key, "key type of the new key (default ec-p256)")
                    ->check(CLI::IsMember({"ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"}));
    cmd->add_option("--days", a->days, "validity in days (default: 397, or the policy's maximum if lower)")
        ->check(CLI::Range(1, 36500));
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
                Profile profile = a->client ? Profile::client : a->both ? Profile::both : Profile::server;

                // Everything that can be refused is checked before any work.
                SubjectAltNames names;
                if (!a->names.empty()) names = parse_identities(a->names);
                std::optional<CertificateRequest> request;
                std::string first;
                if (!a->csr.empty()) {
                    request = CertificateRequest::load(a->csr);
                    request->check_signature();
                    if (request->requests_ca())
                        throw Error(ErrorKind::policy, "signing " + a->csr +
                                                           ": the request asks for a CA certificate (CA:TRUE); "
                                                           "minica never issues a CA from a CSR");
                    if (names.empty()) names = request->names();
                    if (names.empty())
                        throw Error(ErrorKind::invalid_argument,
                                    "signing " + a->csr + ": the request names no subject alternative names (give NAMEs)");
                }
                first = a->names.empty() ? names.primary() : parse_identity(a->names.front()).value;
                fs::path dir = fs::path(a->out) / leaf_dir_name(first);
                std::vector<OutFile> files{{dir / "cert.pem", {}, 0644, "certificate"}};
                if (!request) files.push_back({dir / "key.pem", {}, 0600, "key"});
                files.push_back({dir / "chain.pem", {}, 0644, "chain"});
                files.push_back({dir / "fullchain.pem", {}, 0644, "full chain"});
                if (a->p12) files.push_back({dir / "cert.p12", {}, 0600, "PKCS#12"});
                preflight(files, a->force);
                std::optional<Secret> p12_pass;
                if (a->p12)
                    p12_pass = read_secret({"MINICA_P12_PASSPHRASE", a->p12_passphrase_file, "--p12-passphrase-file",
                                            "a passphrase for cert.p12"},
                                           true);

                bool created = false;
                fs::path ca_dir = g.resolved_ca_dir();
                CaDirectory ca = open_or_create_ca(ca_dir, created);
                if (created)
                    std::cout << "Created a new CA in " << ca_dir.string() << " (trust "
                              << ca.trust_anchor_path().string() << ")\n";
                Policy policy = ca.policy();
                auto pass = ca_passphrase(ca, a->passphrase_file);
                std::chrono::days days =
                    a->days > 0 ? std::chrono::days(a->days) : std::min(default_leaf_validity, policy.max_validity);
                std::optional<KeyType> kt;
                if (!request) kt = parse_key_type(a->key);
                policy.check(names, request ? request->key_type() : to_string(*kt), profile, days);

                // Loading the CA and making the key (OpenSSL) beside opening the
                // inventory (SQLite): neither needs the other.
                std::optional<Authority> loaded;
                std::optional<PrivateKey> leaf_key;
                beside(
                    [&] {
                        loaded.emplace(ca.authority(view(pass)));
                        check_constraints(*loaded, names);
                        if (kt) leaf_key = PrivateKey::generate(*kt);
                    },
                    [&] { ca.inventory(); });
                const Authority& authority = *loaded;

                // The files are written and fsynced beside the inventory's
                // commit (its own fsyncs), as soon as the certificate exists,
                // and renamed into place only once both are durable: a
                // certificate is never handed out that the inventory could forget.
                std::optional<StagedFiles> staged;
                auto stage = [&](const Certificate& c) {
                    std::vector<Certificate> chain = authority.intermediates();
                    std::vector<Certificate> full{c};
                    full.insert(full.end(), chain.begin(), chain.end());
                    files[0].content = c.to_pem();
                    std::size_t i = 1;
                    if (leaf_key) files[i++].content = leaf_key->to_pem();
                    files[i++].content = to_pem(chain);
                    files[i++].content = to_pem(full);
                    if (a->p12) files[i++].content = to_pkcs12(c, *leaf_key, chain, p12_pass->view(), first);
                    // preflight ran before any work; a file that appeared since is
                    // Error(exists) here or at publish(), never replaced.
                    staged.emplace(to_write(files), a->force, true);
                };
                std::future<void> staging;  // after `staged`: waited for before the files are rolled back
                auto stage_beside = [&](Certificate c) {
                    try {
                        staging = std::async(std::launch::async, stage, c);
                    } catch (const std::system_error&) {
                        // no thread to be had: staged after the commit
                    }
                    return c;
                };
                Certificate cert = [&] {
                    if (request) {
                        // The request contributes its key and names; the policy the rest.
                        // Under the serial the inventory drew (and checked unused) in its transaction.
                        return ca.inventory().issue(to_string(profile), [&](const std::string& serial) {
                            SignOptions so{.profile = profile, .validity = days, .names = names, .serial = serial};
                            return stage_beside(authority.sign(*request, policy, so));
                        });
                    }
                    std::string spki = leaf_key->public_key_der();
                    return ca.inventory().issue(to_string(profile), [&](const std::string& serial) {
                        return stage_beside(sign_leaf(authority, names, profile, *kt, spki, days, serial));
                    });
                }();
                try {
                    if (staging.valid())
                        staging.get();  // rethrows what staging threw
                    else
                        stage(cert);
                    // Closing the inventory (a checkpoint: two more fsyncs)
                    // only tidies up: it runs beside the renames.
                    beside([&] { ca.close_inventory(); }, [&] { staged->publish(); });
                } catch (const Error& e) {
                    throw Error(e.kind(), std::string(e.what()) + " (certificate " + cert.serial_hex() +
                                              " was issued and recorded; minica revoke it if unwanted)",
                                e.openssl_queue());
                }

                std::cout << "Issued a " << to_string(profile) << " certificate for " << describe_names(cert.names())
                          << "\n";
                print_files(files);
                std::cout << "  serial " << cert.serial_hex() << " (" << cert.key_type() << "), issued by "
                          << quote(authority.certificate().subject()) << "\n"
                          << "Expires " << describe_expiry(cert.not_after()) << "\n";
            }};
}

}  // namespace minica::cli
