#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "minica/acme/jose.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"

using namespace minica;
using namespace minica::acme;
using nlohmann::json;
using detail::base64url_decode;
using detail::base64url_encode;

namespace {

std::shared_ptr<EVP_PKEY> keygen(const char* type, std::size_t rsa_bits = 0) {
    EVP_PKEY* k = rsa_bits != 0 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits)
                  : std::string_view(type) == "EC-P256" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                  : std::string_view(type) == "EC-P384" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384")
                                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    REQUIRE(k != nullptr);
    return {k, EVP_PKEY_free};
}

struct Signer {
    std::string name;
    JwsAlg alg;
    std::shared_ptr<EVP_PKEY> key;
};

// One key per algorithm (Ed448 signs as EdDSA too).
const std::vector<Signer>& signers() {
    static const std::vector<Signer> s{
        {"ES256", JwsAlg::es256, keygen("EC-P256")}, {"ES384", JwsAlg::es384, keygen("EC-P384")},
        {"RS256", JwsAlg::rs256, keygen("RSA", 2048)}, {"EdDSA/Ed25519", JwsAlg::eddsa, keygen("ED25519")},
        {"EdDSA/Ed448", JwsAlg::eddsa, keygen("ED448")},
    };
    return s;
}

const Signer& signer(JwsAlg alg) {
    for (const auto& s : signers())
        if (s.alg == alg) return s;
    FAIL("no signer");
    throw;
}

const std::string kUrl = "https://acme.test/acme/new-account";

json jwk_header(const Signer& s) {
    return {{"nonce", "bm9uY2U"}, {"url", kUrl}, {"jwk", Jwk::from_key(s.key.get()).to_json()}};
}

// The flattened JWS `text` with member `name` replaced by `value`.
std::string with_member(const std::string& text, const char* name, json value) {
    json j = json::parse(text);
    j[name] = std::move(value);
    return j.dump();
}

// A base64url text with one character in the middle changed (still canonical).
std::string flip(std::string b64) {
    char& c = b64[b64.size() / 2];
    c = c == 'A' ? 'B' : 'A';
    return b64;
}

std::string spki_of(EVP_PKEY* key) { return detail::to_der(i2d_PUBKEY, key, "public key"); }

void expect_jws_error(const std::string& body, const char* needle, ErrorKind kind = ErrorKind::parse) {
    CAPTURE(body);
    try {
        Jws::parse(body);
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == kind);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
}

void expect_jwk_error(const json& jwk, const char* needle) {
    CAPTURE(jwk.dump());
    try {
        Jwk::parse(jwk);
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::invalid_argument);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
}

}  // namespace

// ---------------------------------------------------------------- base64url

