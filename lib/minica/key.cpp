#include "minica/key.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"

namespace minica {

using namespace detail;


namespace {

using der::oid_ec_public_key;
using der::oid_ed25519;
using der::oid_p256;
using der::oid_p384;

// Which type is this EVP_PKEY? Throws for anything minica does not support.
KeyType classify(EVP_PKEY* pkey, std::string_view source) {
    if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyType::ed25519;
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
            std::string_view g(group, len);
            if (g == "prime256v1" || g == "P-256") return KeyType::ec_p256;
            if (g == "secp384r1" || g == "P-384") return KeyType::ec_p384;
            throw Error(ErrorKind::invalid_argument,
                        std::string(source) + ": unsupported EC curve " + std::string(g) + " (use P-256 or P-384)");
        }
        throw Error(ErrorKind::invalid_argument, std::string(source) + ": EC key without a named curve");
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits == 2048) return KeyType::rsa_2048;
        if (bits == 3072) return KeyType::rsa_3072;
        if (bits == 4096) return KeyType::rsa_4096;
        throw Error(ErrorKind::invalid_argument, std::string(source) + ": unsupported RSA key size " +
                                                     std::to_string(bits) + " (use 2048, 3072 or 4096)");
    }
    throw Error(ErrorKind::invalid_argument,
                std::string(source) + ": unsupported key type " +
                    (EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?"));
}

// A keygen context per thread and key type, reused: creating one costs a
// provider fetch each time.
EVP_PKEY_CTX* keygen_ctx(KeyType type) {
    thread_local PkeyCtxPtr ctxs[6];
    auto& slot = ctxs[static_cast<int>(type)];
    if (slot) return slot.get();
    PkeyCtxPtr ctx;
    switch (type) {
        case KeyType::ec_p256:
        case KeyType::ec_p384:
            ctx.reset(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
            if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
                EVP_PKEY_CTX_set_group_name(ctx.get(), type == KeyType::ec_p256 ? "P-256" : "P-384") != 1)
                throw_openssl(ErrorKind::crypto, "generating EC key");
            break;
        case KeyType::ed25519:
            ctx.reset(EVP_PKEY_CTX_new_from_name(nullptr, "ED25519", nullptr));
            if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) throw_openssl(ErrorKind::crypto, "generating Ed25519 key");
            break;
        default: {
            int bits = type == KeyType::rsa_2048 ? 2048 : type == KeyType::rsa_3072 ? 3072 : 4096;
            ctx.reset(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
            if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) != 1)
                throw_openssl(ErrorKind::crypto, "generating RSA key");
        }
    }
    slot = std::move(ctx);
    return slot.get();
}

std::string octet_param(EVP_PKEY* pkey, const char* name) {
    unsigned char buf[160];
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(pkey, name, buf, sizeof buf, &len) != 1)
        throw_openssl(ErrorKind::crypto, "reading key parameter");
    return std::string(reinterpret_cast<char*>(buf), len);
}

std::string ec_private_scalar(EVP_PKEY* pkey, std::size_t width) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1) throw_openssl(ErrorKind::crypto, "reading EC private key");
    BnPtr owned(bn);
    std::string out(width, '\0');
    if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(width)) < 0)
        throw_openssl(ErrorKind::crypto, "encoding EC private key");
    BN_clear(bn);
    return out;
}

// The OpenSSL encoder path, for RSA and encrypted keys.
std::string encode_with_openssl(EVP_PKEY* pkey, const char* format, const char* structure,
                                std::optional<std::string_view> passphrase, int selection) {
    OSSL_ENCODER_CTX* ectx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, format, structure, nullptr);
    if (ectx == nullptr) throw_openssl(ErrorKind::crypto, "encoding key");
    std::unique_ptr<OSSL_ENCODER_CTX, decltype(&OSSL_ENCODER_CTX_free)> guard(ectx, OSSL_ENCODER_CTX_free);
    if (passphrase) {
        // PBES2 with AES-256-CBC; the KDF is chosen below by a PKCS#8 path (scrypt).
        if (OSSL_ENCODER_CTX_set_cipher(ectx, "AES-256-CBC", nullptr) != 1 ||
            OSSL_ENCODER_CTX_set_passphrase(ectx, reinterpret_cast<const unsigned char*>(passphrase->data()),
                                            passphrase->size()) != 1)
            throw_openssl(ErrorKind::crypto, "encrypting key");
    }
    unsigned char* data = nullptr;
    size_t len = 0;
    if (OSSL_ENCODER_to_data(ectx, &data, &len) != 1) throw_openssl(ErrorKind::crypto, "encoding key");
    std::string out(reinterpret_cast<char*>(data), len);
    OPENSSL_clear_free(data, len);
    return out;
}

}  // namespace

