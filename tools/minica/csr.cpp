// minica csr: a new key and a certificate signing request for NAME... (for a
// CA elsewhere, or `minica sign --csr` on another machine).
#include <iostream>

#include "cli.hpp"

namespace minica::cli {

namespace {
struct CsrArgs {
    std::vector<std::string> names;
    std::string key = "ec-p256";
    std::string out = ".";
    bool force = false;
};
}  // namespace

Verb add_csr(CLI::App& app, const Globals&) {
    auto a = std::make_shared<CsrArgs>();
    CLI::App* cmd = app.add_subcommand("csr", "write a new key and a CSR for NAME...");
    cmd->add_option("names", a->names, "names to request; the first names the output directory")->required();
    add_key_option(cmd, a->key, "key type");
    cmd->add_option("--out", a->out, "write into DIR/<first-name>/ (default: the current directory)");
    cmd->add_flag("--force", a->force, "replace existing files");

    return {cmd, [a] {
                RequestFiles written = write_request({.names = a->names, .key_type = parse_key_type(a->key),
                                                      .directory = a->out, .overwrite = a->force});
                std::cout << "Wrote " << with_article(to_string(written.key.type())) << " key and a request for "
                          << written.request.names().to_string() << "\n";
                print_files(written.files);
                std::cout << "Sign it with: minica sign --csr " << written.files.back().path.string() << "\n";
            }};
}

}  // namespace minica::cli
