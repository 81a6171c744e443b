#include "minica/detail/ossl.hpp"

#include <climits>
#include <ctime>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "minica/certificate.hpp"
#include "minica/detail/der.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"

namespace minica::detail {

const EVP_MD* digest(const char* name) {
    static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    static EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
    static EVP_MD* sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    std::string_view n(name);
    const EVP_MD* md = n == "SHA256"   ? sha256
                       : n == "SHA384" ? sha384
                       : n == "SHA512" ? sha512
                       : n == "SHA1"   ? sha1
                                       : nullptr;
    if (md == nullptr) throw_openssl(ErrorKind::crypto, "fetching digest " + std::string(n));
    return md;
}

unsigned digest_into(const char* name, std::string_view data, unsigned char* out) {
    unsigned len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, digest(name), nullptr) != 1)
        throw_openssl(ErrorKind::crypto, std::string("computing ") + name);
    return len;
}

BioPtr mem_bio(std::string_view data) {
    if (data.size() > INT_MAX) throw Error(ErrorKind::invalid_argument, "input too large");
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) throw_openssl(ErrorKind::crypto, "allocating a memory BIO");
    return bio;
}

std::string bio_string(BIO* bio) {
    char* p = nullptr;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

std::string sha256_hex(std::string_view data, char sep) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    digest_into("SHA256", data, md);
    static const char* hex = "0123456789abcdef";
    static const char* HEX = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < sizeof md; ++i) {
        if (sep != 0 && i != 0) out.push_back(sep);
        const char* h = sep != 0 ? HEX : hex;
        out.push_back(h[md[i] >> 4]);
        out.push_back(h[md[i] & 15]);
    }
    return out;
}

std::string base64(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string base64url_encode(std::string_view data) {
    std::string out = base64(data);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

namespace {
// The value of a base64url character, or -1.
int base64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}
}  // namespace

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;  // 6 bits cannot end an octet
    std::string out;
    out.reserve(text.size() * 3 / 4);
    unsigned acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = base64url_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
            acc &= (1u << bits) - 1;
        }
    }
    // Left-over bits (2 or 4) must be zero: "QQ" and "QR" would both read "A".
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

std::optional<std::string> pem_block_der(std::string_view pem, std::string_view label) {
    BioPtr bio = mem_bio(pem);
    char* name_raw = nullptr;
    char* header_raw = nullptr;
    unsigned char* data_raw = nullptr;
    long len = 0;
    const int read = PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len);
    OpensslMem<char> name(name_raw), header(header_raw);
    OpensslMem<unsigned char> data(data_raw);
    if (read != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    if (name.get() != label || (header && header.get()[0] != '\0')) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(data.get()), static_cast<std::size_t>(len));
}

std::string pem_encode(std::string_view label, std::string_view der) {
    std::string b64 = base64(der);
    std::string out;
    out.reserve(b64.size() + b64.size() / 64 + 2 * label.size() + 40);
    out.append("-----BEGIN ").append(label).append("-----\n");
    for (std::size_t i = 0; i < b64.size(); i += 64) {
        out.append(b64, i, 64);
        out.push_back('\n');
    }
    out.append("-----END ").append(label).append("-----\n");
    return out;
}

void throw_der_error(const char* what) { throw_openssl(ErrorKind::crypto, std::string("encoding ") + what); }

Time asn1_time(const ASN1_TIME* t, const char* what) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        throw Error(ErrorKind::parse, std::string("malformed time in ") + what);
    }
    return Time{std::chrono::seconds{timegm(&tm)}};
}

std::string serial_hex(const ASN1_INTEGER* serial) {
    BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!bn) throw_openssl(ErrorKind::crypto, "reading serial number");
    if (BN_is_zero(bn.get())) return "0";
    OpensslMem<char> hex(BN_bn2hex(bn.get()));
    if (!hex) throw_openssl(ErrorKind::crypto, "reading serial number");
    std::string out(hex.get());
    if (!out.empty() && out[0] == '-') return out.erase(1, out.find_first_not_of("-0") - 1);
    return out.substr(out.find_first_not_of('0'));  // BN_bn2hex pads to whole octets
}

std::string serial_bytes(std::string_view hex) {
    std::string clean = normalize_serial_hex(hex);
    if (clean.size() % 2) clean.insert(clean.begin(), '0');
    auto val = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    std::string out;
    for (std::size_t i = 0; i < clean.size(); i += 2) out.push_back(static_cast<char>(val(clean[i]) * 16 + val(clean[i + 1])));
    return out;
}

std::string serial_hex_of_bytes(std::string_view bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    std::size_t first = out.find_first_not_of('0');
    return first == std::string::npos ? "0" : out.substr(first);
}

std::string name_line(const X509_NAME* name) noexcept {
    if (name == nullptr) return {};
    try {
        BioPtr bio(BIO_new(BIO_s_mem()));
        if (!bio) return {};
        X509_NAME_print_ex(bio.get(), name, 0,
                           (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) | ASN1_STRFLGS_UTF8_CONVERT);
        return printable(bio_string(bio.get()));  // C1 controls and invalid UTF-8 too
    } catch (...) {
        return {};
    }
}

std::string utf8(const ASN1_STRING* s) {
    unsigned char* raw = nullptr;
    int len = ASN1_STRING_to_UTF8(&raw, s);
    OpensslMem<unsigned char> owned(raw);
    if (len < 0) {
        ERR_clear_error();
        return {};
    }
    return std::string(reinterpret_cast<char*>(raw), static_cast<std::size_t>(len));
}

std::string spki_pin(std::string_view spki_der) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = digest_into("SHA256", spki_der, md);
    return "sha256//" + base64(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string spki_der_openssl(EVP_PKEY* key) { return to_der(i2d_PUBKEY, key, "public key"); }

std::string spki_der(EVP_PKEY* key) {
    if (key == nullptr) return spki_der_openssl(key);  // the error, as OpenSSL gives it
    unsigned char point[1 + 2 * 48];
    std::size_t len = 0;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[32] = {0}, encoding[32] = {0}, form[32] = {0};
        std::size_t glen = 0, elen = 0, flen = 0;
        // The curve by name (OpenSSL writes explicit parameters otherwise),
        // the point uncompressed (OpenSSL writes it in the key's form, which
        // the encoded-public-key parameter does not follow).
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) == 1 &&
            EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding, &elen) == 1 &&
            std::string_view(encoding, elen) == OSSL_PKEY_EC_ENCODING_GROUP &&
            EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form, sizeof form, &flen) == 1 &&
            std::string_view(form, flen) == OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED &&
            EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point, &len) == 1 &&
            len > 0 && point[0] == 0x04) {
            const std::string_view g(group, glen);
            const std::string* curve = g == "prime256v1" ? &der::oid_p256() : g == "secp384r1" ? &der::oid_p384() : nullptr;
            if (curve != nullptr) return der::ec_spki(*curve, std::string_view(reinterpret_cast<char*>(point), len));
        }
        ERR_clear_error();
    } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        len = sizeof point;
        if (EVP_PKEY_get_raw_public_key(key, point, &len) == 1 && len == 32)
            return der::ed25519_spki(std::string_view(reinterpret_cast<char*>(point), len));
        ERR_clear_error();
    }
    return spki_der_openssl(key);
}

}  // namespace minica::detail