PrivateKey::PrivateKey(EVP_PKEY* pkey) {
    if (pkey == nullptr) throw Error(ErrorKind::invalid_argument, "null private key");
    pkey_ = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);  // owns it from here, even if the checks throw
    type_ = classify(pkey, "private key");
    if (type_ == KeyType::ec_p256 || type_ == KeyType::ec_p384 || type_ == KeyType::ed25519)
        public_raw_ = octet_param(pkey, OSSL_PKEY_PARAM_PUB_KEY);
}

PrivateKey PrivateKey::generate(KeyType type) {
    EVP_PKEY* pkey = nullptr;
    if (EVP_PKEY_generate(keygen_ctx(type), &pkey) != 1)
        throw_openssl(ErrorKind::crypto, "generating " + std::string(to_string(type)) + " key");
    PrivateKey key(pkey);
    return key;
}

namespace {

// Unencrypted PKCS#8 EC (P-256, P-384) and Ed25519 keys are read here rather
// than through OpenSSL 3.0's decoders, whose set-up alone (every decoder of
// every provider is enumerated per call) costs more than the rest of a
// `minica sign` (bench/sign.sh --analyze). Anything else, or anything unexpected, returns
// nullptr and takes the decoder path, which also gives the error messages.
// The key is checked (public = private x G) before it is trusted.
EVP_PKEY* pkey_from_pkcs8(std::string_view der_in) {
    using namespace der;
    std::uint8_t tag = 0;
    std::string_view in = der_in, info, version, alg, priv;
    if (!next(in, tag, info) || tag != SEQUENCE || !in.empty()) return nullptr;
    if (!next(info, tag, version) || tag != INTEGER || version != std::string_view("\x00", 1)) return nullptr;
    if (!next(info, tag, alg) || tag != SEQUENCE) return nullptr;
    if (!next(info, tag, priv) || tag != OCTET_STRING || !info.empty()) return nullptr;  // no attributes
    std::string_view alg_oid, params;
    if (!next(alg, tag, alg_oid) || tag != OID) return nullptr;
    if (alg_oid == oid_ed25519()) {
        std::string_view seed;
        if (!alg.empty() || !next(priv, tag, seed) || tag != OCTET_STRING || !priv.empty() || seed.size() != 32)
            return nullptr;
        return EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr,
                                               reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
    }
    if (alg_oid != oid_ec_public_key()) return nullptr;
    if (!next(alg, tag, params) || tag != OID || !alg.empty()) return nullptr;
    std::size_t width = params == oid_p256() ? 32 : params == oid_p384() ? 48 : 0;
    if (width == 0) return nullptr;
    // ECPrivateKey ::= SEQUENCE { 1, OCTET STRING d, [0] curve OPTIONAL, [1] BIT STRING public OPTIONAL }
    std::string_view ec, v, d, field, pub;
    if (!next(priv, tag, ec) || tag != SEQUENCE || !priv.empty()) return nullptr;
    if (!next(ec, tag, v) || tag != INTEGER || v != std::string_view("\x01", 1)) return nullptr;
    if (!next(ec, tag, d) || tag != OCTET_STRING || d.size() != width) return nullptr;
    while (!ec.empty()) {
        if (!next(ec, tag, field)) return nullptr;
        if (tag == context_constructed(0)) continue;  // the curve again (already known)
        if (tag != context_constructed(1) || !next(field, tag, pub) || tag != BIT_STRING || !field.empty())
            return nullptr;
    }
    // The public point must be there (OpenSSL 3.0 would not derive it), uncompressed.
    if (pub.size() != 2 + 2 * width || pub[0] != 0 || pub[1] != 0x04) return nullptr;
    pub.remove_prefix(1);
    BnPtr bn(BN_secure_new());
    if (!bn || BN_bin2bn(reinterpret_cast<const unsigned char*>(d.data()), static_cast<int>(d.size()), bn.get()) == nullptr)
        return nullptr;
    // The file's public point must be its scalar's: d in [1, n-1] and d*G equal
    // to it (OpenSSL's decoder would take any point, and every signature made
    // with such a key would fail to verify under its certificate). One
    // fixed-base multiplication, a fifth of EVP_PKEY_pairwise_check's cost
    // (that also multiplies the point by the group order).
    {
        std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
            EC_GROUP_new_by_curve_name_ex(nullptr, nullptr, width == 32 ? NID_X9_62_prime256v1 : NID_secp384r1),
            EC_GROUP_free);
        if (!group) return nullptr;
        std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> q(EC_POINT_new(group.get()), EC_POINT_free);
        unsigned char derived[1 + 2 * 48];
        std::size_t n = 0;
        bool in_range = !BN_is_zero(bn.get()) && BN_cmp(bn.get(), EC_GROUP_get0_order(group.get())) < 0;
        if (q && in_range && EC_POINT_mul(group.get(), q.get(), bn.get(), nullptr, nullptr, nullptr) == 1)
            n = EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, derived, sizeof derived, nullptr);
        if (!in_range || n != pub.size() || CRYPTO_memcmp(derived, pub.data(), n) != 0)
            throw Error(ErrorKind::parse, "the public key in the file does not match its private key",
                        drain_openssl_errors());
    }
    Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, width == 32 ? "P-256" : "P-384", 0) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, bn.get()) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size()) != 1)
        return nullptr;
    Ptr<OSSL_PARAM> params_list(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params_list || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEYPAIR, params_list.get()) != 1)
        return nullptr;
    return pkey;
}

