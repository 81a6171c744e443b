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

namespace {
Ptr<PKCS12> parse_pkcs12(std::string_view der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    return Ptr<PKCS12>(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
}
}  // namespace

bool is_pkcs12(std::string_view der) {
    const bool parsed = parse_pkcs12(der) != nullptr;
    ERR_clear_error();
    return parsed;
}

Pkcs12Contents from_pkcs12(std::string_view der, std::string_view passphrase, std::string_view source) {
    const std::string context = "reading PKCS#12 " + std::string(source);
    Ptr<PKCS12> p12 = parse_pkcs12(der);
    if (!p12) throw_openssl(ErrorKind::parse, context);
    struct Wiped {
        std::string s;
        ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
    } pass{std::string(passphrase)};
    if (PKCS12_verify_mac(p12.get(), pass.s.c_str(), static_cast<int>(pass.s.size())) != 1)
        throw_openssl(ErrorKind::passphrase, context + ": wrong passphrase (or a damaged file)");
    EVP_PKEY* key = nullptr;
    X509* cert = nullptr;
    STACK_OF(X509)* ca = nullptr;
    if (PKCS12_parse(p12.get(), pass.s.c_str(), &key, &cert, &ca) != 1) throw_openssl(ErrorKind::parse, context);
    Ptr<X509> cert_owner(cert);
    std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> ca_owner(
        ca, [](STACK_OF(X509)* s) { sk_X509_pop_free(s, X509_free); });
    if (key == nullptr || cert == nullptr) {
        EVP_PKEY_free(key);
        throw Error(ErrorKind::parse, context + ": no certificate with its private key in it");
    }
    Pkcs12Contents out{Certificate::from_native(cert), PrivateKey(key), {}};
    for (int i = 0; ca != nullptr && i < sk_X509_num(ca); ++i) out.chain.push_back(Certificate::from_native(sk_X509_value(ca, i)));
    return out;
}

}  // namespace minica
