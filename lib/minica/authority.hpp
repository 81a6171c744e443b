// Authority: a CA certificate with its key. Creates roots and intermediates,
// issues leaves and signs CSRs under a policy. One signing primitive
// (sign_template) builds every certificate (DESIGN §3).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/certificate.hpp"
#include "minica/csr.hpp"
#include "minica/key.hpp"
#include "minica/names.hpp"
#include "minica/policy.hpp"
#include "minica/profile.hpp"

namespace minica {

// A fresh random positive serial: 16 bytes from the OS CSPRNG (RAND_priv_bytes),
// top bit cleared (positive) and the next bit set (always 16 octets long).
std::string random_serial();

struct CaOptions {
    DistinguishedName subject{"minica root CA", {}, {}, {}};  // CN (positional: keeps GCC 12's
                                                             // -Wmissing-field-initializers quiet for users)
    KeyType key_type = KeyType::ec_p256;
    // Default: default_root_validity for a root, default_intermediate_validity
    // for an intermediate (which also never outlives its issuer).
    std::optional<std::chrono::days> validity;
    std::optional<int> path_len;
    NameConstraints constraints;
    std::optional<Time> now;  // fixed clock for reproducible tests; default: system clock
    // An intermediate's CRL Distribution Points: where its issuer's (the
    // root's) CRL is served. Ignored for a root, which no CRL covers.
    std::vector<std::string> crl_urls;
};

struct LeafOptions {
    SubjectAltNames names;
    // Empty: CN = the primary name when it fits in 64 characters, otherwise an
    // empty subject with a critical SAN (RFC 5280 4.2.1.6).
    DistinguishedName subject;
    Profile profile = Profile::server;
    KeyType key_type = KeyType::ec_p256;
    std::chrono::days validity = default_leaf_validity;
    std::optional<Time> now;
    // Big-endian serial bytes, e.g. one an inventory reserved; empty = random_serial().
    std::string serial;
    // Certify this key instead of generating one (key_type is then ignored):
    // renewals that keep their key, or keys made before taking a lock.
    std::optional<PrivateKey> key;
    std::vector<std::string> crl_urls;  // CRL Distribution Points (CertificateTemplate::crl_urls)
};

struct SignOptions {
    Profile profile = Profile::server;
    std::chrono::days validity = default_leaf_validity;
    // Names to certify; empty = the names the CSR requests.
    SubjectAltNames names;
    std::optional<Time> now;
    std::string serial;  // as in LeafOptions
    std::vector<std::string> crl_urls;  // as in LeafOptions
};

struct IssuedCertificate {
    Certificate certificate;
    PrivateKey key;
    std::vector<Certificate> chain;  // leaf first, then the intermediates (no root)

    std::string cert_pem() const { return certificate.to_pem(); }
    std::string key_pem() const { return key.to_pem(); }
    std::string chain_pem() const;  // the intermediates only (may be empty)
    std::string fullchain_pem() const;  // leaf + intermediates
};

// What a CSR may ask of a leaf with `profile`: its self-signature must
// verify (Error(verify)); CA:TRUE, keyCertSign/cRLSign and extended key
// usages the profile does not grant are Error(policy). Other extensions are
// ignored (never copied).
void check_request(const CertificateRequest& csr, Profile profile);
// The CSR's key type; Error(policy) for a key minica does not certify.
KeyType request_key_type(const CertificateRequest& csr);

class Authority {
public:
    // Refuses (Error(policy)) a certificate that is not a CA or a key that
    // does not match it. `parents` are the issuers above it up to the root,
    // nearest first (empty for a root).
    Authority(Certificate certificate, PrivateKey key, std::vector<Certificate> parents = {});

    static Authority create_root(const CaOptions& options = {});
    Authority create_intermediate(const CaOptions& options) const;
    // ca.pem (the CA certificate, optionally followed by its parents) + key.
    static Authority load(const std::filesystem::path& cert_pem, const std::filesystem::path& key_pem,
                          std::optional<std::string_view> passphrase = std::nullopt);

    const Certificate& certificate() const noexcept { return cert_; }
    const PrivateKey& key() const noexcept { return key_; }
    const std::vector<Certificate>& parents() const noexcept { return parents_; }
    // The self-signed root at the top (this certificate for a root).
    const Certificate& root() const noexcept { return parents_.empty() ? cert_ : parents_.back(); }
    // Intermediates a leaf must send: this CA (if not a root) and its parents except the root.
    std::vector<Certificate> intermediates() const;

    // The signing primitive. Self-signed when `subject_key` is the CA's own key
    // and the template's subject is the CA's subject. Fills SKI/AKI, checks name
    // constraints of this CA, signs (SHA-256; SHA-384 for P-384 CAs; Ed25519),
    // and re-verifies the signature of every CA certificate and every RSA-signed
    // certificate (a faulty RSA-CRT signature leaks the key).
    Certificate sign_template(const CertificateTemplate& tmpl, std::string_view subject_spki_der) const;

    // Refuses (Error(policy)) names outside the name constraints of this CA
    // or of any CA above it.
    void check_names(const SubjectAltNames& names) const;

    // New key + leaf. Throws Error(invalid_argument) for no names,
    // Error(policy) for names outside this CA's constraints.
    IssuedCertificate issue(const LeafOptions& options) const;

    // Signs a CSR under a policy: checks the CSR signature, refuses CA:TRUE
    // and names the policy/constraints do not allow, and builds the certificate
    // from scratch (only the public key and allowed names come from the CSR).
    Certificate sign(const CertificateRequest& csr, const Policy& policy,
                     const SignOptions& options = {}) const;

    // Low-level pieces for other signed structures (CRLs): the CA's subject
    // Name DER, its key identifier, and a signature over `tbs` with the
    // AlgorithmIdentifier DER that goes with it.
    const std::string& subject_der() const;
    const std::string& key_id() const;
    std::string sign_bytes(std::string_view tbs, std::string& algorithm_identifier) const;

private:
    struct State;
    Authority(Certificate certificate, PrivateKey key, std::shared_ptr<const State> state);  // what signing needs, computed once: issuer name DER, SKI, constraints, digest
    Certificate cert_;
    PrivateKey key_;
    std::vector<Certificate> parents_;
    std::shared_ptr<const State> state_;
};

}  // namespace minica
