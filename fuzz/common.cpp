#include "common.hpp"

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <spdlog/spdlog.h>

#include "minica/log.hpp"

namespace fuzz {

void fail(std::string_view what) {
    std::fprintf(stderr, "==minica-fuzz== FINDING: %.*s\n", static_cast<int>(what.size()), what.data());
    std::fflush(stderr);
    std::abort();
}

bool strict() {
    static const bool on = [] {
        const char* v = std::getenv("MINICA_FUZZ_STRICT");
        return v != nullptr && v[0] != '\0' && v[0] != '0';
    }();
    return on;
}

void clear_openssl_errors() { ERR_clear_error(); }

}  // namespace fuzz

// Once per process, before the first input: the library's warnings (a leaf
// clamped to its issuer, ...) are not findings, and would drown libFuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    minica::logger()->set_level(spdlog::level::off);
    return 0;
}
