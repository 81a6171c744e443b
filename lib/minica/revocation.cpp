#include "minica/revocation.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "minica/authority.hpp"
#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"

namespace minica {

using namespace detail;

namespace {
struct ReasonName {
    RevocationReason reason;
    const char* name;
};
constexpr ReasonName reason_names[] = {
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::ca_compromise, "cACompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
    {RevocationReason::certificate_hold, "certificateHold"},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn"},
    {RevocationReason::aa_compromise, "aACompromise"},
};


}  // namespace

std::string_view to_string(RevocationReason r) noexcept {
    for (auto& rn : reason_names)
        if (rn.reason == r) return rn.name;
    return "unspecified";
}

RevocationReason parse_revocation_reason(std::string_view name) {
    for (auto& rn : reason_names)
        if (name == rn.name) return rn.reason;
    std::string all;
    for (auto& rn : reason_names) all += (all.empty() ? "" : ", ") + std::string(rn.name);
    throw Error(ErrorKind::invalid_argument, "unknown revocation reason \"" + std::string(name) + "\" (expected one of " + all + ")");
}

Crl Crl::build(const Authority& issuer, const std::vector<RevokedCertificate>& revoked, const CrlOptions& options) {
    static const std::string oid_aki = der::encode_oid("2.5.29.35");
    static const std::string oid_crl_number = der::encode_oid("2.5.29.20");
    static const std::string oid_reason = der::encode_oid("2.5.29.21");
    if (options.validity.count() <= 0) throw Error(ErrorKind::invalid_argument, "CRL validity must be at least one day");
    Time this_update = options.this_update.value_or(now());
    Time next_update = this_update + options.validity;
    std::string alg_probe;
    issuer.sign_bytes("", alg_probe);  // learn the AlgorithmIdentifier (cheap next to the list itself)

    der::Writer w;
    w.sequence([&] {
        w.integer(1);  // v2
        w.raw(alg_probe);
        w.raw(issuer.subject_der());
        w.time(this_update);
        w.time(next_update);
        if (!revoked.empty()) {
            w.sequence([&] {
                for (auto& r : revoked) {
                    w.sequence([&] {
                        w.unsigned_integer(detail::serial_bytes(r.serial_hex));
                        w.time(r.revoked_at);
                        // RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent.
                        if (r.reason != RevocationReason::unspecified)
                            w.sequence([&] {
                                w.sequence([&] {
                                    w.oid(oid_reason);
                                    w.nested(der::OCTET_STRING, [&] {
                                        char v = static_cast<char>(r.reason);
                                        w.tlv(der::ENUMERATED, std::string_view(&v, 1));
                                    });
                                });
                            });
                    });
                }
            });
        }
        w.nested(der::context_constructed(0), [&] {
            w.sequence([&] {
                w.sequence([&] {
                    w.oid(oid_aki);
                    w.nested(der::OCTET_STRING, [&] { w.sequence([&] { w.tlv(der::context(0), issuer.key_id()); }); });
                });
                w.sequence([&] {
                    w.oid(oid_crl_number);
                    w.nested(der::OCTET_STRING, [&] {
                        std::string be;
                        for (int i = 7; i >= 0; --i) be.push_back(static_cast<char>((options.number >> (8 * i)) & 0xff));
                        w.unsigned_integer(be);
                    });
                });
            });
        });
    });
    std::string tbs = w.take();
    std::string alg;
    std::string sig = issuer.sign_bytes(tbs, alg);
    der::Writer out;
    out.sequence([&] {
        out.raw(tbs);
        out.raw(alg);
        out.bit_string(sig);
    });
    Crl crl = parse(out.take(), "new CRL");
    if (!crl.signed_by(issuer.certificate()))
        throw Error(ErrorKind::crypto, "checking the CRL just signed: signature does not verify");
    return crl;
}

Crl Crl::parse(std::string_view data, std::string_view source) {
    const std::string context = "reading CRL from " + std::string(source);
    Crl out;
    if (data.find("-----BEGIN") != std::string_view::npos) {
        BioPtr bio = mem_bio(data);
        X509_CRL* raw = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
        if (raw == nullptr) {
            std::string q = drain_openssl_errors();
            throw Error(ErrorKind::parse, context + ": no valid PEM CRL (malformed or truncated)", q);
        }
        out.crl_ = std::shared_ptr<X509_CRL>(raw, X509_CRL_free);
        out.der_ = detail::to_der(i2d_X509_CRL, static_cast<const X509_CRL*>(raw), "CRL");
    } else {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
        X509_CRL* raw = d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size()));
        if (raw == nullptr) {
            std::string q = drain_openssl_errors();
            throw Error(ErrorKind::parse, context + ": malformed DER CRL", q);
        }
        out.crl_ = std::shared_ptr<X509_CRL>(raw, X509_CRL_free);
        out.der_.assign(data);
    }
    return out;
}

Crl Crl::load(const std::filesystem::path& path) {
    return parse(read_file(path, "CRL"), path.string());
}

std::string Crl::to_pem() const { return pem_encode("X509 CRL", der_); }

std::uint64_t Crl::number() const {
    Ptr<ASN1_STRING> n(static_cast<ASN1_STRING*>(X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, nullptr, nullptr)));
    if (!n) return 0;
    uint64_t v = 0;
    if (ASN1_INTEGER_get_uint64(&v, n.get()) != 1) return 0;
    return v;
}

Time Crl::this_update() const { return asn1_time(X509_CRL_get0_lastUpdate(crl_.get()), "CRL"); }
Time Crl::next_update() const {
    const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl_.get());
    return t == nullptr ? Time{} : asn1_time(t, "CRL");  // absent: no promise of a next one
}

std::string Crl::issuer() const {
    return detail::name_line(X509_CRL_get_issuer(crl_.get()));
}

std::vector<RevokedCertificate> Crl::entries() const {
    std::vector<RevokedCertificate> out;
    STACK_OF(X509_REVOKED)* revs = X509_CRL_get_REVOKED(crl_.get());
    for (int i = 0; i < sk_X509_REVOKED_num(revs); ++i) {
        X509_REVOKED* r = sk_X509_REVOKED_value(revs, i);
        RevokedCertificate e;
        e.serial_hex = detail::serial_hex(X509_REVOKED_get0_serialNumber(r));
        e.revoked_at = asn1_time(X509_REVOKED_get0_revocationDate(r), "CRL entry");
        int crit = 0;
        Ptr<ASN1_STRING> reason(static_cast<ASN1_STRING*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr)));
        if (reason) e.reason = static_cast<RevocationReason>(ASN1_ENUMERATED_get(reason.get()));
        out.push_back(std::move(e));
    }
    return out;
}

bool Crl::is_revoked(std::string_view serial_hex) const {
    const std::string want = normalize_serial_hex(serial_hex);
    for (auto& e : entries())
        if (e.serial_hex == want) return true;
    return false;
}

bool Crl::signed_by(const Certificate& issuer) const {
    int r = X509_CRL_verify(crl_.get(), X509_get0_pubkey(issuer.native()));
    ERR_clear_error();
    return r == 1;
}

}  // namespace minica