// The DER of the one "PRIVATE KEY" PEM block in `pem` when it is written the
// way OpenSSL writes it, or nothing (and the caller asks OpenSSL's decoder).
// The fast path only takes what PEM_read_bio_PrivateKey reads the same way:
// the BEGIN line starts a line, then lines of 64 base64 characters (the last
// 1-64, '=' padding only at its end), then the END line at the start of a
// line; no headers, no blank lines, one block. Anything else goes to OpenSSL,
// so text before BEGIN on its line or a block on one line is refused as
// OpenSSL refuses it (fuzz_key checks the two agree on every input).
std::optional<std::string> plain_pkcs8_der(std::string_view pem) {
    static constexpr std::string_view begin = "-----BEGIN PRIVATE KEY-----", end = "-----END PRIVATE KEY-----";
    std::size_t b = pem.find(begin);
    if (b == std::string_view::npos || (b != 0 && pem[b - 1] != '\n')) return std::nullopt;
    if (pem.find("-----BEGIN", b + 1) != std::string_view::npos) return std::nullopt;
    auto next_line = [&](std::size_t& at, std::string_view& line) {  // false at the end of input
        if (at >= pem.size()) return false;
        std::size_t nl = pem.find('\n', at);
        std::size_t stop = nl == std::string_view::npos ? pem.size() : nl;
        line = pem.substr(at, stop - at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        at = nl == std::string_view::npos ? pem.size() : nl + 1;
        return true;
    };
    std::size_t at = b;
    std::string_view line;
    if (!next_line(at, line) || line != begin) return std::nullopt;
    auto is_b64 = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    };
    std::string b64;
    bool last = false;  // a line shorter than 64 (or with padding) was seen
    while (true) {
        if (!next_line(at, line)) {
            OPENSSL_cleanse(b64.data(), b64.size());
            return std::nullopt;
        }
        if (line == end) break;
        std::size_t pad = line.empty() ? 0 : line.size() - 1 - line.find_last_not_of('=');
        if (last || line.empty() || line.size() > 64 || pad > 2 || line.size() == pad ||
            !std::all_of(line.begin(), line.end() - static_cast<std::ptrdiff_t>(pad), is_b64)) {
            OPENSSL_cleanse(b64.data(), b64.size());
            return std::nullopt;
        }
        last = line.size() < 64 || pad > 0;
        b64.append(line);
    }
    if (b64.empty() || b64.size() % 4 != 0) {
        OPENSSL_cleanse(b64.data(), b64.size());
        return std::nullopt;
    }
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t pad = b64[b64.size() - 1] == '=' ? (b64[b64.size() - 2] == '=' ? 2 : 1) : 0;
    std::string der(b64.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
    OPENSSL_cleanse(b64.data(), b64.size());
    if (n < 0 || static_cast<std::size_t>(n) < pad) {
        OPENSSL_cleanse(der.data(), der.size());
        return std::nullopt;
    }
    der.resize(static_cast<std::size_t>(n) - pad);
    return der;
}

}  // namespace

