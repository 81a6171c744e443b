#include "minica/acme/jose.hpp"

#include <array>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include "minica/detail/der.hpp"
#include "minica/detail/json.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"
#include "minica/text.hpp"

namespace minica::acme {

namespace {

using nlohmann::json;
using detail::base64url_decode;
using detail::base64url_encode;

[[noreturn]] void bad_jwk(const std::string& reason) { throw Error(ErrorKind::invalid_argument, "JWK: " + reason); }
[[noreturn]] void bad_jws(const std::string& reason) { throw Error(ErrorKind::parse, "JWS: " + reason); }

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* pkey) { return {pkey, EVP_PKEY_free}; }

// ---------------------------------------------------------------- JWK members

const std::string& string_member(const json& jwk, const char* name) {
    auto it = jwk.find(name);
    if (it == jwk.end()) bad_jwk(std::string("no \"") + name + "\" member");
    if (!it->is_string()) bad_jwk(std::string("\"") + name + "\" is not a string");
    return it->get_ref<const std::string&>();
}

std::string octets_member(const json& jwk, const char* name) {
    auto v = base64url_decode(string_member(jwk, name));
    if (!v) bad_jwk(std::string("\"") + name + "\" is not base64url (RFC 7515 §2: no padding, - and _)");
    return *v;
}

// The curves of kty EC, each with the one algorithm RFC 7518 §3.4 pairs with it.
struct Curve {
    Jwk::Kind kind;
    const char* crv;  // the JWK name, also an OpenSSL group name
    std::size_t size;  // octets of a coordinate, of r and of s
};
constexpr std::array curves{Curve{Jwk::Kind::ec_p256, "P-256", 32}, Curve{Jwk::Kind::ec_p384, "P-384", 48}};

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* bld, const std::string& what) {
    detail::Ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
    detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw_openssl(ErrorKind::invalid_argument, "JWK: " + what + " is not a valid public key");
    return own(raw);
}

void public_check(EVP_PKEY* pkey, const std::string& what) {
    detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1)
        throw_openssl(ErrorKind::invalid_argument, "JWK: " + what + " fails OpenSSL's public key check");
}

}  // namespace

// ---------------------------------------------------------------- algorithms

std::string_view to_string(JwsAlg alg) noexcept {
    switch (alg) {
        case JwsAlg::es256: return "ES256";
        case JwsAlg::es384: return "ES384";
        case JwsAlg::rs256: return "RS256";
        case JwsAlg::eddsa: return "EdDSA";
    }
    return "?";
}

std::optional<JwsAlg> parse_alg(std::string_view name) noexcept {
    for (JwsAlg a : {JwsAlg::es256, JwsAlg::es384, JwsAlg::rs256, JwsAlg::eddsa})
        if (to_string(a) == name) return a;
    return std::nullopt;
}

namespace {

// The digest an algorithm signs through; nullptr for EdDSA (it hashes itself).
const EVP_MD* digest_of(JwsAlg alg) {
    switch (alg) {
        case JwsAlg::es256:
        case JwsAlg::rs256: return detail::digest("SHA256");
        case JwsAlg::es384: return detail::digest("SHA384");
        case JwsAlg::eddsa: return nullptr;
    }
    return nullptr;
}

// ---------------------------------------------------------------- JWK kinds

struct Built {
    Jwk::Kind kind;
    std::shared_ptr<EVP_PKEY> pkey;
    json members;
};

Built parse_ec(const json& jwk) {
    const std::string& crv = string_member(jwk, "crv");
    const Curve* curve = nullptr;
    for (const Curve& c : curves)
        if (crv == c.crv) curve = &c;
    if (curve == nullptr) bad_jwk("unsupported EC curve " + quote(crv) + " (P-256 or P-384)");
    std::string x = octets_member(jwk, "x"), y = octets_member(jwk, "y");
    // RFC 7518 §6.2.1.2: exactly the field's length, leading zeros kept.
    if (x.size() != curve->size || y.size() != curve->size)
        bad_jwk("\"x\" and \"y\" of a " + crv + " key must be " + std::to_string(curve->size) + " octets each");
    std::string point = "\x04" + x + y;  // SEC 1 uncompressed
    detail::Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->crv, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
        throw_openssl(ErrorKind::crypto, "JWK: building an EC key");
    auto pkey = from_params("EC", bld.get(), "the " + crv + " point");
    public_check(pkey.get(), "the " + crv + " point");
    return {curve->kind, std::move(pkey),
            {{"crv", crv}, {"kty", "EC"}, {"x", base64url_encode(x)}, {"y", base64url_encode(y)}}};
}

std::size_t bit_length(std::string_view big_endian) {
    if (big_endian.empty()) return 0;
    unsigned top = static_cast<unsigned char>(big_endian[0]);
    std::size_t bits = 8 * (big_endian.size() - 1);
    while (top != 0) {
        ++bits;
        top >>= 1;
    }
    return bits;
}

detail::BnPtr to_bn(std::string_view big_endian) {
    detail::BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                               static_cast<int>(big_endian.size()), nullptr));
    if (!bn) throw_openssl(ErrorKind::crypto, "JWK: reading an RSA number");
    return bn;
}

