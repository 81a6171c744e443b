// minica inspect: show a certificate, chain, CSR, private key, CRL (PEM or
// DER, detected) or PKCS#12 file, as text or as JSON (schemas/<type>.schema.json).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "minica/csr.hpp"
#include "minica/error.hpp"
#include "minica/pkcs12.hpp"
#include "minica/revocation.hpp"

namespace minica::cli {

namespace {

struct InspectArgs {
    std::string file;
    bool json = false;
    std::string passphrase_file;
};

void row(std::string_view label, std::string_view value, int indent = 2) {
    std::printf("%*s%-13.*s%.*s\n", indent, "", static_cast<int>(label.size()), label.data(),
                static_cast<int>(value.size()), value.data());
}

std::string describe_constraints(const NameConstraints& nc) {
    auto part = [](std::string_view what, const std::vector<std::string>& dns, const std::vector<IpNetwork>& ip,
                   const std::vector<std::string>& email) {
        std::vector<std::string> items;
        for (const auto& d : dns) items.push_back("DNS:" + d);
        for (const auto& n : ip) items.push_back("IP:" + n.to_string());
        for (const auto& e : email) items.push_back("email:@" + e);
        return items.empty() ? std::string() : std::string(what) + " " + join(items);
    };
    std::string p = part("permitted", nc.permitted_dns, nc.permitted_ip, nc.permitted_email);
    std::string e = part("excluded", nc.excluded_dns, nc.excluded_ip, nc.excluded_email);
    return p.empty() ? e : e.empty() ? p : p + "; " + e;
}

void show_certificate(const Certificate& c, int indent) {
    row("subject", c.subject(), indent);
    row("issuer", c.issuer(), indent);
    if (auto n = c.names(); !n.empty()) row("names", n.to_string(), indent);
    row("not before", format_time(c.not_before()), indent);
    row("not after", describe_expiry(c.not_after()), indent);
    row("key", c.key_name() + " (" + std::to_string(c.key_bits()) + " bits)", indent);
    row("signature", c.signature_algorithm(), indent);
    if (auto ku = c.key_usage(); !ku.empty()) row("key usage", join(ku), indent);
    if (auto eku = c.extended_key_usage(); !eku.empty()) row("ext. usage", join(eku), indent);
    std::string ca = "no";
    if (c.is_ca()) ca = c.path_len() ? "yes, path length " + std::to_string(*c.path_len()) : "yes, any path length";
    row("CA", ca, indent);
    if (auto nc = c.name_constraints(); !nc.empty()) row("constraints", describe_constraints(nc), indent);
    if (auto cdp = c.crl_distribution_points(); !cdp.empty()) row("CRL", join(cdp), indent);
    row("serial", c.serial_hex(), indent);
    row("SHA-256", c.fingerprint_sha256(), indent);
    row("SPKI pin", c.spki_pin(), indent);
    if (c.self_signed()) row("self-signed", "yes", indent);
}

nlohmann::json key_json(const PrivateKey& k, bool encrypted) {
    return {{"type", "key"},
            {"key_type", std::string(to_string(k.type()))},
            {"key_bits", k.bits()},
            {"encrypted", encrypted},
            {"spki_sha256", k.spki_sha256_hex()},
            {"spki_pin", k.spki_pin()}};
}

nlohmann::json crl_json(const Crl& crl) {
    auto entries = nlohmann::json::array();
    for (const auto& e : crl.entries())
        entries.push_back({{"serial", e.serial_hex},
                           {"revoked_at", format_time(e.revoked_at)},
                           {"reason", std::string(to_string(e.reason))}});
    return {{"type", "crl"},
            {"issuer", crl.issuer()},
            {"number", crl.number()},
            {"this_update", format_time(crl.this_update())},
            {"next_update", format_time(crl.next_update())},
            {"revoked", entries}};
}

bool has_label(const std::string& data, std::string_view label) {
    return data.find("-----BEGIN " + std::string(label) + "-----") != std::string::npos;
}

// "DNS:a, IP:b" from the JSON view (which tolerates malformed requested names).
std::string json_names(const nlohmann::json& n) {
    std::vector<std::string> out;
    for (const auto& [key, prefix] : {std::pair{"dns", "DNS:"}, {"ip", "IP:"}, {"email", "email:"}, {"uri", "URI:"}})
        for (const auto& v : n[key]) out.push_back(prefix + v.get<std::string>());
    return out.empty() ? "(none)" : join(out);
}

enum class Kind { certificates, request, key, crl, pkcs12 };

// What the file holds: PEM by its first recognised label, DER by trying each.
Kind detect(const std::string& data, bool pem, const std::string& file) {
    if (pem) {
        if (has_label(data, "CERTIFICATE")) return Kind::certificates;
        if (has_label(data, "CERTIFICATE REQUEST") || has_label(data, "NEW CERTIFICATE REQUEST")) return Kind::request;
        if (data.find("PRIVATE KEY-----") != std::string::npos) return Kind::key;
        if (has_label(data, "X509 CRL")) return Kind::crl;
        throw Error(ErrorKind::parse, "inspecting " + file + ": no certificate, request, private key or CRL in it");
    }
    auto is = [&](auto&& parse) {
        try {
            parse();
            return true;
        } catch (const Error&) {
            return false;
        }
    };
    if (is([&] { Certificate::from_der(data, file); })) return Kind::certificates;
    if (is([&] { CertificateRequest::parse(data, file); })) return Kind::request;
    if (is([&] { Crl::parse(data, file); })) return Kind::crl;
    if (is_pkcs12(data)) return Kind::pkcs12;
    throw Error(ErrorKind::parse, "inspecting " + file + ": not a certificate, request, private key, CRL or PKCS#12 file");
}

}  // namespace

Verb add_inspect(CLI::App& app, const Globals&) {
    auto a = std::make_shared<InspectArgs>();
    CLI::App* cmd = app.add_subcommand("inspect", "show a certificate, chain, CSR, private key, CRL or PKCS#12 file");
    cmd->add_option("file", a->file, "PEM or DER file, or PKCS#12 (.p12)")->required();
    cmd->add_flag("--json", a->json, "print JSON (schemas/certificate, chain, csr, key, crl, pkcs12 .schema.json)");
    cmd->add_option("--passphrase-file", a->passphrase_file,
                    "passphrase of an encrypted key (else $MINICA_PASSPHRASE) or of a PKCS#12 file (else "
                    "$MINICA_P12_PASSPHRASE), else a prompt");

    return {cmd, [a] {
                const std::string data = read_file(a->file);
                if (data.empty()) throw Error(ErrorKind::parse, a->file + ": empty file");
                const bool pem = data.find("-----BEGIN ") != std::string::npos;
                nlohmann::json j;
                switch (detect(data, pem, a->file)) {
                    case Kind::certificates: {
                        auto certs = pem ? Certificate::chain_from_pem(data, a->file)
                                         : std::vector<Certificate>{Certificate::from_der(data, a->file)};
                        if (certs.size() == 1) {
                            j = certs[0].to_json();
                            if (a->json) break;
                            std::cout << "Certificate " << a->file << "\n" << std::flush;
                            show_certificate(certs[0], 2);
                        } else {
                            j = {{"type", "chain"}, {"certificates", nlohmann::json::array()}};
                            for (const auto& c : certs) j["certificates"].push_back(c.to_json());
                            if (a->json) break;
                            std::cout << "Chain of " << certs.size() << " certificates in " << a->file << "\n"
                                      << std::flush;
                            for (std::size_t i = 0; i < certs.size(); ++i) {
                                std::printf("  [%zu]\n", i);
                                show_certificate(certs[i], 4);
                                if (i + 1 < certs.size())
                                    row("signed by", certs[i].signed_by(certs[i + 1]) ? "the next one" : "NOT the next one", 4);
                            }
                        }
                        break;
                    }
                    case Kind::request: {
                        CertificateRequest r = CertificateRequest::parse(data, a->file);
                        j = r.to_json();
                        if (a->json) break;
                        std::cout << "Certificate request " << a->file << "\n" << std::flush;
                        row("subject", r.subject());
                        row("names", json_names(j["names"]));
                        row("key", r.key_name() + " (" + std::to_string(j["key_bits"].get<int>()) + " bits)");
                        row("signature", j["signature_valid"].get<bool>() ? "valid" : "INVALID");
                        row("requests CA", r.requests_ca() ? "YES" : "no");
                        std::vector<std::string> exts;
                        for (const auto& e : r.extensions()) exts.push_back(e.name + (e.critical ? " (critical)" : ""));
                        if (!exts.empty()) row("extensions", join(exts));
                        row("SPKI SHA-256", j["spki_sha256"].get<std::string>());
                        break;
                    }
                    case Kind::key: {
                        bool encrypted = has_label(data, "ENCRYPTED PRIVATE KEY") ||
                                         data.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
                        std::optional<Secret> pass;
                        if (encrypted)
                            pass = read_secret({"MINICA_PASSPHRASE", a->passphrase_file, "--passphrase-file",
                                                "the passphrase of " + a->file},
                                               false);
                        PrivateKey k = PrivateKey::from_pem(data, a->file, view(pass));
                        j = key_json(k, encrypted);
                        if (a->json) break;
                        std::cout << "Private key " << a->file << "\n" << std::flush;
                        row("key", std::string(to_string(k.type())) + " (" + std::to_string(k.bits()) + " bits)");
                        row("encrypted", encrypted ? "yes" : "no");
                        row("SPKI SHA-256", k.spki_sha256_hex());
                        row("SPKI pin", k.spki_pin());
                        break;
                    }
                    case Kind::pkcs12: {
                        // The passphrase from where sign --p12 and export take it.
                        Secret pass = read_secret({"MINICA_P12_PASSPHRASE", a->passphrase_file, "--passphrase-file",
                                                   "the passphrase of " + a->file},
                                                  false);
                        Pkcs12Contents p = from_pkcs12(data, pass.view(), a->file);
                        j = {{"type", "pkcs12"},
                             {"certificate", p.certificate.to_json()},
                             {"key", key_json(p.key, true)},
                             {"chain", nlohmann::json::array()}};
                        for (const auto& c : p.chain) j["chain"].push_back(c.to_json());
                        if (a->json) break;
                        std::cout << "PKCS#12 " << a->file << ": a certificate, its key and " << p.chain.size()
                                  << " more certificate(s)\n" << std::flush;
                        show_certificate(p.certificate, 2);
                        row("private key", std::string(to_string(p.key.type())) + " (" + std::to_string(p.key.bits()) +
                                               " bits), matches the certificate");
                        for (std::size_t i = 0; i < p.chain.size(); ++i) {
                            std::printf("  [chain %zu]\n", i);
                            show_certificate(p.chain[i], 4);
                        }
                        break;
                    }
                    case Kind::crl: {
                        Crl crl = Crl::parse(data, a->file);
                        j = crl_json(crl);
                        if (a->json) break;
                        std::cout << "CRL " << a->file << "\n" << std::flush;
                        row("issuer", crl.issuer());
                        row("number", std::to_string(crl.number()));
                        row("this update", format_time(crl.this_update()));
                        row("next update", describe_expiry(crl.next_update()));
                        row("revoked", std::to_string(j["revoked"].size()) + " certificate(s)");
                        for (const auto& e : j["revoked"])
                            std::printf("    %s  %s  %s\n", e["serial"].get<std::string>().c_str(),
                                        e["revoked_at"].get<std::string>().c_str(), e["reason"].get<std::string>().c_str());
                        break;
                    }
                }
                if (a->json) std::cout << j.dump(2) << "\n";
            }};
}

}  // namespace minica::cli
