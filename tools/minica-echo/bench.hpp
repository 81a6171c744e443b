// minica-echo bench: full mTLS handshakes per second, or idle connections held.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace echo {

struct BenchOptions {
    std::string target;  // HOST:PORT
    std::filesystem::path ca, cert, key;
    std::optional<std::string> servername;
    unsigned connections = 32;  // concurrent connections (openers, with --hold)
    double duration = 10;       // seconds of load (of holding, with --hold)
    bool json = false;
    std::size_t hold = 0;       // > 0: open this many connections and keep them idle
    unsigned threads = 0;       // 0: one per core
    std::size_t payload = 64;   // bytes echoed per connection, newline included
    double timeout = 10;        // per connection attempt
};

int bench(const BenchOptions& options);

}  // namespace echo
