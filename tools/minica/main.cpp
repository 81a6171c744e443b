// minica: a private certificate authority on the command line. One verb per
// file; each is one library call. This file parses, sets up logging, runs
// the verb and turns every failure into one line and an exit code:
// 0 success, 1 refused or failed, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "cli_docs.hpp"
#include "minica/error.hpp"

namespace {

// One line, whatever the message holds.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

// The library logs through the logger named "minica" (log.hpp); register it
// here, on stderr, before anything can create the default one. A plain sink:
// no colour detection, no thread pool, nothing that costs at startup.
void setup_logging(const minica::cli::Globals& g) {
    auto logger = std::make_shared<spdlog::logger>("minica", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%n: %l: %v");
    logger->set_level(g.verbose ? spdlog::level::debug : g.quiet ? spdlog::level::err : spdlog::level::warn);
    spdlog::register_logger(logger);
}

// The verb: the first argument that is not a global option (or the value
// of --ca-dir), or "" when there is none.
std::string_view verb_on_command_line(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--ca-dir") {
            ++i;
            continue;
        }
        if (arg.starts_with("-")) continue;
        return arg;
    }
    return {};
}

// -h, --help or --version anywhere: CLI11 answers it, verb or not.
bool asks_help_or_version(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help" || arg == "--version") return true;
    }
    return false;
}

// `verb` uses keys (all verbs but list), and there is no request for help or the version.
bool wants_openssl(std::string_view verb, int argc, char** argv) {
    return !asks_help_or_version(argc, argv) && !verb.empty() && verb != "list";
}

}  // namespace

