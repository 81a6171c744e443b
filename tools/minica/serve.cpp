// minica serve: an online CA speaking ACME (RFC 8555) over HTTPS, and its
// CRL over plain HTTP: one call, acme::serve (lib/minica/acme/server.hpp).
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "minica/acme/server.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"

namespace minica::cli {

namespace {
struct ServeArgs {
    std::string listen = "127.0.0.1:14000";
    std::vector<std::string> hostnames;
    std::string external_url, http_listen, dns_resolver, tos, passphrase_file;
    int http01_port = 80, tls_alpn01_port = 443;
    bool eab_required = false;
    int days = 0, crl_days = 7, threads = 2;
    double validation_wait = 5;
};
}  // namespace

Verb add_serve(CLI::App& app, const Globals& g) {
    auto a = std::make_shared<ServeArgs>();
    CLI::App* cmd = app.add_subcommand("serve", "run an ACME server (RFC 8555) that issues from this CA");
    cmd->add_option("--listen", a->listen, "HTTPS address, IP:PORT (default 127.0.0.1:14000; port 0: any free one)");
    cmd->add_option("--hostname", a->hostnames,
                    "a name of this server, in its certificate; the first is the directory URL's host "
                    "(repeatable; default: localhost)");
    cmd->add_option("--external-url", a->external_url,
                    "the base URL clients use, when not https://HOSTNAME:PORT (behind a proxy)");
    cmd->add_option("--http-listen", a->http_listen,
                    "plain-HTTP address serving /crl (and /root-crl); record its URL with minica crl --url");
    cmd->add_option("--dns-resolver", a->dns_resolver,
                    "IP:PORT of the DNS server every validation lookup goes to (default: the system's)");
    cmd->add_option("--http-01-port", a->http01_port, "the port http-01 validation connects to (default 80)")
        ->check(CLI::Range(1, 65535));
    cmd->add_option("--tls-alpn-01-port", a->tls_alpn01_port,
                    "the port tls-alpn-01 validation connects to (default 443)")
        ->check(CLI::Range(1, 65535));
    cmd->add_flag("--eab-required", a->eab_required,
                  "accounts need an External Account Binding (keys from minica eab add)");
    cmd->add_option("--tos", a->tos, "terms-of-service URL accounts must agree to");
    cmd->add_option("--days", a->days, "validity of the certificates issued (default: the CA's policy, 90 days at most)")
        ->check(CLI::Range(1, 3650));
    cmd->add_option("--crl-days", a->crl_days, "nextUpdate of the CRL served (default 7; re-signed at half of it)")
        ->check(CLI::Range(1, 365));
    cmd->add_option("--validation-wait", a->validation_wait,
                    "seconds a challenge POST may wait for its validation before answering (default 5)")
        ->check(CLI::Range(0.0, 60.0));
    cmd->add_option("--threads", a->threads, "request threads (default 2)")->check(CLI::Range(1, 64));
    cmd->add_option("--passphrase-file", a->passphrase_file, "read the CA key passphrase from FILE");

    return {cmd, [a, &g] {
                const fs::path dir = g.resolved_ca_dir();
                CaDirectory ca = CaDirectory::open(dir);
                // A server's log is its output: info and above, with a time.
                auto log = logger();
                log->set_level(g.quiet ? spdlog::level::err : g.verbose ? spdlog::level::debug : spdlog::level::info);
                log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
                acme::ServeOptions o;
                o.ca_dir = dir;
                o.listen = a->listen;
                o.hostnames = a->hostnames;
                if (!a->external_url.empty()) o.external_url = a->external_url;
                if (!a->http_listen.empty()) o.http_listen = a->http_listen;
                if (!a->dns_resolver.empty()) o.dns_resolver = a->dns_resolver;
                o.http01_port = static_cast<std::uint16_t>(a->http01_port);
                o.tls_alpn01_port = static_cast<std::uint16_t>(a->tls_alpn01_port);
                o.eab_required = a->eab_required;
                if (!a->tos.empty()) o.terms_of_service = a->tos;
                if (a->days > 0) o.validity = std::chrono::days(a->days);
                o.crl_validity = std::chrono::days(a->crl_days);
                o.validation_wait = std::chrono::milliseconds(static_cast<long>(a->validation_wait * 1000));
                o.threads = a->threads;
                // Asked once, at start: the server signs without a person at hand.
                if (auto pass = ca_passphrase(ca, a->passphrase_file))
                    o.ca_passphrase = [p = std::string(pass->view())] { return p; };
                o.on_ready = [&g](const std::string& directory, const std::string& http) {
                    if (g.quiet) return;
                    std::cout << "ACME directory: " << directory << "\n";
                    if (!http.empty()) std::cout << "CRL: " << http << "/crl\n";
                    std::cout << std::flush;
                };
                const int rc = acme::serve(o);
                if (rc != 0) std::exit(rc);
            }};
}

}  // namespace minica::cli
