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
    std::vector<const Crl*> crls;     // when non-empty, revocation is checked for the whole chain
};

struct VerifyResult {
    bool ok = false;
    std::string reason;               // empty when ok; otherwise "<what> at depth N (<subject>)"
    std::vector<Certificate> chain;   // the verified chain, leaf first, root last
    explicit operator bool() const noexcept { return ok; }
};

// Strict RFC 5280 verification (X509_V_FLAG_X509_STRICT, partial chains refused).
// `untrusted` may contain intermediates in any order (a fullchain works).
VerifyResult verify_chain(const Certificate& leaf, const std::vector<Certificate>& untrusted,
                          const std::vector<Certificate>& roots, const VerifyOptions& options = {});

}  // namespace minica