TEST_CASE("base64url encodes RFC 4648's vectors without padding and decodes them back") {
    // RFC 4648 §10, in the URL alphabet with the padding dropped (RFC 7515 §2).
    const std::pair<const char*, const char*> vectors[] = {{"", ""},          {"f", "Zg"},         {"fo", "Zm8"},
                                                           {"foo", "Zm9v"},   {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
                                                           {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    for (auto [plain, b64] : vectors) {
        CHECK(base64url_encode(plain) == b64);
        CHECK(base64url_decode(b64) == std::optional<std::string>(plain));
    }
    for (std::size_t n = 0; n < 70; ++n) {
        std::string bytes(n, '\0');
        RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n));
        CHECK(base64url_decode(base64url_encode(bytes)) == std::optional<std::string>(bytes));
    }
}

TEST_CASE("base64url refuses padding, the standard alphabet, whitespace and non-canonical tails") {
    for (const char* bad : {"Zg==", "Zm8=", "Zm9v+g", "Zm9v/g", "Zm 9v", "Zm9v\n", "Zm9vY", "A", "Zh", "Zm9", "Zm-",
                            "Zm9vYmF=", "Zm9vYg%"})
        CHECK_MESSAGE(!base64url_decode(bad), bad);
    // "Zg" and "Zh" both carry the bits of "f": only the one with zero tail bits is accepted.
    CHECK(base64url_decode("Zg") == std::optional<std::string>("f"));
    CHECK(base64url_decode("Zm8") == std::optional<std::string>("fo"));
}

// ---------------------------------------------------------------- RFC vectors

namespace vectors {
// RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its thumbprint.
const char* rfc7638_n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjh"
    "Mstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvR"
    "L5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
// RFC 7515 Appendix A.2 (RS256) and A.3 (ES256): JWS Compact Serialization,
// header {"alg":...}, the same payload.
const char* rfc7515_payload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const char* a2_n =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pC"
    "gNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg6"
    "65xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRW"
    "yuXpoQ";
const char* a2_signature =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t"
    "1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12j"
    "zDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQ"
    "Ge77Rw";
const char* a3_x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const char* a3_y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const char* a3_signature = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
// RFC 8037 Appendix A.2 (public key), A.3 (its thumbprint), A.4 (JWS, Compact).
const char* rfc8037_x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const char* rfc8037_thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const char* a4_input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const char* a4_signature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
}  // namespace vectors

TEST_CASE("RFC 7638 §3.1: the thumbprint of the example RSA key") {
    Jwk key = Jwk::parse(json{{"kty", "RSA"}, {"n", vectors::rfc7638_n}, {"e", "AQAB"}, {"alg", "RS256"}, {"kid", "2011-04-29"}});
    CHECK(key.thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    CHECK(key.kind() == Jwk::Kind::rsa);
    // Optional members are dropped; the canonical form is the required ones in order.
    CHECK(key.to_json().dump() == std::string(R"({"e":"AQAB","kty":"RSA","n":")") + vectors::rfc7638_n + "\"}");
}

TEST_CASE("RFC 7515 A.2 (RS256) and A.3 (ES256): the published signatures verify, tampered ones do not") {
    struct Case {
        Jwk key;
        JwsAlg alg;
        std::string input, signature;
    };
    Case cases[] = {
        {Jwk::parse(json{{"kty", "RSA"}, {"n", vectors::a2_n}, {"e", "AQAB"}}), JwsAlg::rs256,
         std::string("eyJhbGciOiJSUzI1NiJ9.") + vectors::rfc7515_payload, *base64url_decode(vectors::a2_signature)},
        {Jwk::parse(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", vectors::a3_x}, {"y", vectors::a3_y}}), JwsAlg::es256,
         std::string("eyJhbGciOiJFUzI1NiJ9.") + vectors::rfc7515_payload, *base64url_decode(vectors::a3_signature)},
        {Jwk::parse(json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", vectors::rfc8037_x}}), JwsAlg::eddsa,
         vectors::a4_input, *base64url_decode(vectors::a4_signature)},
    };
    for (auto& c : cases) {
        CAPTURE(to_string(c.alg));
        CHECK(verify_signature(c.key, c.alg, c.input, c.signature));
        CHECK_FALSE(verify_signature(c.key, c.alg, c.input + "x", c.signature));
        std::string bad = c.signature;
        bad.back() ^= 1;
        CHECK_FALSE(verify_signature(c.key, c.alg, c.input, bad));
        CHECK_FALSE(verify_signature(c.key, c.alg, c.input, c.signature.substr(1)));
        for (JwsAlg other : {JwsAlg::es256, JwsAlg::es384, JwsAlg::rs256, JwsAlg::eddsa})
            if (other != c.alg) CHECK_FALSE(verify_signature(c.key, other, c.input, c.signature));
    }
}

TEST_CASE("RFC 8037 A.3: the Ed25519 thumbprint") {
    CHECK(Jwk::parse(json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", vectors::rfc8037_x}}).thumbprint() ==
          vectors::rfc8037_thumbprint);
}

TEST_CASE("RFC 7515 A.3's JWK as published carries its private \"d\": refused") {
    expect_jwk_error(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", vectors::a3_x}, {"y", vectors::a3_y},
                          {"d", "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}},
                     "private member \"d\"");
}

// ---------------------------------------------------------------- JWK

TEST_CASE("a JWK is refused unless it is a supported, valid public key") {
    json p256 = Jwk::from_key(signer(JwsAlg::es256).key.get()).to_json();
    json off_curve = p256;
    std::string y = *base64url_decode(p256["y"].get<std::string>());
    y.back() ^= 1;
    off_curve["y"] = base64url_encode(y);
    expect_jwk_error(off_curve, "is not a valid public key");
    json short_x = p256;
    short_x["x"] = base64url_encode(base64url_decode(p256["x"].get<std::string>())->substr(1));
    expect_jwk_error(short_x, "must be 32 octets");
    json p521 = p256;
    p521["crv"] = "P-521";
    expect_jwk_error(p521, "unsupported EC curve \"P-521\"");
    json padded = p256;
    padded["x"] = p256["x"].get<std::string>() + "=";
    expect_jwk_error(padded, "\"x\" is not base64url");
    json number = p256;
    number["x"] = 7;
    expect_jwk_error(number, "\"x\" is not a string");
    json no_y = p256;
    no_y.erase("y");
    expect_jwk_error(no_y, "no \"y\" member");

    expect_jwk_error(json{{"kty", "oct"}, {"k", "AAAA"}}, "private member \"k\"");
    expect_jwk_error(json{{"kty", "oct"}}, "unsupported key type \"oct\"");
    expect_jwk_error(json{{"crv", "P-256"}}, "no \"kty\" member");
    expect_jwk_error(json::array(), "not an object");
    for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
        json j = p256;
        j[priv] = "AQAB";
        expect_jwk_error(j, "private member");
    }

    json rsa = Jwk::from_key(signer(JwsAlg::rs256).key.get()).to_json();
    json e_even = rsa, e_one = rsa, n_zero = rsa, n_even = rsa, e_zero = rsa;
    e_even["e"] = base64url_encode("\x01\x00\x02");
    e_one["e"] = "AQ";
    e_zero["e"] = base64url_encode(std::string("\x00\x01\x00\x01", 4));
    n_zero["n"] = base64url_encode('\0' + *base64url_decode(rsa["n"].get<std::string>()));
    std::string n = *base64url_decode(rsa["n"].get<std::string>());
    n.back() ^= 1;
    n_even["n"] = base64url_encode(n);
    expect_jwk_error(e_even, "exponent must be odd");
    expect_jwk_error(e_one, "at least 3");
    expect_jwk_error(e_zero, "no leading zero octets");
    expect_jwk_error(n_zero, "no leading zero octets");
    expect_jwk_error(n_even, "even RSA modulus");
    auto rsa1024 = keygen("RSA", 1024);
    CHECK_THROWS_WITH_AS(Jwk::from_key(rsa1024.get()), doctest::Contains("RSA modulus of 1024 bits"), Error);

    json ed = Jwk::from_key(signers()[3].key.get()).to_json();
    json ed_short = ed, x25519 = ed;
    ed_short["x"] = base64url_encode(base64url_decode(ed["x"].get<std::string>())->substr(1));
    x25519["crv"] = "X25519";
    expect_jwk_error(ed_short, "must be 32 octets");
    expect_jwk_error(x25519, "unsupported OKP curve \"X25519\"");

    CHECK_THROWS_WITH_AS(Jwk::from_key(keygen("X25519").get()), doctest::Contains("unsupported key type"), Error);
    CHECK_THROWS_WITH_AS(Jwk::parse(std::string_view(R"({"kty":"EC","kty":"EC"})")),
                         doctest::Contains("duplicate key \"kty\""), Error);
    CHECK_THROWS_WITH_AS(Jwk::parse(std::string_view("{")), doctest::Contains("JWK: "), Error);
}

TEST_CASE("a JWK's canonical JSON has the required members only, in lexicographic order") {
    Jwk ec = Jwk::from_key(signer(JwsAlg::es384).key.get());
    std::vector<std::string> keys;
    for (const auto& item : ec.to_json().items()) keys.push_back(item.key());
    CHECK(keys == std::vector<std::string>{"crv", "kty", "x", "y"});
    json decorated = ec.to_json();
    decorated["kid"] = "k";
    decorated["use"] = "sig";
    Jwk again = Jwk::parse(decorated);
    CHECK(again.thumbprint() == ec.thumbprint());
    CHECK(again.to_json() == ec.to_json());
    CHECK(Jwk::from_key(signers()[4].key.get()).to_json()["crv"] == "Ed448");
    CHECK(Jwk::from_key(PrivateKey::generate(KeyType::ed25519)).kind() == Jwk::Kind::ed25519);
}

// ---------------------------------------------------------------- JWS round trips

TEST_CASE("every algorithm signs and verifies, with jwk and with kid, and POST-as-GET") {
    for (const Signer& s : signers()) {
        CAPTURE(s.name);
        std::string body = sign(s.key.get(), s.alg, jwk_header(s), R"({"termsOfServiceAgreed":true})");
        Jws jws = Jws::parse(body);
        REQUIRE(jws.jwk);
        CHECK_FALSE(jws.kid);
        CHECK(jws.alg == s.alg);
        CHECK(jws.alg_name == to_string(s.alg));
        CHECK(jws.url == kUrl);
        CHECK(jws.nonce == std::optional<std::string>("bm9uY2U"));
        CHECK(jws.payload == R"({"termsOfServiceAgreed":true})");
        CHECK(jws.jwk->spki_der() == spki_of(s.key.get()));
        CHECK(verify(jws, *jws.jwk));

        Jws get = Jws::parse(sign(s.key.get(), s.alg, {{"nonce", "bg"}, {"url", "https://acme.test/acme/order/1"},
                                                       {"kid", "https://acme.test/acme/acct/1"}},
                                  ""));
        CHECK(get.payload.empty());
        CHECK(get.payload_b64.empty());
        CHECK(get.kid == std::optional<std::string>("https://acme.test/acme/acct/1"));
        CHECK_FALSE(get.jwk);
        CHECK(verify(get, *jws.jwk));
        // Another key of the same kind does not verify it.
        for (const Signer& other : signers())
            if (&other != &s) CHECK_FALSE(verify(get, Jwk::from_key(other.key.get())));
    }
}

TEST_CASE("a flipped byte in the protected header, the payload or the signature fails") {
    for (const Signer& s : signers()) {
        CAPTURE(s.name);
        Jwk key = Jwk::from_key(s.key.get());
        std::string body = sign(s.key.get(), s.alg, jwk_header(s), R"({"contact":["mailto:a@example.com"]})");
        json j = json::parse(body);
        CHECK_FALSE(verify(Jws::parse(with_member(body, "payload", flip(j["payload"]))), key));
        CHECK_FALSE(verify(Jws::parse(with_member(body, "signature", flip(j["signature"]))), key));
        // A changed header either no longer parses or no longer verifies.
        std::optional<Jws> changed;
        try {
            changed = Jws::parse(with_member(body, "protected", flip(j["protected"])));
        } catch (const Error&) {
        }
        if (changed) CHECK_FALSE(verify(*changed, key));
        // The same header re-encoded (whitespace) is another signing input.
        json h = json::parse(*base64url_decode(j["protected"].get<std::string>()));
        CHECK_FALSE(verify(Jws::parse(with_member(body, "protected", base64url_encode(h.dump(1)))), key));
    }
}

TEST_CASE("alg must fit the key: ES256 with P-384, ES384 with P-256, RS256 with EC, EdDSA with RSA") {
    struct Case {
        JwsAlg signs_as;
        const char* label;
        JwsAlg key_of;
    };
    for (Case c : {Case{JwsAlg::es384, "ES256", JwsAlg::es384}, Case{JwsAlg::es256, "ES384", JwsAlg::es256},
                   Case{JwsAlg::es256, "RS256", JwsAlg::es256}, Case{JwsAlg::rs256, "EdDSA", JwsAlg::rs256}}) {
        CAPTURE(c.label);
        const Signer& s = signer(c.key_of);
        json h = jwk_header(s);
        h["alg"] = c.label;
        Jws jws = Jws::parse(sign(s.key.get(), c.signs_as, h, "{}"));
        CHECK(jws.alg_name == c.label);
        CHECK_FALSE(jws.jwk->fits(*jws.alg));
        CHECK_FALSE(verify(jws, *jws.jwk));
    }
}

TEST_CASE("\"none\", HS256 and other algorithms are not account algorithms") {
    const Signer& s = signer(JwsAlg::es256);
    for (const char* alg : {"none", "HS256", "PS256", "ES512", "es256", ""}) {
        CAPTURE(alg);
        json h = jwk_header(s);
        h["alg"] = alg;
        Jws jws = Jws::parse(sign(s.key.get(), JwsAlg::es256, h, "{}"));
        CHECK_FALSE(jws.alg);
        CHECK(jws.alg_name == alg);
        CHECK_FALSE(verify(jws, *jws.jwk));
    }
    CHECK_FALSE(parse_alg("none"));
    CHECK(parse_alg("EdDSA") == JwsAlg::eddsa);
}

TEST_CASE("an ES256 signature must be r||s of 64 octets: DER or a different length is refused") {
    const Signer& s = signer(JwsAlg::es256);
    Jwk key = Jwk::from_key(s.key.get());
    std::string body = sign(s.key.get(), JwsAlg::es256, jwk_header(s), "{}");
    Jws jws = Jws::parse(body);
    REQUIRE(jws.signature.size() == 64);
    // The same signature as DER (what OpenSSL produces) is not a JWS signature.
    std::string input = jws.signing_input();
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    size_t len = 0;
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, detail::digest("SHA256"), nullptr, s.key.get()) == 1);
    REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    std::string der(len, '\0');
    REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    der.resize(len);
    CHECK_FALSE(verify_signature(key, JwsAlg::es256, input, der));
    CHECK_FALSE(verify_signature(key, JwsAlg::es256, input, jws.signature + '\0'));
    CHECK_FALSE(verify_signature(key, JwsAlg::es256, input, std::string(1, '\0') + jws.signature.substr(0, 63)));
    CHECK_FALSE(verify_signature(key, JwsAlg::es256, input, std::string(64, '\0')));
    CHECK(verify_signature(key, JwsAlg::es256, input, jws.signature));
}

// ---------------------------------------------------------------- JWS refusals

TEST_CASE("the flattened serialization with exactly protected, payload and signature") {
    const Signer& s = signer(JwsAlg::es256);
    std::string body = sign(s.key.get(), JwsAlg::es256, jwk_header(s), "{}");
    json j = json::parse(body);
    expect_jws_error("nope", "JWS: not JSON");
    expect_jws_error("[]", "not an object but array");
    expect_jws_error(with_member(body, "header", json{{"kid", "x"}}), "unprotected \"header\"");
    expect_jws_error(R"({"payload":"e30","signatures":[]})", "general serialization");
    expect_jws_error(with_member(body, "extra", 1), "unexpected member \"extra\"");
    for (const char* name : {"protected", "payload", "signature"}) {
        json less = j;
        less.erase(name);
        expect_jws_error(less.dump(), "no \"");
        expect_jws_error(with_member(body, name, 5), "is not a string");
    }
    expect_jws_error(with_member(body, "signature", ""), "empty signature");
    expect_jws_error(with_member(body, "payload", j["payload"].get<std::string>() + "="), "\"payload\" is not base64url");
    expect_jws_error(with_member(body, "signature", "ab+/"), "\"signature\" is not base64url");
    expect_jws_error(with_member(body, "payload", "e30 "), "\"payload\" is not base64url");
    expect_jws_error(with_member(body, "payload", "e31"), "\"payload\" is not base64url");  // non-canonical tail
    std::string dup = body;
    dup.insert(1, R"("payload":"",)");
    expect_jws_error(dup, "duplicate key \"payload\"");
}

TEST_CASE("the protected header: alg, url, exactly one of jwk and kid, no b64 or crit, no duplicate keys") {
    const Signer& s = signer(JwsAlg::es256);
    auto signed_with = [&](json h) { return sign(s.key.get(), JwsAlg::es256, std::move(h), "{}"); };
    auto raw_header = [&](const std::string& text) {
        return with_member(signed_with(jwk_header(s)), "protected", base64url_encode(text));
    };
    json both = jwk_header(s);
    both["kid"] = "https://acme.test/acme/acct/1";
    expect_jws_error(signed_with(both), "exactly one of \"jwk\" and \"kid\"");
    json neither = jwk_header(s);
    neither.erase("jwk");
    expect_jws_error(signed_with(neither), "exactly one of \"jwk\" and \"kid\"");
    json no_url = jwk_header(s);
    no_url.erase("url");
    expect_jws_error(signed_with(no_url), "no \"url\"");
    json b64 = jwk_header(s);
    b64["b64"] = false;
    expect_jws_error(signed_with(b64), "header \"b64\" is not supported");
    json crit = jwk_header(s);
    crit["crit"] = json::array({"exp"});
    expect_jws_error(signed_with(crit), "header \"crit\" is not supported");
    json nonce_number = jwk_header(s);
    nonce_number["nonce"] = 5;
    expect_jws_error(signed_with(nonce_number), "header \"nonce\" is not a string");
    json empty_kid = neither;
    empty_kid["kid"] = "";
    expect_jws_error(signed_with(empty_kid), "empty \"kid\"");
    expect_jws_error(signed_with({{"alg", 256}, {"url", kUrl}, {"kid", "k"}}), "header \"alg\" is not a string");
    expect_jws_error(raw_header(R"({"url":"u","kid":"k"})"), "no \"alg\"");
    expect_jws_error(raw_header(R"({"alg":"ES256","alg":"none","url":"u","kid":"k"})"), "duplicate key \"alg\"");
    expect_jws_error(raw_header(R"(["alg"])"), "protected header is not an object");
    expect_jws_error(raw_header("{"), "protected header is not JSON");
    expect_jws_error(with_member(signed_with(jwk_header(s)), "protected", ""), "protected header is not JSON");
    // A bad key in the header is the key's error (the server's badPublicKey).
    json private_jwk = jwk_header(s);
    private_jwk["jwk"]["d"] = "AQAB";
    expect_jws_error(signed_with(private_jwk), "JWK: private member \"d\"", ErrorKind::invalid_argument);
    json oct = jwk_header(s);
    oct["jwk"] = {{"kty", "oct"}};
    expect_jws_error(signed_with(oct), "JWK: unsupported key type", ErrorKind::invalid_argument);
    // Unknown members are kept, not refused (RFC 7515 §4: ignored unless crit).
    json typ = jwk_header(s);
    typ["typ"] = "JOSE+JSON";
    Jws jws = Jws::parse(signed_with(typ));
    CHECK(jws.header["typ"] == "JOSE+JSON");
    CHECK(verify(jws, *jws.jwk));
}

// ---------------------------------------------------------------- EAB

TEST_CASE("External Account Binding: HS256/384/512 over the account key, constant-time compare") {
    const Signer& s = signer(JwsAlg::es256);
    std::string mac_key = *base64url_decode("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W");
    json account = Jwk::from_key(s.key.get()).to_json();
    for (const char* alg : {"HS256", "HS384", "HS512"}) {
        CAPTURE(alg);
        std::string body = hmac_sign(mac_key, alg, {{"kid", "kid-1"}, {"url", kUrl}}, account.dump());
        Jws eab = Jws::parse(body);
        CHECK(eab.alg_name == alg);
        CHECK_FALSE(eab.alg);  // not an account algorithm
        CHECK_FALSE(eab.nonce);
        CHECK(Jwk::parse(std::string_view(eab.payload)).spki_der() == spki_of(s.key.get()));
        CHECK(hmac_verify(eab, mac_key));
        CHECK_FALSE(hmac_verify(eab, mac_key + "x"));
        CHECK_FALSE(hmac_verify(Jws::parse(with_member(body, "payload", flip(json::parse(body)["payload"]))), mac_key));
        CHECK_FALSE(verify(eab, Jwk::from_key(s.key.get())));
    }
    // HS256 labelled, HS512 computed: the lengths differ.
    std::string lie = hmac_sign(mac_key, "HS512", {{"alg", "HS256"}, {"kid", "k"}, {"url", kUrl}}, "{}");
    CHECK_FALSE(hmac_verify(Jws::parse(lie), mac_key));
    // An account signature is not a MAC.
    CHECK_FALSE(hmac_verify(Jws::parse(sign(s.key.get(), JwsAlg::es256, jwk_header(s), "{}")), mac_key));
    CHECK_THROWS_AS(hmac_sign(mac_key, "none", {{"kid", "k"}, {"url", kUrl}}, "{}"), Error);
}

// ---------------------------------------------------------------- differential

TEST_CASE("differential: random keys through from_key, to_json and parse keep OpenSSL's SPKI and sign/verify") {
    // RSA generation dominates the test's time: fewer RSA keys unless asked
    // (MINICA_JOSE_KEYS=300 runs as many of every kind).
    int many = 100, rsa = 8;
    if (const char* env = std::getenv("MINICA_JOSE_KEYS")) many = rsa = std::atoi(env);
    struct Kind {
        std::string type;
        std::size_t rsa_bits;
        JwsAlg alg;
        int count;
    };
    for (Kind k : {Kind{"EC-P256", 0, JwsAlg::es256, many}, Kind{"EC-P384", 0, JwsAlg::es384, many},
                   Kind{"ED25519", 0, JwsAlg::eddsa, many}, Kind{"ED448", 0, JwsAlg::eddsa, many},
                   Kind{"RSA", 2048, JwsAlg::rs256, rsa}, Kind{"RSA", 3072, JwsAlg::rs256, rsa / 4}}) {
        CAPTURE(k.type);
        for (int i = 0; i < k.count; ++i) {
            auto key = keygen(k.type.c_str(), k.rsa_bits);
            Jwk jwk = Jwk::parse(std::string_view(Jwk::from_key(key.get()).to_json().dump()));
            REQUIRE(jwk.spki_der() == spki_of(key.get()));
            REQUIRE(EVP_PKEY_eq(jwk.native(), key.get()) == 1);
            Jws jws = Jws::parse(sign(key.get(), k.alg, {{"url", kUrl}, {"kid", "k"}}, std::to_string(i)));
            REQUIRE(verify(jws, jwk));
        }
    }
}