PrivateKey PrivateKey::from_pem(std::string_view pem, std::string_view source,
                                std::optional<std::string_view> passphrase) {
    if (auto der = plain_pkcs8_der(pem)) {
        EVP_PKEY* fast = nullptr;
        try {
            fast = pkey_from_pkcs8(*der);
        } catch (const Error& e) {
            OPENSSL_cleanse(der->data(), der->size());
            throw Error(e.kind(), "reading private key from " + std::string(source) + ": " + e.what(), e.openssl_queue());
        }
        OPENSSL_cleanse(der->data(), der->size());
        ERR_clear_error();
        if (fast != nullptr) {
            try {
                return PrivateKey(fast);
            } catch (const Error& e) {
                throw Error(e.kind(), "reading private key from " + std::string(source) + ": " + e.what());
            }
        }
    }
    const std::string context = "reading private key from " + std::string(source);
    if (pem.find("-----BEGIN") == std::string_view::npos)
        throw Error(ErrorKind::parse, context + ": no PEM private key found");
    bool encrypted = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
                     pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
    if (encrypted && !passphrase)
        throw Error(ErrorKind::passphrase, context + ": the key is encrypted and no passphrase was given");
    EVP_PKEY* pkey = nullptr;
    OSSL_DECODER_CTX* dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, nullptr, EVP_PKEY_KEYPAIR, nullptr, nullptr);
    if (dctx == nullptr) throw_openssl(ErrorKind::crypto, context);
    std::unique_ptr<OSSL_DECODER_CTX, decltype(&OSSL_DECODER_CTX_free)> guard(dctx, OSSL_DECODER_CTX_free);
    if (passphrase)
        OSSL_DECODER_CTX_set_passphrase(dctx, reinterpret_cast<const unsigned char*>(passphrase->data()),
                                        passphrase->size());
    auto data = reinterpret_cast<const unsigned char*>(pem.data());
    size_t len = pem.size();
    if (OSSL_DECODER_from_data(dctx, &data, &len) != 1 || pkey == nullptr) {
        std::string queue = drain_openssl_errors();
        if (encrypted)
            throw Error(ErrorKind::passphrase, context + ": wrong passphrase or corrupt encrypted key", queue);
        throw Error(ErrorKind::parse, context + ": malformed or truncated PEM key", queue);
    }
    try {
        PrivateKey key(pkey);
        return key;
    } catch (const Error& e) {
        throw Error(e.kind(), context + ": " + e.what());
    }
}

PrivateKey PrivateKey::load(const std::filesystem::path& path, std::optional<std::string_view> passphrase) {
    std::string pem = read_file(path, "private key");
    auto key = from_pem(pem, path.string(), passphrase);
    OPENSSL_cleanse(pem.data(), pem.size());
    return key;
}