Built parse_rsa(const json& jwk) {
    std::string n = octets_member(jwk, "n"), e = octets_member(jwk, "e");
    // RFC 7518 §6.3.1: minimal octets, so that one key has one JWK (and one thumbprint).
    if (n.empty() || e.empty() || n[0] == 0 || e[0] == 0)
        bad_jwk("\"n\" and \"e\" must be non-empty with no leading zero octets (RFC 7518 §6.3.1)");
    std::size_t bits = bit_length(n);
    if (bits < 2048 || bits > 8192) bad_jwk("RSA modulus of " + std::to_string(bits) + " bits (2048 to 8192)");
    if ((n.back() & 1) == 0) bad_jwk("even RSA modulus");
    // e odd and > 1 is OpenSSL's own rule outside FIPS; < 2^256 its FIPS bound,
    // which also keeps the public operation cheap.
    if ((e.back() & 1) == 0 || bit_length(e) < 2 || bit_length(e) > 256)
        bad_jwk("RSA public exponent must be odd, at least 3 and under 2^256");
    detail::BnPtr bn_n = to_bn(n), bn_e = to_bn(e);
    detail::Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
        throw_openssl(ErrorKind::crypto, "JWK: building an RSA key");
    return {Jwk::Kind::rsa, from_params("RSA", bld.get(), "the RSA key"),
            {{"e", base64url_encode(e)}, {"kty", "RSA"}, {"n", base64url_encode(n)}}};
}

Built parse_okp(const json& jwk) {
    const std::string& crv = string_member(jwk, "crv");
    Jwk::Kind kind = Jwk::Kind::ed25519;
    std::size_t size = 32;
    const char* type = "ED25519";
    if (crv == "Ed448") {
        kind = Jwk::Kind::ed448;
        size = 57;
        type = "ED448";
    } else if (crv != "Ed25519") {
        bad_jwk("unsupported OKP curve " + quote(crv) + " (Ed25519 or Ed448)");
    }
    std::string x = octets_member(jwk, "x");
    if (x.size() != size) bad_jwk("\"x\" of an " + crv + " key must be " + std::to_string(size) + " octets");
    auto pkey = own(EVP_PKEY_new_raw_public_key_ex(nullptr, type, nullptr,
                                                   reinterpret_cast<const unsigned char*>(x.data()), x.size()));
    if (!pkey) throw_openssl(ErrorKind::invalid_argument, "JWK: the " + crv + " key is not a valid public key");
    public_check(pkey.get(), "the " + crv + " key");
    return {kind, std::move(pkey), {{"crv", crv}, {"kty", "OKP"}, {"x", base64url_encode(x)}}};
}

// The big-endian octets of a BIGNUM parameter of `pkey`, left-padded to `width` (0: minimal).
std::string bn_param(EVP_PKEY* pkey, const char* name, int width) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) throw_openssl(ErrorKind::crypto, "JWK: reading a key");
    detail::BnPtr bn(raw);
    std::string out(static_cast<std::size_t>(width > 0 ? width : BN_num_bytes(bn.get())), '\0');
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) < 0)
        throw_openssl(ErrorKind::crypto, "JWK: reading a key");
    return out;
}

