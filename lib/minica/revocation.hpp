// Certificate revocation lists: build (v2, CRL number, AKI, reason codes) and parse.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"

typedef struct X509_crl_st X509_CRL;

namespace minica {

class Authority;

// RFC 5280 5.3.1 CRLReason codes.
enum class RevocationReason : int {
    unspecified = 0,
    key_compromise = 1,
    ca_compromise = 2,
    affiliation_changed = 3,
    superseded = 4,
    cessation_of_operation = 5,
    certificate_hold = 6,
    privilege_withdrawn = 9,
    aa_compromise = 10,
};
inline constexpr std::array all_revocation_reasons{
    RevocationReason::unspecified,         RevocationReason::key_compromise,   RevocationReason::ca_compromise,
    RevocationReason::affiliation_changed, RevocationReason::superseded,       RevocationReason::cessation_of_operation,
    RevocationReason::certificate_hold,    RevocationReason::privilege_withdrawn, RevocationReason::aa_compromise};
// "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
// "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"
std::string_view to_string(RevocationReason r) noexcept;
RevocationReason parse_revocation_reason(std::string_view name);

struct RevokedCertificate {
    std::string serial_hex;  // as Certificate::serial_hex()
    Time revoked_at{};
    RevocationReason reason = RevocationReason::unspecified;
};

struct CrlOptions {
    std::uint64_t number = 1;  // must grow with every CRL the CA issues
    std::optional<Time> this_update;  // default now
    std::chrono::days validity{7};    // nextUpdate = thisUpdate + validity
};

class Crl {
public:
    static Crl build(const Authority& issuer, const std::vector<RevokedCertificate>& revoked,
                     const CrlOptions& options);
    static Crl parse(std::string_view data, std::string_view source = "memory");  // PEM or DER
    static Crl load(const std::filesystem::path& path);

    const std::string& der() const noexcept { return der_; }
    std::string to_pem() const;
    X509_CRL* native() const noexcept { return crl_.get(); }

    std::uint64_t number() const;
    Time this_update() const;
    Time next_update() const;
    std::string issuer() const;
    std::vector<RevokedCertificate> entries() const;
    bool is_revoked(std::string_view serial_hex) const;
    bool signed_by(const Certificate& issuer) const;

private:
    std::string der_;
    std::shared_ptr<X509_CRL> crl_;
};

}  // namespace minica
