// Issues, with the library, one chain for every key type x profile x
// {direct from the root, through an intermediate} into OUTDIR, for
// e2e_interop_core.py to hand to real verifiers. Prints a JSON manifest.
//   interop_issue OUTDIR
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "minica/authority.hpp"
#include "minica/error.hpp"

using namespace minica;
namespace fs = std::filesystem;

static void write(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << s;
}

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::fprintf(stderr, "usage: interop_issue OUTDIR\n");
        return 2;
    }
    fs::path out = argv[1];
    nlohmann::json manifest = nlohmann::json::array();
    SubjectAltNames names = parse_identities({"app.test", "*.wild.test", "bücher.test", "127.0.0.1", "::1"});
    for (KeyType kt : all_key_types) {
        std::string k(to_string(kt));
        Authority root = Authority::create_root({.subject = {.common_name = "interop root " + k}, .key_type = kt});
        Authority inter = root.create_intermediate({.subject = {.common_name = "interop intermediate " + k}, .key_type = kt});
        write(out / k / "root.pem", root.certificate().to_pem());
        for (Profile p : {Profile::server, Profile::client, Profile::both}) {
            for (const Authority* ca : {&root, &inter}) {
                std::string via = ca == &root ? "root" : "intermediate";
                fs::path dir = out / k / std::string(to_string(p)) / via;
                IssuedCertificate leaf = ca->issue({.names = names, .profile = p, .key_type = kt});
                write(dir / "leaf.pem", leaf.cert_pem());
                write(dir / "key.pem", leaf.key_pem());
                write(dir / "chain.pem", leaf.chain_pem());
                write(dir / "fullchain.pem", leaf.fullchain_pem());
                manifest.push_back({{"key_type", k}, {"profile", std::string(to_string(p))}, {"via", via},
                                    {"dir", dir.string()}, {"root", (out / k / "root.pem").string()}});
            }
        }
    }
    std::printf("%s\n", manifest.dump().c_str());
    return 0;
} catch (const Error& e) {
    std::fprintf(stderr, "interop_issue: %s\n", e.what());
    return 1;
}