std::string PrivateKey::to_der() const {
    der::Writer w;
    switch (type_) {
        case KeyType::ec_p256:
        case KeyType::ec_p384: {
            // PrivateKeyInfo { 0, {id-ecPublicKey, curve}, OCTET STRING ECPrivateKey{1, d, [1] pub} }
            // exactly as OpenSSL writes it (no [0] parameters inside, RFC 5915 + PKCS#11 12.11).
            std::size_t width = type_ == KeyType::ec_p256 ? 32 : 48;
            std::string d = ec_private_scalar(pkey_.get(), width);
            const std::string& pub = public_raw_;
            w.sequence([&] {
                w.integer(0);
                w.sequence([&] {
                    w.oid(oid_ec_public_key());
                    w.oid(type_ == KeyType::ec_p256 ? oid_p256() : oid_p384());
                });
                w.nested(der::OCTET_STRING, [&] {
                    w.sequence([&] {
                        w.integer(1);
                        w.octet_string(d);
                        w.nested(der::context_constructed(1), [&] { w.bit_string(pub); });
                    });
                });
            });
            OPENSSL_cleanse(d.data(), d.size());
            return w.take();
        }
        case KeyType::ed25519: {
            unsigned char priv[32];
            size_t len = sizeof priv;
            if (EVP_PKEY_get_raw_private_key(pkey_.get(), priv, &len) != 1 || len != 32)
                throw_openssl(ErrorKind::crypto, "encoding Ed25519 key");
            w.sequence([&] {
                w.integer(0);
                w.sequence([&] { w.oid(oid_ed25519()); });
                w.nested(der::OCTET_STRING, [&] {
                    w.octet_string(std::string_view(reinterpret_cast<char*>(priv), 32));
                });
            });
            OPENSSL_cleanse(priv, sizeof priv);
            return w.take();
        }
        default:
            return encode_with_openssl(pkey_.get(), "DER", "PrivateKeyInfo", std::nullopt, EVP_PKEY_KEYPAIR);
    }
}

std::string PrivateKey::to_pem(std::optional<std::string_view> passphrase) const {
    if (!passphrase) {
        std::string der = to_der();
        std::string pem = pem_encode("PRIVATE KEY", der);
        OPENSSL_cleanse(der.data(), der.size());
        return pem;
    }
    // Encrypted PKCS#8: PBES2 + AES-256-CBC with scrypt as the KDF
    // (N=2^14, r=8, p=1: the scrypt parameters OpenSSL's pkcs8 -scrypt uses).
    std::string der = to_der();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    Ptr<PKCS8_PRIV_KEY_INFO> p8;
    PKCS8_PRIV_KEY_INFO* raw = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
    OPENSSL_cleanse(der.data(), der.size());
    if (raw == nullptr) throw_openssl(ErrorKind::crypto, "encrypting key");
    p8.reset(raw);
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof salt) != 1) throw_openssl(ErrorKind::crypto, "encrypting key");
    X509_ALGOR* alg = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), salt, sizeof salt, nullptr, 1 << 14, 8, 1);
    if (alg == nullptr) throw_openssl(ErrorKind::crypto, "encrypting key");
    X509_SIG* sig = PKCS8_set0_pbe(passphrase->data(), static_cast<int>(passphrase->size()), p8.get(), alg);
    if (sig == nullptr) {
        X509_ALGOR_free(alg);
        throw_openssl(ErrorKind::crypto, "encrypting key");
    }
    BioPtr bio(BIO_new(BIO_s_mem()));
    int ok = PEM_write_bio_PKCS8(bio.get(), sig);
    X509_SIG_free(sig);
    if (ok != 1) throw_openssl(ErrorKind::crypto, "encrypting key");
    return bio_string(bio.get());
}

int PrivateKey::bits() const { return EVP_PKEY_get_bits(pkey_.get()); }

std::string PrivateKey::public_key_der() const {
    switch (type_) {
        case KeyType::ec_p256: return der::ec_spki(oid_p256(), public_raw_);
        case KeyType::ec_p384: return der::ec_spki(oid_p384(), public_raw_);
        case KeyType::ed25519: return der::ed25519_spki(public_raw_);
        default:
            return encode_with_openssl(pkey_.get(), "DER", "SubjectPublicKeyInfo", std::nullopt, EVP_PKEY_PUBLIC_KEY);
    }
}

std::string PrivateKey::public_key_pem() const { return pem_encode("PUBLIC KEY", public_key_der()); }

std::string PrivateKey::spki_sha256_hex() const { return sha256_hex(public_key_der()); }

std::string PrivateKey::spki_pin() const { return detail::spki_pin(public_key_der()); }

bool PrivateKey::same_public_key(EVP_PKEY* other) const {
    return other != nullptr && EVP_PKEY_eq(pkey_.get(), other) == 1;
}

}  // namespace minica
