// RAII aliases for every OpenSSL handle the library touches (DESIGN §1, after
// BoringSSL's bssl::UniquePtr). Internal: not installed as public API surface
// beyond what the public headers need.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "minica/types.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace minica::detail {

template <class T> struct Free;
#define MINICA_OSSL_FREE(T, fn)                                   \
    template <> struct Free<T> {                                  \
        void operator()(T* p) const noexcept { fn(p); }           \
    }
MINICA_OSSL_FREE(BIO, BIO_free_all);
MINICA_OSSL_FREE(BIGNUM, BN_free);
MINICA_OSSL_FREE(EVP_PKEY, EVP_PKEY_free);
MINICA_OSSL_FREE(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
MINICA_OSSL_FREE(EVP_MD_CTX, EVP_MD_CTX_free);
MINICA_OSSL_FREE(EVP_MD, EVP_MD_free);
MINICA_OSSL_FREE(X509, X509_free);
MINICA_OSSL_FREE(X509_REQ, X509_REQ_free);
MINICA_OSSL_FREE(X509_CRL, X509_CRL_free);
MINICA_OSSL_FREE(X509_NAME, X509_NAME_free);
MINICA_OSSL_FREE(X509_EXTENSION, X509_EXTENSION_free);
MINICA_OSSL_FREE(X509_STORE, X509_STORE_free);
MINICA_OSSL_FREE(X509_STORE_CTX, X509_STORE_CTX_free);
MINICA_OSSL_FREE(X509_VERIFY_PARAM, X509_VERIFY_PARAM_free);
MINICA_OSSL_FREE(GENERAL_NAMES, GENERAL_NAMES_free);
MINICA_OSSL_FREE(ASN1_STRING, ASN1_STRING_free);
MINICA_OSSL_FREE(ASN1_OBJECT, ASN1_OBJECT_free);  // also ASN1_TIME, ASN1_INTEGER, ASN1_OCTET_STRING
MINICA_OSSL_FREE(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free);
MINICA_OSSL_FREE(SSL_CTX, SSL_CTX_free);
MINICA_OSSL_FREE(SSL, SSL_free);
MINICA_OSSL_FREE(PKCS12, PKCS12_free);
MINICA_OSSL_FREE(PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free);
MINICA_OSSL_FREE(NAME_CONSTRAINTS, NAME_CONSTRAINTS_free);
MINICA_OSSL_FREE(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free);
MINICA_OSSL_FREE(AUTHORITY_KEYID, AUTHORITY_KEYID_free);
MINICA_OSSL_FREE(CRL_DIST_POINTS, CRL_DIST_POINTS_free);
MINICA_OSSL_FREE(X509_ALGOR, X509_ALGOR_free);
MINICA_OSSL_FREE(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
MINICA_OSSL_FREE(OSSL_PARAM, OSSL_PARAM_free);
#undef MINICA_OSSL_FREE

template <class T> using Ptr = std::unique_ptr<T, Free<T>>;

// Memory OpenSSL allocated for us (i2d output, BN_bn2hex, ASN1_STRING_to_UTF8).
struct OpensslFree {
    void operator()(void* p) const noexcept { OPENSSL_free(p); }
};
template <class T> using OpensslMem = std::unique_ptr<T, OpensslFree>;

using BioPtr = Ptr<BIO>;
using BnPtr = Ptr<BIGNUM>;
using PkeyCtxPtr = Ptr<EVP_PKEY_CTX>;
using MdCtxPtr = Ptr<EVP_MD_CTX>;
using X509Ptr = Ptr<X509>;
using StorePtr = Ptr<X509_STORE>;
using StoreCtxPtr = Ptr<X509_STORE_CTX>;
using SslCtxPtr = Ptr<SSL_CTX>;
using SslPtr = Ptr<SSL>;

// A read-only memory BIO over a string_view (the data must outlive the BIO).
BioPtr mem_bio(std::string_view data);
// A digest fetched once per process ("SHA256", "SHA384", "SHA1"): passing
// EVP_sha256() and friends makes OpenSSL 3.0 fetch the algorithm again on
// every call.
const EVP_MD* digest(const char* name);  // also "SHA512"
// One-shot digest with a fetched algorithm; returns the digest's length.
unsigned digest_into(const char* name, std::string_view data, unsigned char* out);
// Everything written to a memory BIO, as a string.
std::string bio_string(BIO* bio);

[[noreturn]] void throw_der_error(const char* what);
// The DER of an OpenSSL object through its i2d function (i2d_X509, i2d_PUBKEY, ...);
// Error(crypto) "encoding <what>" when it fails.
template <class I2d, class T> std::string to_der(I2d i2d, T* obj, const char* what) {
    unsigned char* raw = nullptr;
    int n = i2d(obj, &raw);
    OpensslMem<unsigned char> owned(raw);
    if (n <= 0) throw_der_error(what);
    return std::string(reinterpret_cast<char*>(raw), static_cast<std::size_t>(n));
}

// The one ASN.1 time reader: Error(parse) "malformed time in <what>" for a
// time OpenSSL cannot read (never a silent epoch).
Time asn1_time(const ASN1_TIME* t, const char* what);
// An INTEGER as Certificate::serial_hex() writes it (upper case, no leading zeros).
std::string serial_hex(const ASN1_INTEGER* serial);
// A serial as big-endian bytes from hex (normalize_serial_hex's input forms),
// and bytes back as Certificate::serial_hex() writes them.
std::string serial_bytes(std::string_view hex);
std::string serial_hex_of_bytes(std::string_view bytes);
// The one name printer: "CN=x, O=y", most significant RDN last (as openssl
// prints), control characters escaped (XN_FLAG_ONELINE's ESC_CTRL), UTF-8
// kept. Never throws (verify callbacks use it); "" for a null name.
std::string name_line(const X509_NAME* name) noexcept;
// A string's UTF-8 (empty when it has none).
std::string utf8(const ASN1_STRING* s);
std::string base64(std::string_view data);
// base64url without padding (RFC 7515 §2, RFC 4648 §5): what JOSE and ACME
// carry. The decoder is strict, so that each value has one spelling (a
// signature or a thumbprint compared as text cannot be forged by respelling
// it): only A-Z a-z 0-9 - _, no padding, no whitespace, no length of 4k+1,
// and the unused low bits of the last character zero. nullopt otherwise.
std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);
std::string pem_encode(std::string_view label, std::string_view der);
// The DER of the first PEM block in `pem`, read by OpenSSL's PEM reader, when
// that block is `label` and has no headers; nullopt otherwise (the error
// queue cleared). Only the armour: the DER itself is not parsed.
std::optional<std::string> pem_block_der(std::string_view pem, std::string_view label);
// Hex SHA-256, lower case; with `sep`, upper case bytes separated by it ("AB:CD").
std::string sha256_hex(std::string_view data, char sep = 0);
// "sha256//BASE64" of an SPKI's SHA-256 (curl --pinnedpubkey, HPKP).
std::string spki_pin(std::string_view spki_der);
// A public key's SubjectPublicKeyInfo DER, byte for byte what i2d_PUBKEY
// writes, without OpenSSL 3.0's encoder set-up (it enumerates every encoder
// of every provider per call: ~60 us, more than an ECDSA verification).
// Written here for EC keys on P-256 or P-384 with a named curve and an
// uncompressed point, and for Ed25519; anything else
// goes through i2d_PUBKEY. Checked against i2d_PUBKEY in test_key and fuzz_csr.
std::string spki_der(EVP_PKEY* key);
// The same through i2d_PUBKEY only: the reference the tests compare with.
std::string spki_der_openssl(EVP_PKEY* key);

}  // namespace minica::detail
