#include "minica/pkcs12.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"

namespace minica {

using namespace detail;

std::string to_pkcs12(const Certificate& cert, const PrivateKey& key, const std::vector<Certificate>& chain,
                      std::string_view passphrase, std::string_view friendly_name) {
    const std::string context = "writing PKCS#12 for \"" + cert.subject() + "\"";
    if (passphrase.empty())
        throw Error(ErrorKind::invalid_argument, context + ": an empty passphrase protects nothing");
    if (passphrase.find('\0') != std::string_view::npos)
        throw Error(ErrorKind::invalid_argument, context + ": the passphrase contains a NUL character");
    if (!cert.matches(key))
        throw Error(ErrorKind::invalid_argument, context + ": the key does not match the certificate");

    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> ca(sk_X509_new_null(),
                                                                 [](STACK_OF(X509)* s) { sk_X509_free(s); });
    if (!ca) throw_openssl(ErrorKind::crypto, context);
    for (const auto& c : chain)
        if (sk_X509_push(ca.get(), c.native()) <= 0) throw_openssl(ErrorKind::crypto, context);

    struct Wiped {
        std::string s;
        ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
    } copy{std::string(passphrase)};
    const std::string& pass = copy.s;  // NUL-terminated for OpenSSL
    const std::string name(friendly_name);
    // mac_iter -1: no MAC yet; PKCS12_create would use SHA-1. Set SHA-256 below.
    Ptr<PKCS12> p12(PKCS12_create_ex(pass.c_str(), name.empty() ? nullptr : name.c_str(), key.native(),
                                     cert.native(), ca.get(), NID_aes_256_cbc, NID_aes_256_cbc, pkcs12_iterations,
                                     -1, 0, nullptr, nullptr));
    if (!p12) throw_openssl(ErrorKind::crypto, context);
    if (PKCS12_set_mac(p12.get(), pass.c_str(), static_cast<int>(pass.size()), nullptr, 0, pkcs12_iterations,
                       EVP_sha256()) != 1)
        throw_openssl(ErrorKind::crypto, context);

    return detail::to_der(i2d_PKCS12, static_cast<const PKCS12*>(p12.get()), "PKCS#12");
}

}  // namespace minica
