// Chain verification for a purpose, a host name or IP, at a given time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "minica/certificate.hpp"

namespace minica {

class Crl;

enum class Purpose { server, client, any };

struct VerifyOptions {
    Purpose purpose = Purpose::server;
    std::optional<std::string> host;  // DNS name to match against the SANs
    std::optional<std::string> ip;    // IP literal to match against the SANs
    std::optional<Time> at;           // default: now
    // When non-empty, revocation is checked for the whole chain (an expired
    // CRL fails, as it does in OpenSSL).
    std::vector<const Crl*> crls;
};

struct Revocation {
    std::string serial_hex;
    Time revoked_at{};
    std::string reason;  // the CRLReason name ("keyCompromise")
    std::string source;  // "the inventory <path>" or the CRL's file
};

struct VerifyResult {
    bool ok = false;
    // Empty when ok; otherwise "<what> at depth N (<subject>)", and for a
    // revoked certificate "certificate revoked on <date> (<reason>, <source>)
    // at depth N (<subject>)".
    std::string reason;
    std::vector<Certificate> chain;   // the verified chain, leaf first, root last
    std::optional<Revocation> revoked;
    // What did not fail the verification but should be fixed (an expired
    // published CRL when the inventory answered).
    std::vector<std::string> warnings;
    explicit operator bool() const noexcept { return ok; }
};

// "certificate revoked on <date> (<reason>, <source>)"
std::string describe(const Revocation& r);

// Strict RFC 5280 verification (X509_V_FLAG_X509_STRICT, partial chains refused).
// `untrusted` may contain intermediates in any order (a fullchain works).
VerifyResult verify_chain(const Certificate& leaf, const std::vector<Certificate>& untrusted,
                          const std::vector<Certificate>& roots, const VerifyOptions& options = {});

}  // namespace minica
