// minica verify: check a certificate (or a full chain) for a purpose and a
// name against the CA's trust anchor (CaDirectory::verify: revocation from the
// inventory and the published CRLs) or --roots (verify_chain, X509_STRICT),
// with --crl FILE for a foreign CA's revocations.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "minica/error.hpp"
#include <spdlog/logger.h>

#include "minica/log.hpp"
#include "minica/revocation.hpp"
#include "minica/verify.hpp"

namespace minica::cli {

namespace {
struct VerifyArgs {
    std::string cert;
    std::string host, ip;
    std::string purpose;
    std::string roots;
    std::vector<std::string> crls;
    bool json = false;
};
}  // namespace

Verb add_verify(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<VerifyArgs>();
    CLI::App* cmd = app.add_subcommand("verify", "verify CERT (a certificate or full chain) for a purpose and name");
    cmd->add_option("cert", a->cert, "certificate, optionally followed by its intermediates")->required();
    auto* host = cmd->add_option("--host", a->host, "DNS name the certificate must cover");
    cmd->add_option("--ip", a->ip, "IP address the certificate must cover")->excludes(host);
    cmd->add_option("--purpose", a->purpose, "server or client (default: from the certificate's extended key usage)")
        ->check(CLI::IsMember({"server", "client"}));
    cmd->add_option("--roots", a->roots, "trust these roots instead of the CA directory's");
    cmd->add_option("--crl", a->crls, "also check revocation against this CRL (PEM or DER; repeatable; an expired "
                                      "one fails)");
    cmd->add_flag("--json", a->json, "print the result as JSON (schemas/verify.schema.json)");

    return {cmd, [a, &g] {
                auto certs = Certificate::load_chain(a->cert);
                Certificate leaf = certs.front();
                std::vector<Certificate> untrusted(certs.begin() + 1, certs.end());
                std::vector<Crl> crls;
                for (const auto& f : a->crls) crls.push_back(Crl::load(f));
                std::optional<CaDirectory> ca;
                std::string anchor = a->roots;
                if (a->roots.empty()) {
                    ca.emplace(CaDirectory::open(g.resolved_ca_dir()));
                    anchor = ca->trust_anchor_path().string();
                }

                VerifyOptions o;
                if (!a->purpose.empty()) {
                    o.purpose = a->purpose == "client" ? Purpose::client : Purpose::server;
                } else {
                    auto eku = leaf.extended_key_usage();
                    bool server = std::find(eku.begin(), eku.end(), "serverAuth") != eku.end();
                    bool client = std::find(eku.begin(), eku.end(), "clientAuth") != eku.end();
                    o.purpose = server || !a->host.empty() || !a->ip.empty() ? Purpose::server
                                : client                                    ? Purpose::client
                                                                            : Purpose::any;
                }
                if (!a->host.empty()) {
                    if (parse_ip(a->host)) o.ip = a->host;  // an IP given as --host
                    else o.host = canonical_dns_name(a->host, false);
                }
                if (!a->ip.empty()) {
                    auto ip = parse_ip(a->ip);
                    if (!ip) throw Error(ErrorKind::invalid_argument, "invalid IP address \"" + a->ip + "\"");
                    o.ip = ip->to_string();
                }
                const char* purpose = o.purpose == Purpose::server   ? "server"
                                      : o.purpose == Purpose::client ? "client"
                                                                     : "any";

                for (const auto& c : crls) o.crls.push_back(&c);
                VerifyResult r = ca ? ca->verify(leaf, untrusted, o)
                                    : verify_chain(leaf, untrusted, Certificate::load_chain(a->roots), o);
                for (const auto& w : r.warnings) logger()->warn("{}", w);
                if (a->json) {
                    nlohmann::json j{{"ok", r.ok},
                                     {"reason", r.ok ? nlohmann::json(nullptr) : nlohmann::json(r.reason)},
                                     {"file", a->cert},
                                     {"purpose", purpose},
                                     {"host", o.host ? nlohmann::json(*o.host) : nlohmann::json(nullptr)},
                                     {"ip", o.ip ? nlohmann::json(*o.ip) : nlohmann::json(nullptr)},
                                     {"roots", anchor},
                                     {"not_after", format_time(leaf.not_after())},
                                     {"chain", nlohmann::json::array()},
                                     {"revoked", nullptr},
                                     {"warnings", r.warnings}};
                    if (r.revoked)
                        j["revoked"] = {{"serial", r.revoked->serial_hex},
                                        {"revoked_at", format_time(r.revoked->revoked_at)},
                                        {"reason", r.revoked->reason},
                                        {"source", r.revoked->source}};
                    for (const auto& c : r.chain) j["chain"].push_back(c.subject());
                    std::cout << j.dump(2) << "\n";
                }
                if (!r.ok) throw Error(ErrorKind::verify, "verifying " + a->cert + ": " + r.reason);
                if (a->json) return;
                std::vector<std::string> path;
                for (const auto& c : r.chain) path.push_back(quote(c.subject()));
                std::cout << a->cert << ": OK for " << purpose << " use";
                if (o.host) std::cout << " as " << *o.host;
                if (o.ip) std::cout << " as " << *o.ip;
                std::cout << "\n  chain    " << join(path, " -> ") << "\n  trusted  " << anchor << "\n  expires  "
                          << describe_expiry(leaf.not_after()) << "\n";
            }};
}

}  // namespace minica::cli
