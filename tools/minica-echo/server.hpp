// minica-echo serve: the mTLS echo (or --http) server.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace echo {

struct ServeOptions {
    std::filesystem::path cert;  // leaf, then intermediates (fullchain.pem)
    std::filesystem::path key;
    std::filesystem::path ca;    // roots (or intermediates) client certificates must chain to
    std::optional<std::filesystem::path> crl;
    std::string listen = "127.0.0.1:8443";
    bool http = false;
    double handshake_timeout = 10;  // a client gets this long to finish the handshake
    double idle_timeout = 300;      // and this long between reads (or write progress)
    std::size_t max_line = 16384;   // longest line (or HTTP request head) accepted
    std::size_t max_conns = 0;      // 0: the file-descriptor limit less a reserve
    unsigned threads = 0;           // 0: one per core
    int tickets = 1;                // TLS 1.3 session tickets per handshake (stateful: ids into the
                                    // server's session cache, 5 minutes; 0: no resumption)
    double drain_timeout = 5;       // on SIGINT/SIGTERM, how long pending writes may take
};

// Runs until SIGINT/SIGTERM; returns the exit code.
int serve(const ServeOptions& options);

}  // namespace echo
