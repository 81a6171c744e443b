// The hand-written DER encoders must produce exactly OpenSSL's bytes.
#include <doctest/doctest.h>

#include <openssl/encoder.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "minica/detail/der.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"

using namespace minica;
namespace der = minica::detail::der;

static std::string openssl_encode(EVP_PKEY* pkey, const char* structure, int selection) {
    OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "DER", structure, nullptr);
    REQUIRE(ctx != nullptr);
    unsigned char* data = nullptr;
    size_t len = 0;
    REQUIRE(OSSL_ENCODER_to_data(ctx, &data, &len) == 1);
    std::string out(reinterpret_cast<char*>(data), len);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(ctx);
    return out;
}

TEST_CASE("OIDs encode as OpenSSL encodes them") {
    for (const char* dotted : {"1.2.840.10045.2.1", "1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.101.112",
                               "2.5.29.19", "1.3.6.1.5.5.7.3.1", "1.2.840.113549.1.1.11", "2.5.4.3"}) {
        ASN1_OBJECT* obj = OBJ_txt2obj(dotted, 1);
        REQUIRE(obj != nullptr);
        std::string expected(reinterpret_cast<const char*>(OBJ_get0_data(obj)), OBJ_length(obj));
        ASN1_OBJECT_free(obj);
        CHECK(der::encode_oid(dotted) == expected);
    }
    CHECK_THROWS_AS(der::encode_oid("1"), Error);
    CHECK_THROWS_AS(der::encode_oid("1.x.3"), Error);
}

TEST_CASE("SubjectPublicKeyInfo and PKCS#8 equal OpenSSL's encodings byte for byte") {
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519}) {
        CAPTURE(to_string(t));
        for (int i = 0; i < 20; ++i) {  // several keys: leading-zero scalars must be padded like OpenSSL
            PrivateKey key = PrivateKey::generate(t);
            CHECK(key.public_key_der() == openssl_encode(key.native(), "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY));
            CHECK(key.to_der() == openssl_encode(key.native(), "PrivateKeyInfo", EVP_PKEY_KEYPAIR));
        }
    }
}

TEST_CASE("integers, bit strings and times are minimal DER") {
    der::Writer w;
    w.integer(0);
    w.integer(127);
    w.integer(128);
    w.integer(-1);
    w.unsigned_integer(std::string("\x00\x00\x80", 3));
    CHECK(w.str() == std::string("\x02\x01\x00\x02\x01\x7f\x02\x02\x00\x80\x02\x01\xff\x02\x02\x00\x80", 17));

    der::Writer ku;
    ku.named_bits(1u << 0);  // digitalSignature
    CHECK(ku.str() == std::string("\x03\x02\x07\x80", 4));
    der::Writer ca;
    ca.named_bits((1u << 0) | (1u << 5) | (1u << 6));  // digitalSignature, keyCertSign, cRLSign
    CHECK(ca.str() == std::string("\x03\x02\x01\x86", 4));
    der::Writer rsa;
    rsa.named_bits((1u << 0) | (1u << 2));  // digitalSignature, keyEncipherment
    CHECK(rsa.str() == std::string("\x03\x02\x05\xa0", 4));

    using namespace std::chrono;
    der::Writer t;
    t.time(sys_days{year{2049} / 12 / 31} + hours{23} + minutes{59} + seconds{59});
    t.time(sys_days{year{2050} / 1 / 1});
    CHECK(t.str() == std::string("\x17\x0d" "491231235959Z" "\x18\x0f" "20500101000000Z"));
}

TEST_CASE("long lengths are encoded in the long form") {
    der::Writer w;
    w.octet_string(std::string(300, 'a'));
    CHECK(w.str().substr(0, 4) == std::string("\x04\x82\x01\x2c", 4));
    der::Writer n;
    n.sequence([&] { n.octet_string(std::string(200, 'b')); });
    CHECK(n.str().substr(0, 6) == std::string("\x30\x81\xcb\x04\x81\xc8", 6));
    CHECK(n.str().size() == 3 + 3 + 200);
}
