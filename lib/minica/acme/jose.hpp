// JOSE for ACME (RFC 8555 §6.2): public JWKs (RFC 7517/7518/8037), the
// flattened JWS an ACME client POSTs (RFC 7515 §7.2.2), its signature check,
// the JWK thumbprint (RFC 7638) and the External Account Binding MAC.
// Internal (not installed): the ACME server and its tests use it.
//
// Deliberate choices (each refused case has a unit test):
// - Account algorithms are ES256, ES384, RS256 and EdDSA only; "none", HS*,
//   PS*, ES512 are not account algorithms (Jws::alg is empty, verify() is
//   false). HS256/384/512 are only for hmac_verify (EAB).
// - A JWK carries public members only: "d", "p", "q", "dp", "dq", "qi",
//   "oth" and "k" are refused, so a client that leaks its private key gets
//   an error instead of an account. Optional members ("kid", "use", "alg",
//   ...) are ignored, as RFC 7638 ignores them in the thumbprint.
// - Every key is built through OpenSSL (EVP_PKEY_fromdata /
//   EVP_PKEY_new_raw_public_key) and, for EC, checked with
//   EVP_PKEY_public_check (point on the curve, in the subgroup). RSA is
//   checked here instead (odd n of 2048..8192 bits, odd 3 ≤ e < 2^256, no
//   leading zero octets): OpenSSL's public check adds a Miller-Rabin test
//   and a GCD on n, costly on large n and paid on every request carrying a
//   jwk, for nothing the verifier needs (a malformed n only makes its
//   sender's own signatures fail).
// - Base64url is strict (detail::base64url_decode); the signing input is the
//   text as received, never re-encoded.
// - The flattened JSON must have exactly "protected", "payload" and
//   "signature"; the protected header exactly one of "jwk" and "kid", a
//   "url", and no "b64" or "crit" (no extension is understood). JSON with a
//   key twice is refused at every level (detail::parse_json).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace minica {
class PrivateKey;
}

namespace minica::acme {

// The signature algorithms an ACME account may use.
enum class JwsAlg { es256, es384, rs256, eddsa };
// "ES256", "ES384", "RS256", "EdDSA".
std::string_view to_string(JwsAlg alg) noexcept;
// The account algorithm named `name` (case-sensitive, RFC 7515 §4.1.1), or nullopt.
std::optional<JwsAlg> parse_alg(std::string_view name) noexcept;

// A public key as a JWK. Copies share the key (up-ref).
class Jwk {
public:
    enum class Kind { ec_p256, ec_p384, rsa, ed25519, ed448 };

    // Error(invalid_argument) "JWK: <reason>" for anything but a supported
    // public key; parse(text) also Error(parse) for text that is not JSON.
    static Jwk parse(const nlohmann::json& jwk);
    static Jwk parse(std::string_view json_text);
    // The public half of a key (EC P-256/P-384, RSA 2048..8192, Ed25519,
    // Ed448), through the same checks as parse().
    static Jwk from_key(EVP_PKEY* key);
    static Jwk from_key(const PrivateKey& key);

    Kind kind() const noexcept { return kind_; }
    // The required members only, keys in lexicographic order (RFC 7638 §3.2);
    // dump() of it is the thumbprint input.
    const nlohmann::json& to_json() const noexcept { return members_; }
    // base64url(SHA-256(canonical JSON)), RFC 7638 §3.
    std::string thumbprint() const;
    // SubjectPublicKeyInfo DER (i2d_PUBKEY): how the server compares keys.
    std::string spki_der() const;
    // Whether a signature with `alg` can come from this key (ES256 needs
    // P-256, ES384 P-384, RS256 RSA, EdDSA Ed25519 or Ed448).
    bool fits(JwsAlg alg) const noexcept;

    EVP_PKEY* native() const noexcept { return pkey_.get(); }

private:
    Jwk(Kind kind, std::shared_ptr<EVP_PKEY> pkey, nlohmann::json members);
    Kind kind_;
    std::shared_ptr<EVP_PKEY> pkey_;
    nlohmann::json members_;
};

// A flattened JWS as received. Jws::parse checks its structure only; the
// server then checks alg, url, the key, the signature and the nonce, in
// the order of PLAN.md §3.
struct Jws {
    std::string protected_b64;  // as received: the signing input is
    std::string payload_b64;    // protected_b64 + "." + payload_b64
    std::string payload;        // decoded; "" for POST-as-GET
    std::string signature;      // decoded
    nlohmann::json header;      // the decoded protected header (an object)

    std::string alg_name;           // "alg" as received
    std::optional<JwsAlg> alg;      // empty when not an account algorithm ("none", "HS256", ...)
    std::optional<Jwk> jwk;         // exactly one of jwk and kid is set
    std::optional<std::string> kid;
    std::optional<std::string> nonce;  // absent in the inner JWS of key-change and EAB
    std::string url;

    std::string signing_input() const { return protected_b64 + "." + payload_b64; }

    // Error(parse) "JWS: <reason>" for a body that is not a flattened JWS as
    // RFC 8555 §6.2 wants it; the "jwk" member's own errors are
    // Error(invalid_argument) "JWK: ..." (the server's badPublicKey).
    static Jws parse(std::string_view body);
};

// Whether `signature` (JWS form: r||s for ES*) is `key`'s signature with `alg`
// over `signing_input`. False too when alg does not fit the key.
bool verify_signature(const Jwk& key, JwsAlg alg, std::string_view signing_input, std::string_view signature);
// verify_signature over the JWS's own alg, signing input and signature;
// false when alg is not an account algorithm.
bool verify(const Jws& jws, const Jwk& key);
// External Account Binding (RFC 8555 §7.3.4): whether the JWS's alg is HS256,
// HS384 or HS512 and its signature that HMAC under `mac_key` (the decoded
// key), compared in constant time.
bool hmac_verify(const Jws& jws, std::string_view mac_key);

// A flattened JWS signed with `key` (for tests and test clients). `header`
// is the protected header; "alg" is set to to_string(alg) unless the header
// already has one (so a test can lie). ES* signatures are r||s, each half
// as long as the key's field.
std::string sign(EVP_PKEY* key, JwsAlg alg, nlohmann::json header, std::string_view payload);
// The same with HMAC (EAB): `alg_name` "HS256", "HS384" or "HS512".
std::string hmac_sign(std::string_view mac_key, std::string_view alg_name, nlohmann::json header,
                      std::string_view payload);

}  // namespace minica::acme
