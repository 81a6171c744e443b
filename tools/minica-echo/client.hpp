// minica-echo connect: a verifying mTLS client for the echo protocol.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace echo {

struct ConnectOptions {
    std::string target;  // HOST:PORT
    std::filesystem::path ca;
    std::optional<std::filesystem::path> cert, key;
    std::optional<std::string> servername;  // default: HOST
    std::optional<std::string> pin;         // sha256//BASE64
    double timeout = 10;                    // connect, handshake and each echo
    std::size_t max_line = 16384;           // longest echo accepted (the server's default --max-line)
};

int connect(const ConnectOptions& options);

// The exit codes, for --help.
extern const char* const connect_exit_codes;

}  // namespace echo