json members_of(EVP_PKEY* key) {
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1)
            throw_openssl(ErrorKind::invalid_argument, "JWK: EC key without a named curve");
        std::string_view g(group, len);
        const char* crv = g == "prime256v1" || g == "P-256" ? "P-256" : g == "secp384r1" || g == "P-384" ? "P-384" : nullptr;
        if (crv == nullptr) bad_jwk("unsupported EC curve " + quote(g) + " (P-256 or P-384)");
        int width = std::string_view(crv) == "P-256" ? 32 : 48;
        return {{"crv", crv}, {"kty", "EC"},
                {"x", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, width))},
                {"y", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, width))}};
    }
    if (EVP_PKEY_is_a(key, "RSA"))
        return {{"e", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0))}, {"kty", "RSA"},
                {"n", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0))}};
    for (const char* type : {"ED25519", "ED448"}) {
        if (!EVP_PKEY_is_a(key, type)) continue;
        unsigned char raw[64];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) throw_openssl(ErrorKind::crypto, "JWK: reading a key");
        return {{"crv", std::string_view(type) == "ED25519" ? "Ed25519" : "Ed448"}, {"kty", "OKP"},
                {"x", base64url_encode(std::string_view(reinterpret_cast<char*>(raw), len))}};
    }
    const char* name = EVP_PKEY_get0_type_name(key);
    bad_jwk("unsupported key type " + quote(name != nullptr ? name : "?"));
}

}  // namespace

// ---------------------------------------------------------------- Jwk

Jwk::Jwk(Kind kind, std::shared_ptr<EVP_PKEY> pkey, nlohmann::json members)
    : kind_(kind), pkey_(std::move(pkey)), members_(std::move(members)) {}

Jwk Jwk::parse(const nlohmann::json& jwk) {
    if (!jwk.is_object()) bad_jwk(std::string("not an object but ") + jwk.type_name());
    // RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: private and symmetric members.
    for (const char* name : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
        if (jwk.contains(name))
            bad_jwk(std::string("private member \"") + name + "\" present: send the public key only");
    const std::string& kty = string_member(jwk, "kty");
    if (kty != "EC" && kty != "RSA" && kty != "OKP") bad_jwk("unsupported key type " + quote(kty) + " (EC, RSA or OKP)");
    Built b = kty == "EC" ? parse_ec(jwk) : kty == "RSA" ? parse_rsa(jwk) : parse_okp(jwk);
    ERR_clear_error();  // fromdata may leave notes behind on success
    return Jwk(b.kind, std::move(b.pkey), std::move(b.members));
}

Jwk Jwk::parse(std::string_view json_text) {
    nlohmann::json j;
    try {
        j = detail::parse_json(json_text);
    } catch (const Error& e) {
        throw Error(ErrorKind::parse, std::string("JWK: ") + e.what());
    }
    return parse(j);
}

Jwk Jwk::from_key(EVP_PKEY* key) { return parse(members_of(key)); }

Jwk Jwk::from_key(const PrivateKey& key) { return from_key(key.native()); }

std::string Jwk::thumbprint() const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = detail::digest_into("SHA256", members_.dump(), md);
    return base64url_encode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string Jwk::spki_der() const { return detail::spki_der(pkey_.get()); }

bool Jwk::fits(JwsAlg alg) const noexcept {
    switch (alg) {
        case JwsAlg::es256: return kind_ == Kind::ec_p256;
        case JwsAlg::es384: return kind_ == Kind::ec_p384;
        case JwsAlg::rs256: return kind_ == Kind::rsa;
        case JwsAlg::eddsa: return kind_ == Kind::ed25519 || kind_ == Kind::ed448;
    }
    return false;
}

// ---------------------------------------------------------------- Jws

namespace {

const std::string& jws_string(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end()) bad_jws(std::string("no \"") + name + "\" member");
    if (!it->is_string()) bad_jws(std::string("\"") + name + "\" is not a string");
    return it->get_ref<const std::string&>();
}

std::string jws_octets(const std::string& text, const char* name) {
    auto v = base64url_decode(text);
    if (!v) bad_jws(std::string("\"") + name + "\" is not base64url (RFC 7515 §2: no padding, - and _)");
    return *v;
}

// A header member that must be a string when present.
std::optional<std::string> header_string(const json& header, const char* name) {
    auto it = header.find(name);
    if (it == header.end()) return std::nullopt;
    if (!it->is_string()) bad_jws(std::string("header \"") + name + "\" is not a string");
    return it->get<std::string>();
}

void read_header(Jws& jws) {
    const json& h = jws.header;
    auto alg = header_string(h, "alg");
    if (!alg) bad_jws("no \"alg\" in the protected header");
    jws.alg_name = *alg;
    jws.alg = parse_alg(*alg);
    // b64:false changes the signing input (RFC 7797); crit names extensions we
    // would have to understand (RFC 7515 §4.1.11): we understand none.
    for (const char* name : {"b64", "crit"})
        if (h.contains(name)) bad_jws(std::string("header \"") + name + "\" is not supported");
    if (h.contains("jwk") == h.contains("kid"))
        bad_jws("the protected header must have exactly one of \"jwk\" and \"kid\" (RFC 8555 §6.2)");
    jws.kid = header_string(h, "kid");
    if (jws.kid && jws.kid->empty()) bad_jws("empty \"kid\"");
    if (auto it = h.find("jwk"); it != h.end()) jws.jwk = Jwk::parse(*it);
    auto url = header_string(h, "url");
    if (!url || url->empty()) bad_jws("no \"url\" in the protected header (RFC 8555 §6.4)");
    jws.url = *url;
    jws.nonce = header_string(h, "nonce");
}

}  // namespace

