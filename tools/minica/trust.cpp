// minica trust install|uninstall|status: the CA's trust anchor in the
// machine's trust stores (minica::trust, truststore.hpp), as mkcert -install.
// What the library cannot know is said here: the exact sudo command for a
// store that needs root (sudo resets HOME and MINICA_CA_DIR, so the command
// names this binary and the CA directory by absolute path and asks for the
// one store only), Node's own CA list, and a root without name constraints.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "minica/error.hpp"
#include "minica/truststore.hpp"

namespace minica::cli {

namespace {

struct TrustArgs {
    std::string action;
    std::vector<std::string> stores;
    bool dry_run = false;
    bool json = false;
};

// The command that does `step` as root.
std::string sudo_command(TrustAction action, TrustStoreKind store, const fs::path& ca_dir) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) self = "minica";
    return "sudo " + self.string() + " trust " + to_string(action) + " --store " + to_string(store) + " --ca-dir " +
           fs::absolute(ca_dir).lexically_normal().string();
}

nlohmann::json to_json(const TrustAnchor& anchor, const fs::path& anchor_path, const TrustRequest& request,
                       const TrustResult& result, const fs::path& ca_dir) {
    nlohmann::json stores = nlohmann::json::array();
    for (const auto& s : result.steps) {
        nlohmann::json j{{"store", to_string(s.store)}, {"location", s.location}, {"state", to_string(s.state)},
                         {"detail", s.detail}};
        if (s.needs_root) j["sudo"] = sudo_command(request.action, s.store, ca_dir);
        stores.push_back(j);
    }
    return {{"action", to_string(request.action)},
            {"dry_run", request.dry_run},
            {"ok", result.ok},
            {"anchor",
             {{"path", anchor_path.string()},
              {"id", anchor.id},
              {"name", anchor.name},
              {"subject", anchor.certificate.subject()},
              {"fingerprint_sha256", anchor.certificate.fingerprint_sha256()},
              {"name_constraints", !anchor.certificate.name_constraints().empty()}}},
            {"stores", stores},
            {"node_extra_ca_certs", anchor_path.string()}};
}

void print(const TrustAnchor& anchor, const fs::path& anchor_path, const TrustRequest& request,
           const TrustResult& result, const fs::path& ca_dir) {
    std::cout << "Trust anchor " << quote(anchor.certificate.subject()) << " (" << anchor.id << ", " << anchor_path.string()
              << ")\n";
    for (const auto& s : result.steps) {
        std::string line = s.location;
        if (!s.detail.empty()) line += line.empty() ? s.detail : ": " + s.detail;
        if (s.needs_root) line += "; run: " + sudo_command(request.action, s.store, ca_dir);
        std::printf("  %-6s  %-13s  %s\n", to_string(s.store), to_string(s.state), line.c_str());
    }
    if (request.action == TrustAction::uninstall && !request.dry_run)
        std::cout << "If you exported NODE_EXTRA_CA_CERTS=" << anchor_path.string() << " for Node.js, unset it.\n";
    if (request.action != TrustAction::install) return;
    std::cout << "Node.js reads only its own CA list: export NODE_EXTRA_CA_CERTS=" << anchor_path.string() << "\n";
    if (anchor.certificate.name_constraints().empty())
        std::cout << "Warning: this root has no name constraints, so whoever holds its key can issue for every name "
                     "and this machine will trust it. For a CA limited to your own names, make one with "
                     "`minica init --permit example.test --permit 10.0.0.0/8 ...`.\n";
}

}  // namespace

Verb add_trust(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<TrustArgs>();
    CLI::App* cmd = app.add_subcommand("trust", "install the CA's root in this machine's trust stores (as mkcert -install)");
    cmd->add_option("action", a->action, "install, uninstall or status")
        ->required()
        ->check(CLI::IsMember(choices(all_trust_actions)));
    cmd->add_option("--store", a->stores, "only these stores: system, nss, java (default: every store found)")
        ->delimiter(',')
        ->check(CLI::IsMember(choices(all_trust_stores)));
    cmd->add_flag("--dry-run", a->dry_run, "say what would change, change nothing");
    cmd->add_flag("--json", a->json, "print JSON (schemas/trust.schema.json)");

    return {cmd, [a, &g] {
                const fs::path dir = g.resolved_ca_dir();
                CaDirectory ca = CaDirectory::open(dir);
                const fs::path anchor_path = fs::absolute(ca.trust_anchor_path());
                const TrustAnchor anchor = TrustAnchor::of(Certificate::load(anchor_path));
                TrustRequest request;
                request.action = parse_trust_action(a->action);
                for (const auto& s : a->stores) request.stores.push_back(parse_trust_store(s));
                request.dry_run = a->dry_run;
                const char* home = std::getenv("HOME");
                request.home = home && *home ? home : "/";
                const TrustResult result = trust(anchor, request);
                if (a->json)
                    std::cout << to_json(anchor, anchor_path, request, result, dir).dump(2) << "\n";
                else if (!g.quiet)
                    print(anchor, anchor_path, request, result, dir);
                if (!result.ok)
                    throw Error(ErrorKind::policy,
                                request.action == TrustAction::status
                                    ? "trust status: not every store trusts this CA"
                                    : std::string("trust ") + a->action + ": not every store succeeded (see above)");
            }};
}

}  // namespace minica::cli
