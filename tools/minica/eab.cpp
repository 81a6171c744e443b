// minica eab: External Account Binding keys for `minica serve
// --eab-required` (RFC 8555 §7.3.4): add prints a key id and its HMAC key
// for the client (certbot --eab-kid/--eab-hmac-key, lego --kid/--hmac,
// uacme -e KID:KEY); list shows which are bound to an account; remove
// forgets one. Each key binds one account.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "minica/acme/store.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica::cli {

namespace {
struct EabArgs {
    std::string kid;
    bool json = false;
};

nlohmann::json eab_json(const acme::EabKey& k, bool with_key) {
    nlohmann::json j = {{"kid", k.kid},
                        {"created_at", format_time(k.created_at)},
                        {"account", k.account_id ? nlohmann::json(*k.account_id) : nlohmann::json(nullptr)},
                        {"used_at", k.used_at ? nlohmann::json(format_time(*k.used_at)) : nlohmann::json(nullptr)}};
    if (with_key) j["hmac_key"] = detail::base64url_encode(k.hmac_key);
    return j;
}
}  // namespace

Verb add_eab(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<EabArgs>();
    CLI::App* cmd = app.add_subcommand("eab", "External Account Binding keys for minica serve --eab-required");
    cmd->require_subcommand(1);
    CLI::App* add = cmd->add_subcommand("add", "make a key: prints its id and its HMAC key (base64url)");
    add->add_option("--kid", a->kid, "the key id (default: random)");
    add->add_flag("--json", a->json, "print JSON (schemas/eab.schema.json)");
    CLI::App* list = cmd->add_subcommand("list", "the keys, and the account each one bound");
    list->add_flag("--json", a->json, "print JSON (schemas/eab.schema.json)");
    CLI::App* remove = cmd->add_subcommand("remove", "forget a key (an account it bound stays)");
    remove->add_option("KID", a->kid, "the key id")->required();

    return {cmd, [a, &g, add, list, remove] {
                CaDirectory ca = CaDirectory::open(g.resolved_ca_dir());
                acme::AcmeStore& store = ca.inventory().acme();
                if (add->parsed()) {
                    acme::EabKey k = acme::new_eab_key(store, a->kid.empty() ? std::nullopt : std::optional(a->kid));
                    if (a->json) {
                        std::cout << eab_json(k, true).dump(2) << "\n";
                    } else {
                        std::cout << "EAB key id:   " << k.kid << "\n"
                                  << "EAB HMAC key: " << detail::base64url_encode(k.hmac_key) << "\n"
                                  << "(certbot --eab-kid ID --eab-hmac-key KEY; lego --eab --kid ID --hmac KEY; "
                                     "uacme -e ID:KEY)\n";
                    }
                } else if (list->parsed()) {
                    auto keys = store.list_eab();
                    if (a->json) {
                        auto j = nlohmann::json::array();
                        for (const auto& k : keys) j.push_back(eab_json(k, false));
                        std::cout << j.dump(2) << "\n";
                    } else if (keys.empty()) {
                        std::cout << "No EAB keys in " << ca.path().string() << "\n";
                    } else {
                        std::printf("%-24s  %-20s  %s\n", "KID", "CREATED", "ACCOUNT");
                        for (const auto& k : keys)
                            std::printf("%-24s  %-20s  %s\n", k.kid.c_str(), format_time(k.created_at).c_str(),
                                        k.account_id ? std::to_string(*k.account_id).c_str() : "(unused)");
                    }
                } else if (remove->parsed()) {
                    if (!store.remove_eab(a->kid))
                        throw Error(ErrorKind::not_found, "no EAB key " + quote(a->kid) + " in " + ca.path().string());
                    std::cout << "Removed EAB key " << a->kid << "\n";
                }
            }};
}

}  // namespace minica::cli