Jws Jws::parse(std::string_view body) {
    json j;
    try {
        j = detail::parse_json(body);
    } catch (const Error& e) {
        bad_jws(std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) bad_jws(std::string("not an object but ") + j.type_name());
    if (j.contains("signatures"))
        bad_jws("the general serialization (\"signatures\") is refused: ACME uses the flattened one (RFC 8555 §6.2)");
    if (j.contains("header")) bad_jws("an unprotected \"header\" is refused (RFC 8555 §6.2)");
    for (const auto& item : j.items())
        if (item.key() != "protected" && item.key() != "payload" && item.key() != "signature")
            bad_jws("unexpected member " + quote(item.key()));

    Jws jws;
    jws.protected_b64 = jws_string(j, "protected");
    jws.payload_b64 = jws_string(j, "payload");
    jws.payload = jws_octets(jws.payload_b64, "payload");
    jws.signature = jws_octets(jws_string(j, "signature"), "signature");
    if (jws.signature.empty()) bad_jws("empty signature");
    std::string header_text = jws_octets(jws.protected_b64, "protected");
    try {
        jws.header = detail::parse_json(header_text);
    } catch (const Error& e) {
        bad_jws(std::string("the protected header is not JSON: ") + e.what());
    }
    if (!jws.header.is_object()) bad_jws(std::string("the protected header is not an object but ") + jws.header.type_name());
    read_header(jws);
    return jws;
}

// ---------------------------------------------------------------- signatures

namespace {

// JWS r||s (RFC 7518 §3.4) → DER ECDSA-Sig-Value, through the one DER writer.
std::string ecdsa_der(std::string_view r, std::string_view s) {
    detail::der::Writer w;
    w.sequence([&] {
        w.unsigned_integer(r);
        w.unsigned_integer(s);
    });
    return w.take();
}

// DER ECDSA-Sig-Value → r||s, each left-padded to `size`, through the one DER reader.
std::string ecdsa_raw(std::string_view der, std::size_t size) {
    std::uint8_t tag = 0;
    std::string_view seq, r, s;
    if (!detail::der::next(der, tag, seq) || tag != detail::der::SEQUENCE || !detail::der::next(seq, tag, r) ||
        tag != detail::der::INTEGER || !detail::der::next(seq, tag, s) || tag != detail::der::INTEGER)
        throw Error(ErrorKind::crypto, "signing a JWS: OpenSSL returned a malformed ECDSA signature");
    std::string out;
    for (std::string_view v : {r, s}) {
        while (!v.empty() && v[0] == 0) v.remove_prefix(1);
        if (v.size() > size) throw Error(ErrorKind::crypto, "signing a JWS: ECDSA value longer than the curve's field");
        out.append(size - v.size(), '\0').append(v);
    }
    return out;
}

std::size_t ec_size(JwsAlg alg) { return alg == JwsAlg::es256 ? 32 : alg == JwsAlg::es384 ? 48 : 0; }

// HS256/HS384/HS512 → the digest's name, or nullptr.
const char* hmac_digest(std::string_view alg_name) {
    return alg_name == "HS256" ? "SHA256" : alg_name == "HS384" ? "SHA384" : alg_name == "HS512" ? "SHA512" : nullptr;
}

std::string hmac(const char* md, std::string_view key, std::string_view data) {
    static const unsigned char empty = 0;  // HMAC wants a pointer even for an empty key
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    if (HMAC(detail::digest(md), k, static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) == nullptr)
        throw_openssl(ErrorKind::crypto, "computing an HMAC");
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string flattened(const std::string& protected_b64, const std::string& payload_b64, std::string_view signature) {
    return json{{"protected", protected_b64}, {"payload", payload_b64}, {"signature", base64url_encode(signature)}}
        .dump();
}

}  // namespace

bool verify_signature(const Jwk& key, JwsAlg alg, std::string_view signing_input, std::string_view signature) {
    if (!key.fits(alg)) return false;
    std::string der;
    if (std::size_t n = ec_size(alg); n != 0) {
        if (signature.size() != 2 * n) return false;  // RFC 7518 §3.4: exactly r||s
        der = ecdsa_der(signature.substr(0, n), signature.substr(n));
        signature = der;
    }
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(alg), nullptr, key.native()) == 1 &&
              EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                               reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
    ERR_clear_error();  // a refused signature leaves its reason queued; the answer is the bool
    return ok;
}

bool verify(const Jws& jws, const Jwk& key) {
    return jws.alg && verify_signature(key, *jws.alg, jws.signing_input(), jws.signature);
}

bool hmac_verify(const Jws& jws, std::string_view mac_key) {
    const char* md = hmac_digest(jws.alg_name);
    if (md == nullptr) return false;
    std::string mac = hmac(md, mac_key, jws.signing_input());
    return mac.size() == jws.signature.size() && CRYPTO_memcmp(mac.data(), jws.signature.data(), mac.size()) == 0;
}

std::string sign(EVP_PKEY* key, JwsAlg alg, nlohmann::json header, std::string_view payload) {
    if (!header.contains("alg")) header["alg"] = std::string(to_string(alg));
    std::string protected_b64 = base64url_encode(header.dump()), payload_b64 = base64url_encode(payload);
    std::string input = protected_b64 + "." + payload_b64;
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digest_of(alg), nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        throw_openssl(ErrorKind::crypto, "signing a JWS");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        throw_openssl(ErrorKind::crypto, "signing a JWS");
    sig.resize(len);
    // r||s at the key's field size (not the algorithm's: a test may sign
    // P-384 and label it ES256).
    if (ec_size(alg) != 0) sig = ecdsa_raw(sig, static_cast<std::size_t>(EVP_PKEY_get_bits(key) + 7) / 8);
    return flattened(protected_b64, payload_b64, sig);
}

std::string hmac_sign(std::string_view mac_key, std::string_view alg_name, nlohmann::json header,
                      std::string_view payload) {
    const char* md = hmac_digest(alg_name);
    if (md == nullptr) throw Error(ErrorKind::invalid_argument, "signing a JWS: " + quote(alg_name) + " is not HS256, HS384 or HS512");
    if (!header.contains("alg")) header["alg"] = std::string(alg_name);
    std::string protected_b64 = base64url_encode(header.dump()), payload_b64 = base64url_encode(payload);
    return flattened(protected_b64, payload_b64, hmac(md, mac_key, protected_b64 + "." + payload_b64));
}

}  // namespace minica::acme
