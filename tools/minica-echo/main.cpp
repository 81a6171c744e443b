// minica-echo: an mTLS echo server (serve), a verifying client (connect) and
// a handshake benchmark (bench), all on minica's hardened TLS contexts.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "bench.hpp"
#include "cli_docs.hpp"
#include "client.hpp"
#include "common.hpp"
#include "minica/error.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
    // OpenSSL writes to sockets with write(2): a peer that has gone must be an
    // error return (EPIPE), not a signal that kills the server.
    std::signal(SIGPIPE, SIG_IGN);

    CLI::App app{"minica-echo: mTLS echo server, client and benchmark over minica's hardened TLS contexts",
                 "minica-echo"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("minica-echo ") + MINICA_VERSION);
    app.fallthrough();
    std::string log_level = "info";
    bool verbose = false;
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (default info)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_flag("-v,--verbose", verbose, "debug logging, and OpenSSL's error queue with errors");

    echo::ServeOptions so;
    auto* serve = app.add_subcommand("serve", "serve the line echo (or HTTPS with --http) over mutual TLS");
    serve->add_option("--cert", so.cert, "server certificate, then any intermediates (e.g. fullchain.pem)")->required();
    serve->add_option("--key", so.key, "its private key (PEM)")->required();
    serve->add_option("--ca", so.ca, "the CA certificate(s) client certificates must chain to")->required();
    serve->add_option("--crl", so.crl, "a CRL of the client certificates' CA: revoked clients are refused");
    serve->add_option("--listen", so.listen, "address:port to listen on; port 0 picks one (default 127.0.0.1:8443)");
    serve->add_flag("--http", so.http, "answer HTTP/1.1 requests (a small page, HSTS) instead of echoing lines");
    serve->add_option("--handshake-timeout", so.handshake_timeout, "seconds a client has to finish the handshake (default 10)");
    serve->add_option("--idle-timeout", so.idle_timeout, "seconds a connection may stay idle (default 300)");
    serve->add_option("--max-line", so.max_line, "longest line, or HTTP request head, in bytes (default 16384)");
    serve->add_option("--max-conns", so.max_conns, "most simultaneous connections; more are refused (default: the fd limit)");
    serve->add_option("--threads", so.threads, "I/O threads (default: one per core)");
    serve->add_option("--tickets", so.tickets, "TLS 1.3 session tickets sent per handshake (ids into the server's session cache, valid 5 minutes); 0: no resumption (default 1)");
    serve->add_option("--drain-timeout", so.drain_timeout, "on SIGINT/SIGTERM, seconds pending writes may take (default 5)");
    serve->footer(
        "Prints \"listening on ADDRESS:PORT\" on stdout once ready, logs every connection on stderr.\n"
        "SIGINT or SIGTERM: stop accepting, let pending echoes finish, close, exit 0.");

    echo::ConnectOptions co;
    auto* conn = app.add_subcommand("connect", "send stdin's lines to an echo server over mutual TLS, print the echoes");
    conn->add_option("target", co.target, "HOST:PORT")->required();
    conn->add_option("--ca", co.ca, "the CA certificate(s) the server's certificate must chain to")->required();
    conn->add_option("--cert", co.cert, "client certificate, then any intermediates");
    conn->add_option("--key", co.key, "its private key (PEM)");
    conn->add_option("--servername", co.servername, "the name the server's certificate must match, sent as SNI (default: HOST)");
    conn->add_option("--pin", co.pin, "sha256//BASE64 of the server's public key (SPKI), as curl --pinnedpubkey");
    conn->add_option("--timeout", co.timeout, "seconds for the connect, the handshake and each echo (default 10)");
    conn->add_option("--max-line", co.max_line, "longest line sent or echo accepted, in bytes (default 16384)");
    conn->footer(echo::connect_exit_codes);

    echo::BenchOptions bo;
    auto* bench = app.add_subcommand("bench", "measure full mTLS handshakes per second against an echo server");
    bench->add_option("target", bo.target, "HOST:PORT")->required();
    bench->add_option("--ca", bo.ca, "the CA certificate(s) the server's certificate must chain to")->required();
    bench->add_option("--cert", bo.cert, "client certificate")->required();
    bench->add_option("--key", bo.key, "its private key")->required();
    bench->add_option("--servername", bo.servername, "the name the server's certificate must match (default: HOST)");
    bench->add_option("--connections", bo.connections, "concurrent connections (default 32)");
    bench->add_option("--duration", bo.duration, "seconds of load, or of holding with --hold (default 10)");
    bench->add_flag("--json", bo.json, "print the results as JSON");
    bench->add_option("--hold", bo.hold, "open N connections (--connections at a time) and keep them idle for --duration");
    bench->add_option("--threads", bo.threads, "client threads (default: one per core)");
    bench->add_option("--payload", bo.payload, "bytes echoed per connection, newline included (default 64)");
    bench->add_option("--timeout", bo.timeout, "seconds one connection attempt may take (default 10)");
    bench->footer(
        "Each connection: TCP connect, full mTLS handshake (no resumption), one echo, close_notify.\n"
        "Reports handshakes/s, latency percentiles (connect to echo) and client CPU ms per handshake.");

    // Hidden: prints the man page or shell completion (tools/common/cli_docs.hpp).
    auto describe = minica::cli_docs::add_describe_verb(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        // One line, as minica's: "minica-echo: context: reason".
        std::string what = e.what();
        std::replace(what.begin(), what.end(), '\n', ' ');
        std::cerr << "minica-echo: " << what << " (minica-echo --help for usage)\n";
        return echo::exit_usage;
    }

    try {
        echo::setup_logging(verbose ? std::string("debug") : log_level);
        if (*serve) return echo::serve(so);
        if (*conn) return echo::connect(co);
        if (*bench) return echo::bench(bo);
        if (*describe.command) {
            describe.run();
            return echo::exit_ok;
        }
        return echo::exit_usage;
    } catch (const echo::Failure& f) {
        std::cerr << "minica-echo: " << f.message << "\n";
        return f.code;
    } catch (const minica::Error& e) {
        std::cerr << "minica-echo: " << e.what() << "\n";
        if (verbose && !e.openssl_queue().empty()) std::cerr << "  OpenSSL: " << e.openssl_queue() << "\n";
        return echo::exit_error;
    } catch (const std::exception& e) {
        std::cerr << "minica-echo: " << e.what() << "\n";
        return echo::exit_error;
    }
}
