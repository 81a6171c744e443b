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
    const ProfileUsage& usage = usage_of(spec.profile);
    check_certifiable(spec.names);
    CertificateTemplate t;
    t.serial = spec.serial;
    t.subject = spec.subject.empty() ? leaf_subject(spec.names) : spec.subject;
    t.not_before = spec.now - backdate;
    t.not_after = clamp_to_issuer(spec.now + spec.validity, issuer_not_after, "certificate's");
    t.key_usage = ku_digital_signature;
    if (is_rsa(spec.key_type)) t.key_usage |= ku_key_encipherment;
    t.eku_server = usage.server_auth;
    t.eku_client = usage.client_auth;
    t.eku_email = usage.email_protection;
    t.names = spec.names;
    for (const auto& url : spec.crl_urls) t.crl_urls.push_back(canonical_crl_url(url));
    return t;
}

const ProfileUsage& usage_of(Profile profile) {
    for (const auto& u : profile_usages)
        if (u.profile == profile) return u;
    throw Error(ErrorKind::invalid_argument, "a leaf's profile is " + names_of(leaf_profiles) + ", never " +
                                                 std::string(to_string(profile)));
}

Profile profile_of_usages(bool server_auth, bool client_auth, bool email_protection) {
    for (const auto& u : profile_usages)
        if (u.server_auth == server_auth && u.client_auth == client_auth && u.email_protection == email_protection)
            return u.profile;
    return server_auth && client_auth ? Profile::both : client_auth ? Profile::client : Profile::server;
}

namespace {
bool only_emails(const SubjectAltNames& names) {
    return !names.email.empty() && names.dns.empty() && names.ip.empty() && names.uri.empty();
}
}  // namespace

Profile default_profile(const SubjectAltNames& names) { return only_emails(names) ? Profile::email : Profile::server; }

void check_profile_fits(Profile profile, const SubjectAltNames& names) {
    if (usage_of(profile).server_auth && only_emails(names))
        throw Error(ErrorKind::invalid_argument,
                    "a " + std::string(usage_of(profile).description) +
                        " certificate needs a DNS name or an IP address, and " + names.to_string() +
                        " holds email addresses only (use the email or client profile)");
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
                                std::optional<Time> issuer_not_after, std::vector<std::string> crl_urls) {
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
    for (const auto& url : crl_urls) t.crl_urls.push_back(canonical_crl_url(url));
    return t;
}

std::string chain_pem(const std::vector<Certificate>& intermediates) { return to_pem(intermediates); }

std::string fullchain_pem(const Certificate& leaf, const std::vector<Certificate>& intermediates) {
    return leaf.to_pem() + to_pem(intermediates);
}

}  // namespace minica
