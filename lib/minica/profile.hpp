// The certificate profiles, defined once (smallstep's x509util): the flat
// template every certificate is built from, and the functions that fill it
// for a leaf and for a CA. Authority, the CA directory and the test fixture
// all build their certificates here.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "minica/names.hpp"
#include "minica/types.hpp"

namespace minica {

class Certificate;

// 397 days: under the 398-day limit browsers enforce for leaf certificates
// (CA/B Forum BR 6.3.2, Apple/Chrome policy), with a day of margin for clocks.
inline constexpr std::chrono::days default_leaf_validity{397};
inline constexpr std::chrono::days max_leaf_validity{397};
// Ten years for a root, five for an intermediate: long enough for a dev or
// internal CA, short enough to rotate (mkcert uses 10 years for its root).
inline constexpr std::chrono::days default_root_validity{3650};
inline constexpr std::chrono::days default_intermediate_validity{1825};
// notBefore is backdated by this much to absorb clock skew between machines.
inline constexpr std::chrono::minutes backdate{5};

// Key usage bits as in RFC 5280 (bit 0 = digitalSignature).
enum KeyUsage : unsigned {
    ku_digital_signature = 1u << 0,
    ku_key_encipherment = 1u << 2,
    ku_key_cert_sign = 1u << 5,
    ku_crl_sign = 1u << 6,
};

// The flat template every certificate is built from (Go's x509.Certificate).
struct CertificateTemplate {
    std::string serial;  // big-endian bytes; empty = fresh random 128-bit positive serial
    DistinguishedName subject;
    Time not_before{};
    Time not_after{};
    bool is_ca = false;
    std::optional<int> path_len;
    unsigned key_usage = 0;
    bool eku_server = false;
    bool eku_client = false;
    bool eku_email = false;  // emailProtection
    SubjectAltNames names;
    NameConstraints constraints;
    // Where the issuer's CRL is served (canonical_crl_url: http only): when
    // non-empty, a non-critical CRL Distribution Points extension with one
    // DistributionPoint whose fullName lists these URIs, no reasons, no
    // cRLIssuer (RFC 5280 4.2.1.13).
    std::vector<std::string> crl_urls;
};

// Each leaf profile as data: its extended key usages and how a sentence
// names it. The template, the CSR check, renewal and messages all read this.
struct ProfileUsage {
    Profile profile;
    bool server_auth, client_auth, email_protection;
    std::string_view description;  // "Issued a <description> certificate"
};
inline constexpr ProfileUsage profile_usages[] = {
    {Profile::server, true, false, false, "server"},
    {Profile::client, false, true, false, "client"},
    {Profile::both, true, true, false, "server and client"},
    // S/MIME and a TLS client, as mkcert gives email-only names: a mail
    // client signs with it, and so can the same person's browser.
    {Profile::email, false, true, true, "email and client"},
};
// The row of a leaf profile; Error(invalid_argument) for Profile::ca.
const ProfileUsage& usage_of(Profile profile);
// The leaf profile of a certificate's extended key usages (a renewal of one
// the inventory has no profile for): the exact row, else both, client or
// server by serverAuth and clientAuth.
Profile profile_of_usages(bool server_auth, bool client_auth, bool email_protection);
// The profile a request naming none gets: email when every name is an email
// address (a server certificate cannot serve an address), else server.
Profile default_profile(const SubjectAltNames& names);
// Error(invalid_argument) when the profile cannot serve the names at all: a
// server certificate (server or both) for email addresses only.
void check_profile_fits(Profile profile, const SubjectAltNames& names);

// What varies from one leaf to the next.
struct LeafSpec {
    SubjectAltNames names;
    Profile profile = Profile::server;
    KeyType key_type = KeyType::ec_p256;  // the certified key's type
    std::chrono::days validity = default_leaf_validity;
    Time now{};
    // Empty: the CN rule below.
    DistinguishedName subject;
    std::string serial;  // big-endian bytes; empty = random
    std::vector<std::string> crl_urls;  // the issuing CA's CRL (CertificateTemplate::crl_urls)
};

// The leaf profile:
//  - subject: spec.subject, else leaf_subject(): CN = the first DNS name (or
//    the address of an email-only certificate) when it fits RFC 5280's 64
//    characters, never an IP address or a URI; otherwise an empty subject,
//    and then the SAN extension is critical (RFC 5280 4.2.1.6);
//  - names: check_certifiable() (no IPv4-in-IPv6, no URI dot-segments);
//  - notBefore = now - backdate; notAfter = now + validity, clamped to end
//    no later than the issuer (with a warning in the log);
//  - keyUsage digitalSignature, plus keyEncipherment for RSA keys only
//    (ECDSA/EdDSA keys cannot encipher: RFC 8813, RFC 5480 3);
//  - EKU as the profile's row of profile_usages; never CA;
//  - CRL Distribution Points: spec.crl_urls, when any.
// Error(invalid_argument) for no names, a validity under a day or Profile::ca.
CertificateTemplate leaf_template(const LeafSpec& spec, Time issuer_not_after);
// The subject the leaf profile gives `names` (the CN rule above); CSRs use it too.
DistinguishedName leaf_subject(const SubjectAltNames& names);

// The CA profile (root or intermediate): keyCertSign, cRLSign and
// digitalSignature (to sign OCSP responses), no EKU (CA/B BR 7.1.2.1),
// notAfter clamped to the issuer's (`issuer_not_after`; none for a root).
// crl_urls: where the issuer's CRL is served (an intermediate's; a root has none).
CertificateTemplate ca_template(const DistinguishedName& subject, Time now, std::chrono::days validity,
                                std::optional<int> path_len, const NameConstraints& constraints,
                                std::optional<Time> issuer_not_after, std::vector<std::string> crl_urls = {});

// What a leaf's chain files hold, from one place: chain.pem is the
// intermediates (leaf excluded, root excluded), fullchain.pem the leaf then them.
std::string chain_pem(const std::vector<Certificate>& intermediates);
std::string fullchain_pem(const Certificate& leaf, const std::vector<Certificate>& intermediates);

}  // namespace minica
