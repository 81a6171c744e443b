// What every fuzz target shares: the one rule about exceptions (minica::Error
// is the library refusing the input; anything else is a bug), and how a
// finding that is not a sanitizer report is reported (a message, then abort,
// so libFuzzer keeps the input as crash-*).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "minica/error.hpp"

namespace fuzz {

[[noreturn]] void fail(std::string_view what);

inline void require(bool ok, std::string_view what) {
    if (!ok) fail(what);
}

// MINICA_FUZZ_STRICT=1 also fails on divergences that may be deliberate
// (minica refusing what OpenSSL takes, trailing bytes OpenSSL ignores);
// run.sh leaves it off, so CI fails only on crashes and broken promises.
bool strict();

// Runs f. Returns false when it throws minica::Error (a refusal); any other
// exception is a finding.
template <class F> bool attempt(std::string_view what, F&& f) {
    try {
        f();
        return true;
    } catch (const minica::Error&) {
        return false;
    } catch (const std::exception& e) {
        fail(std::string(what) + " threw " + typeid(e).name() + " (not minica::Error): " + e.what());
    } catch (...) {
        fail(std::string(what) + " threw something that is not a std::exception");
    }
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Clears what OpenSSL calls made directly by a target left in the error queue.
void clear_openssl_errors();

}  // namespace fuzz
