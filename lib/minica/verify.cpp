#include "minica/verify.hpp"

#include <openssl/err.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/revocation.hpp"
#include "minica/text.hpp"

namespace minica {

using namespace detail;

std::string describe(const Revocation& r) {
    return "certificate revoked on " + format_time(r.revoked_at) + " (" + r.reason + ", " + r.source + ")";
}

VerifyResult verify_chain(const Certificate& leaf, const std::vector<Certificate>& untrusted,
                          const std::vector<Certificate>& roots, const VerifyOptions& options) {
    VerifyResult result;
    StorePtr store(X509_STORE_new());
    if (!store) throw_openssl(ErrorKind::crypto, "creating a certificate store");
    for (auto& r : roots)
        if (X509_STORE_add_cert(store.get(), r.native()) != 1) ERR_clear_error();  // duplicates are fine
    unsigned long flags = X509_V_FLAG_X509_STRICT;
    if (!options.crls.empty()) {
        for (auto* c : options.crls) X509_STORE_add_crl(store.get(), c->native());
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    }
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain(sk_X509_new_null(),
                                                                    [](STACK_OF(X509)* s) { sk_X509_free(s); });
    for (auto& c : untrusted) sk_X509_push(chain.get(), c.native());
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), chain.get()) != 1)
        throw_openssl(ErrorKind::crypto, "initialising verification");
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_flags(param, flags);
    // Level 2 is what a TLS handshake enforces under Debian's default SECLEVEL=2.
    X509_VERIFY_PARAM_set_auth_level(param, 2);
    if (options.purpose != Purpose::any)
        X509_VERIFY_PARAM_set_purpose(param, options.purpose == Purpose::server ? X509_PURPOSE_SSL_SERVER
                                                                                 : X509_PURPOSE_SSL_CLIENT);
    if (options.host && X509_VERIFY_PARAM_set1_host(param, options.host->c_str(), options.host->size()) != 1)
        throw Error(ErrorKind::invalid_argument, "invalid host name \"" + *options.host + "\"");
    if (options.ip && X509_VERIFY_PARAM_set1_ip_asc(param, options.ip->c_str()) != 1)
        throw Error(ErrorKind::invalid_argument, "invalid IP address \"" + *options.ip + "\"");
    X509_VERIFY_PARAM_set_time(param, options.at.value_or(now()).time_since_epoch().count());

    int rc = X509_verify_cert(ctx.get());
    if (rc == 1) {
        result.ok = true;
        STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
        for (int i = 0; i < sk_X509_num(verified); ++i) result.chain.push_back(Certificate::from_native(sk_X509_value(verified, i)));
    } else {
        int err = X509_STORE_CTX_get_error(ctx.get());
        int depth = X509_STORE_CTX_get_error_depth(ctx.get());
        X509* cur = X509_STORE_CTX_get_current_cert(ctx.get());
        result.reason = X509_verify_cert_error_string(err);
        if (err == X509_V_ERR_CERT_REVOKED && cur != nullptr) {
            const Certificate revoked = Certificate::from_native(cur);
            const std::string serial = revoked.serial_hex();
            for (const Crl* crl : options.crls)
                if (crl->issuer() == revoked.issuer())
                    for (const auto& e : crl->entries())
                        if (e.serial_hex == serial)
                            result.revoked = Revocation{serial, e.revoked_at, std::string(to_string(e.reason)),
                                                        "CRL of " + quote(crl->issuer())};
            if (result.revoked) result.reason = describe(*result.revoked);
        }
        if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
            // The names a verifier matches are the SANs, never the CN: say those.
            const SubjectAltNames names = leaf.names();
            result.reason += ": the certificate covers " + (names.empty() ? "no names" : names.to_string()) + ", not " +
                            (err == X509_V_ERR_HOSTNAME_MISMATCH ? options.host.value_or("") : options.ip.value_or(""));
        } else {
            result.reason += " at depth " + std::to_string(depth);
            if (cur != nullptr) result.reason += " (" + Certificate::from_native(cur).subject() + ")";
        }
    }
    ERR_clear_error();
    return result;
}

}  // namespace minica
