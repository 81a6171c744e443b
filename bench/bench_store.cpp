// The inventory at scale. Prints one JSON document:
//   - list --expiring 30d over 1,000,000 certificates (target < 200 ms)
//   - revoke one certificate, then build the CRL with 100,000 revoked entries
//     (target CRL generation < 1 s)
//
//   bench_store [--certificates N] [--revoked M] [--dir DIR] [--keep]
//
// The inventory is filled by Inventory::import in batches (one transaction
// each), not by signing: records issued chronologically over the last two
// years with 397-day validity (about 1 in 18 expires within 30 days), every
// (N/M)-th one revoked. All rows share one real leaf PEM.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minica/authority.hpp"
#include "minica/revocation.hpp"
#include "minica/ca_directory.hpp"
#include "minica/files.hpp"
#include "minica/inventory.hpp"

namespace fs = std::filesystem;
using namespace minica;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string hex(const std::string& bytes) {
    static const char* d = "0123456789ABCDEF";
    std::string s;
    for (unsigned char b : bytes) {
        s += d[b >> 4];
        s += d[b & 15];
    }
    return s.substr(std::min(s.find_first_not_of('0'), s.size() - 1));
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    long total = 1'000'000, revoked_count = 100'000;
    fs::path dir;
    bool keep = false, made_dir = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--certificates" && i + 1 < argc) total = std::atol(argv[++i]);
        else if (a == "--revoked" && i + 1 < argc) revoked_count = std::atol(argv[++i]);
        else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
        else if (a == "--keep") keep = true;
        else {
            std::cerr << "usage: bench_store [--certificates N] [--revoked M] [--dir DIR] [--keep]\n";
            return 2;
        }
    }
    if (total < 1 || revoked_count < 0 || revoked_count > total) {
        std::cerr << "bench_store: need 0 <= revoked <= certificates\n";
        return 2;
    }
    try {
        if (dir.empty()) {
            std::string tmpl = (fs::temp_directory_path() / "minica-bench-store-XXXXXX").string();
            if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
            dir = tmpl;
            made_dir = true;
        } else {
            fs::create_directories(dir);
        }
        const fs::path db = dir / "inventory.db";
        if (fs::exists(db)) throw std::runtime_error(db.string() + " already exists");

        const Time now = minica::now();
        Authority ca = Authority::create_root(CaOptions{.subject = {.common_name = "bench CA"}, .now = now});
        IssuedCertificate sample =
            ca.issue(LeafOptions{.names = parse_identities({"host.example.com"}), .now = now});
        const std::string pem = sample.cert_pem();
        const std::string fingerprint = sample.certificate.fingerprint_sha256();

        // ---- fill ----
        const auto span = std::chrono::duration_cast<std::chrono::seconds>(730 * 24h);
        const long stride = revoked_count > 0 ? total / revoked_count : 0;
        long revoked_made = 0;
        std::vector<std::string> valid_serials;  // for the revoke timing
        auto start = Clock::now();
        {
            auto inv = open_sqlite_inventory(db);
            constexpr long batch = 50'000;
            std::vector<InventoryRecord> records;
            records.reserve(batch);
            for (long i = 0; i < total; ++i) {
                InventoryRecord r;
                r.serial_hex = hex(random_serial());
                r.subject = "CN=host" + std::to_string(i) + ".example.com";
                r.names = {"host" + std::to_string(i) + ".example.com"};
                r.key_type = "ec-p256";
                r.profile = Profile::server;
                r.not_before = now - span + std::chrono::seconds{span.count() * i / total};
                r.not_after = r.not_before + std::chrono::days{397};
                r.fingerprint_sha256 = fingerprint;
                r.pem = pem;
                if (stride > 0 && i % stride == 0 && revoked_made < revoked_count) {
                    r.status = CertStatus::revoked;
                    r.revoked_at = r.not_before + 24h;
                    r.reason = i % 3 ? RevocationReason::superseded : RevocationReason::key_compromise;
                    ++revoked_made;
                } else if (valid_serials.size() < 20 && i % 997 == 1) {
                    valid_serials.push_back(r.serial_hex);
                }
                records.push_back(std::move(r));
                if (static_cast<long>(records.size()) == batch || i + 1 == total) {
                    inv->import(records);
                    records.clear();
                }
            }
        }
        const double fill_ms = ms_since(start);
        struct stat st;
        ::stat(db.c_str(), &st);

        // ---- open (a fresh connection, as every CLI run does) ----
        start = Clock::now();
        auto inv = open_sqlite_inventory(db);
        const double open_ms = ms_since(start);

        // ---- list --expiring 30d ----
        ListFilter expiring;
        expiring.expiring_within = std::chrono::days{30};
        expiring.now = now;
        std::vector<double> list_runs;
        std::size_t expiring_count = 0;
        for (int run = 0; run < 5; ++run) {
            start = Clock::now();
            auto rows = inv->list(expiring);
            list_runs.push_back(ms_since(start));
            expiring_count = rows.size();
        }
        // ... and the whole JSON output of it, as `minica list --expiring 30d --json` prints.
        start = Clock::now();
        {
            auto rows = inv->list(expiring);
            nlohmann::json out = nlohmann::json::array();
            for (const auto& r : rows) out.push_back(r.to_json());
            std::string text = out.dump();
            if (text.empty()) std::abort();
        }
        const double list_json_ms = ms_since(start);

        // ---- find ----
        std::vector<double> find_runs;
        for (const auto& s : valid_serials) {
            start = Clock::now();
            if (!inv->find(s)) throw std::runtime_error("find failed");
            find_runs.push_back(ms_since(start));
        }

        // ---- revoke + CRL ----
        std::vector<double> revoke_runs;
        for (const auto& s : valid_serials) {
            start = Clock::now();
            inv->revoke(s, RevocationReason::key_compromise);
            revoke_runs.push_back(ms_since(start));
        }
        const std::string last = valid_serials.empty() ? std::string() : valid_serials.back();
        start = Clock::now();
        auto entries = inv->revoked();
        const double revoked_ms = ms_since(start);
        start = Clock::now();
        const std::uint64_t number = inv->next_crl_number();
        const double number_ms = ms_since(start);
        start = Clock::now();
        Crl crl = Crl::build(ca, entries, CrlOptions{.number = number, .this_update = now});
        const double crl_build_ms = ms_since(start);
        start = Clock::now();
        const std::string crl_pem = crl.to_pem();
        const double crl_pem_ms = ms_since(start);
        const bool last_listed = last.empty() || crl.is_revoked(last);

        nlohmann::json out;
        out["benchmark"] = "store";
        out["sqlite_file_bytes"] = static_cast<long long>(st.st_size);
        out["certificates"] = total;
        out["revoked"] = static_cast<long long>(entries.size());
        out["fill"] = {{"ms", fill_ms}, {"rows_per_s", total / (fill_ms / 1000.0)}};
        out["open_ms"] = open_ms;
        out["list_expiring_30d"] = {{"rows", expiring_count},
                                    {"first_ms", list_runs.front()},
                                    {"median_ms", median(list_runs)},
                                    {"with_json_ms", list_json_ms},
                                    {"target_ms", 200},
                                    {"ok", median(list_runs) < 200}};
        out["find_median_ms"] = median(find_runs);
        out["revoke"] = {{"median_ms", median(revoke_runs)},
                         {"max_ms", revoke_runs.empty() ? 0 : *std::max_element(revoke_runs.begin(), revoke_runs.end())}};
        out["crl"] = {{"entries", entries.size()},
                      {"revoked_query_ms", revoked_ms},
                      {"next_number_ms", number_ms},
                      {"build_ms", crl_build_ms},
                      {"to_pem_ms", crl_pem_ms},
                      {"der_bytes", crl.der().size()},
                      {"last_revoked_listed", last_listed},
                      {"generation_ms", revoked_ms + number_ms + crl_build_ms},
                      {"target_ms", 1000},
                      {"ok", revoked_ms + number_ms + crl_build_ms < 1000}};
        out["revoke_and_crl_ms"] =
            median(revoke_runs) + revoked_ms + number_ms + crl_build_ms + crl_pem_ms;
        std::cout << out.dump(2) << "\n";

        inv.reset();
        if (!keep) {
            if (made_dir) fs::remove_all(dir);
            else for (const char* f : {"inventory.db", "inventory.db-wal", "inventory.db-shm"}) fs::remove(dir / f);
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_store: " << e.what() << "\n";
        if (!keep && made_dir) {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
        return 1;
    }
}