int main(int argc, char** argv_in) {
    // `minica help [VERB]` is read as `minica [VERB] --help` from here on.
    std::vector<char*> args = minica::cli::help_as_flag(argc, argv_in, verb_on_command_line(argc, argv_in));
    argc = static_cast<int>(args.size()) - 1;
    char** argv = args.data();
    // minica sets every algorithm and parameter it uses itself: it does not
    // read openssl.cnf (which costs startup time and could change behaviour),
    // nor free OpenSSL's tables one by one at exit (the process is ending).
    //
    // Nor does it fill OpenSSL's legacy name tables with every cipher and
    // digest: OpenSSL 3.0 copies those tables into its provider name map at
    // the first algorithm fetch, a good part of a `minica sign` (bench/sign.sh
    // --analyze counts instructions). The lookups that still go through the legacy tables are by NID
    // or name: the digest of a signature when a certificate, CSR or CRL is
    // verified, and the cipher a traditional encrypted PEM key names in its
    // DEK-Info header. Those algorithms (all the default provider has for
    // them) are registered here; everything else is fetched from the
    // provider. tests/e2e_cli_foreign.py verifies chains signed with each
    // digest and reads keys encrypted with each cipher.
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                            OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                        nullptr);
    for (const EVP_MD* md : {EVP_md5(), EVP_sha1(), EVP_sha224(), EVP_sha256(), EVP_sha384(), EVP_sha512(),
                             EVP_sha512_224(), EVP_sha512_256(), EVP_sha3_224(), EVP_sha3_256(), EVP_sha3_384(),
                             EVP_sha3_512(), EVP_sm3(), EVP_ripemd160()})
        EVP_add_digest(md);
    for (const EVP_CIPHER* c :
         {EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc(), EVP_aria_128_cbc(), EVP_aria_192_cbc(),
          EVP_aria_256_cbc(), EVP_camellia_128_cbc(), EVP_camellia_192_cbc(), EVP_camellia_256_cbc(),
          EVP_des_ede3_cbc()})
        EVP_add_cipher(c);
    // The random generator: Hash_DRBG over SHA-256 (NIST SP 800-90A, 256-bit
    // strength, seeded from the OS like the default) instead of CTR_DRBG over
    // AES-256: instantiating CTR_DRBG fetches a cipher, which builds OpenSSL's
    // whole cipher table;
    // SHA-256 is fetched anyway for the signatures. Must precede any RAND use.
    RAND_set_DRBG_type(nullptr, "HASH-DRBG", nullptr, nullptr, "SHA256");

    // OpenSSL's remaining one-time set-up (its error strings, which it loads
    // when a thread first records an error or a mark, and the provider's
    // key-management methods, built all at once at the first fetch) starts at once on a second thread, while the command line
    // is parsed and the CA directory and inventory are read; the verb then
    // finds it done.
    const std::string_view named = verb_on_command_line(argc, argv);
    std::jthread warm_up;
    if (wants_openssl(named, argc, argv)) {
        try {
            warm_up = std::jthread([] {
                // Signals are the main thread's business (init's clean-up
                // takes them with sigwait): one delivered to this thread
                // would kill the process before any handler saw it.
                sigset_t all;
                sigfillset(&all);
                ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
                OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
                EVP_KEYMGMT_free(EVP_KEYMGMT_fetch(nullptr, "EC", nullptr));
            });
        } catch (const std::system_error&) {
            // no thread to be had: the verb does it when it needs it
        }
    }

    using namespace minica::cli;
    Globals g;
    CLI::App app{"minica: a private certificate authority and PKI toolkit", "minica"};
    app.require_subcommand(1);
    app.fallthrough();  // global flags may follow the verb: minica sign x -v
    app.set_version_flag("--version", std::string("minica ") + MINICA_VERSION);
    app.add_option("--ca-dir", g.ca_dir,
                   "CA directory (default: $MINICA_CA_DIR, else $XDG_DATA_HOME/minica, else ~/.local/share/minica)");
    auto* verbose = app.add_flag("-v,--verbose", g.verbose, "log debug messages and OpenSSL's error queue");
    app.add_flag("-q,--quiet", g.quiet, "print nothing but errors")->excludes(verbose);

    // Only the verb on the command line is built (setting up every verb's
    // options is work a run does not need); all of them when there is
    // none, for the usage. An unknown one is named, with the nearest verb
    // of this table (so every verb added here is suggested too).
    static constexpr std::pair<std::string_view, Verb (*)(CLI::App&, const Globals&)> all_verbs[] = {
        {"init", add_init}, {"sign", add_sign},     {"csr", add_csr},   {"inspect", add_inspect},
        {"verify", add_verify}, {"export", add_export}, {"list", add_list}, {"revoke", add_revoke},
        {"crl", add_crl},   {"renew", add_renew},   {"trust", add_trust}, {"serve", add_serve},
        {"eab", add_eab}};
    std::vector<std::string_view> names;
    for (const auto& [name, add] : all_verbs) names.push_back(name);
    const bool known = std::find(names.begin(), names.end(), named) != names.end();
    // The hidden __describe (man page, completion) is not in the table: it
    // is no typo, and every verb is built for it to describe.
    const bool describing = named == "__describe";
    if (!known && !describing && !named.empty()) {
        const std::string_view near = nearest_name(named, names);
        std::cerr << "minica: unknown verb '" << named << "' "
                  << (near.empty() ? "(minica help lists the verbs)" : "(did you mean '" + std::string(near) + "'?)")
                  << "\n";
        return 2;
    }
    std::vector<Verb> verbs;
    for (const auto& [name, add] : all_verbs)
        if (!known || name == named) verbs.push_back(add(app, g));
    auto describe = minica::cli_docs::add_describe_verb(app);
    verbs.push_back({describe.command, describe.run});
    if (named.empty() && !asks_help_or_version(argc, argv)) {
        std::cout << app.help();  // as git does: the usage on stdout; 2, as for any usage error
        return 2;
    }
    try {
        app.parse(argc, argv);
        setup_logging(g);
        if (g.quiet) silence_stdout();
        for (auto& verb : verbs)
            if (verb.command->parsed()) {
                verb.run();
                std::fflush(stdout);
                return 0;
            }
        throw CLI::RequiredError("a verb");
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        std::cerr << "minica: " << one_line(e.what()) << dash_hint(e.what(), argc, argv) << " (minica --help for usage)\n";
        return 2;
    } catch (const minica::Error& e) {
        std::fflush(stdout);
        std::cerr << "minica: " << one_line(e.what()) << "\n";
        if (g.verbose && !e.openssl_queue().empty())
            std::cerr << "minica: OpenSSL: " << one_line(e.openssl_queue()) << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::cerr << "minica: " << one_line(e.what()) << "\n";
        return 1;
    }
}
