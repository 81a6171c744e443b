#include "minica/profile.hpp"

#include <spdlog/spdlog.h>

#include "minica/certificate.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"

namespace minica {

namespace {
Time clamp_to_issuer(Time not_after, Time issuer_not_after, std::string_view what) {
    if (not_after <= issuer_not_after) return not_after;
    logger()->warn("the {} validity is shortened to end with the CA's, on {}", what, format_time(issuer_not_after));
    return issuer_not_after;
}
}  // namespace

CertificateTemplate leaf_template(const LeafSpec& spec, Time issuer_not_after) {
    if (spec.names.empty()) throw Error(ErrorKind::invalid_argument, "a certificate needs at least one name");
    if (spec.validity.count() <= 0) throw Error(ErrorKind::invalid_argument, "validity must be at least one day");
    if (spec.profile == Profile::ca)
        throw Error(ErrorKind::invalid_argument, "a leaf's profile is server, client or both, never ca");
    check_certifiable(spec.names);
    CertificateTemplate t;
    t.serial = spec.serial;
    t.subject = spec.subject.empty() ? leaf_subject(spec.names) : spec.subject;
    t.not_before = spec.now - backdate;
    t.not_after = clamp_to_issuer(spec.now + spec.validity, issuer_not_after, "certificate's");
    t.key_usage = ku_digital_signature;
    if (is_rsa(spec.key_type)) t.key_usage |= ku_key_encipherment;
    t.eku_server = spec.profile != Profile::client;
    t.eku_client = spec.profile != Profile::server;
    t.names = spec.names;
    return t;
}

DistinguishedName leaf_subject(const SubjectAltNames& names) {
    // A CN is read as a host name by verifiers that still look at it, and
    // OpenSSL checks it as a DNS name under DNS constraints: it carries the
    // first DNS name, or the address of an email-only certificate (S/MIME),
    // never an IP address or a URI.
    DistinguishedName dn;
    std::string cn;
    if (!names.dns.empty()) cn = names.dns.front();
    else if (names.ip.empty() && names.uri.empty() && !names.email.empty()) cn = names.email.front();
    if (cn.size() <= 64) dn.common_name = cn;
    return dn;
}

CertificateTemplate ca_template(const DistinguishedName& subject, Time now, std::chrono::days validity,
                                std::optional<int> path_len, const NameConstraints& constraints,
                                std::optional<Time> issuer_not_after) {
    if (subject.common_name.empty() && subject.organization.empty())
        throw Error(ErrorKind::invalid_argument, "a CA needs a name");
    if (validity.count() <= 0) throw Error(ErrorKind::invalid_argument, "CA validity must be at least one day");
    CertificateTemplate t;
    t.subject = subject;
    t.not_before = now - backdate;
    t.not_after = now + validity;
    if (issuer_not_after) t.not_after = clamp_to_issuer(t.not_after, *issuer_not_after, "intermediate's");
    t.is_ca = true;
    t.path_len = path_len;
    t.key_usage = ku_key_cert_sign | ku_crl_sign | ku_digital_signature;
    t.constraints = constraints;
    return t;
}

std::string chain_pem(const std::vector<Certificate>& intermediates) { return to_pem(intermediates); }

std::string fullchain_pem(const Certificate& leaf, const std::vector<Certificate>& intermediates) {
    return leaf.to_pem() + to_pem(intermediates);
}

}  // namespace minica
