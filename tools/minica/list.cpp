// minica list: the certificates the CA issued, from its inventory.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "minica/error.hpp"

namespace minica::cli {

namespace {
struct ListArgs {
    bool json = false;
    int expiring = -1;
    bool revoked = false;
};
}  // namespace

Verb add_list(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<ListArgs>();
    CLI::App* cmd = app.add_subcommand("list", "list the certificates this CA issued");
    cmd->add_flag("--json", a->json, "print JSON (schemas/list.schema.json)");
    cmd->add_option("--expiring", a->expiring, "only those expiring within DAYS, soonest first")
        ->check(CLI::Range(0, 36500));
    cmd->add_flag("--revoked", a->revoked, "only revoked certificates");

    return {cmd, [a, &g] {
                CaDirectory ca = CaDirectory::open(g.resolved_ca_dir());
                ListFilter filter;
                if (a->expiring >= 0) filter.expiring_within = std::chrono::days(a->expiring);
                filter.revoked_only = a->revoked;
                auto records = ca.inventory().list(filter);
                if (a->json) {
                    auto j = nlohmann::json::array();
                    for (const auto& r : records) j.push_back(r.to_json());
                    std::cout << j.dump(2) << "\n";
                    return;
                }
                if (records.empty()) {
                    std::cout << "No certificates" << (a->revoked ? " revoked" : a->expiring >= 0 ? " expiring" : "")
                              << " in " << ca.path().string() << "\n";
                    return;
                }
                std::printf("%-32s  %-7s  %-7s  %-20s  %s\n", "SERIAL", "PROFILE", "STATUS", "NOT AFTER", "NAMES");
                for (const auto& r : records) {
                    std::string status = r.status == CertStatus::revoked ? "revoked" : now() > r.not_after ? "expired" : "valid";
                    std::printf("%-32s  %-7s  %-7s  %-20s  %s\n", r.serial_hex.c_str(), std::string(to_string(r.profile)).c_str(), status.c_str(),
                                format_time(r.not_after).c_str(), join(r.names).c_str());
                }
            }};
}

}  // namespace minica::cli
