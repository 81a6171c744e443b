#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "minica/error.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/key.hpp"

using namespace minica;

TEST_CASE("every key type generates, round-trips through PEM and reports itself") {
    for (KeyType t : all_key_types) {
        if (t == KeyType::rsa_4096 || t == KeyType::rsa_3072) continue;  // slow; covered by interop tests
        CAPTURE(to_string(t));
        PrivateKey key = PrivateKey::generate(t);
        CHECK(key.type() == t);
        CHECK(parse_key_type(to_string(t)) == t);
        std::string pem = key.to_pem();
        CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
        PrivateKey back = PrivateKey::from_pem(pem);
        CHECK(back.same_public_key(key.native()));
        CHECK(back.spki_pin() == key.spki_pin());
        CHECK(key.spki_pin().rfind("sha256//", 0) == 0);
        CHECK(key.spki_pin().size() == 8 + 44);
        CHECK(key.spki_sha256_hex().size() == 64);
    }
    CHECK(PrivateKey::generate(KeyType::ec_p384).bits() == 384);
    CHECK_THROWS_WITH_AS(parse_key_type("dsa-1024"), doctest::Contains("unknown key type"), Error);
}

TEST_CASE("encrypted keys: PBES2 + AES-256 + scrypt, wrong passphrase refused") {
    PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    std::string pem = key.to_pem("correct horse");
    CHECK(pem.rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    PrivateKey back = PrivateKey::from_pem(pem, "test.pem", "correct horse");
    CHECK(back.same_public_key(key.native()));
    try {
        PrivateKey::from_pem(pem, "test.pem", "wrong");
        FAIL("wrong passphrase accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::passphrase);
        CHECK(std::string(e.what()).find("test.pem") != std::string::npos);
    }
    try {
        PrivateKey::from_pem(pem, "test.pem");
        FAIL("missing passphrase accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::passphrase);
    }
    // The structure is PBES2 with scrypt and AES-256-CBC.
    std::string der;
    {
        std::string b64;
        std::size_t start = pem.find('\n') + 1, end = pem.find("-----END");
        for (char c : pem.substr(start, end - start))
            if (c != '\n') b64.push_back(c);
        der.resize(b64.size());
        int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
        der.resize(static_cast<std::size_t>(n));
    }
    auto contains = [&](std::string_view oid_bytes) { return der.find(oid_bytes) != std::string::npos; };
    CHECK(contains(std::string_view("\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0d", 9)));  // PBES2
    CHECK(contains(std::string_view("\x2b\x06\x01\x04\x01\xda\x47\x04\x0b", 9)));  // id-scrypt
    CHECK(contains(std::string_view("\x60\x86\x48\x01\x65\x03\x04\x01\x2a", 9)));  // aes256-CBC
}

TEST_CASE("corrupt, truncated and unsupported keys give errors naming the input") {
    PrivateKey key = PrivateKey::generate(KeyType::ec_p256);
    std::string pem = key.to_pem();
    auto expect = [](std::string_view input, ErrorKind kind, const char* text) {
        try {
            PrivateKey::from_pem(input, "bad.pem");
            FAIL("accepted bad key: " << input.substr(0, 40));
        } catch (const Error& e) {
            CHECK(e.kind() == kind);
            CHECK(std::string(e.what()).find("bad.pem") != std::string::npos);
            CHECK(std::string(e.what()).find(text) != std::string::npos);
        }
    };
    expect("", ErrorKind::parse, "no PEM");
    expect("hello", ErrorKind::parse, "no PEM");
    expect(pem.substr(0, pem.size() / 2), ErrorKind::parse, "malformed");
    std::string flipped = pem;
    flipped[40] = flipped[40] == 'A' ? 'B' : 'A';
    expect(flipped, ErrorKind::parse, "");
    // A 1024-bit RSA key is not a supported type.
    EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
    REQUIRE(small != nullptr);
    CHECK_THROWS_WITH_AS(PrivateKey{small}, doctest::Contains("unsupported RSA key size 1024"), Error);
    CHECK_THROWS_AS(PrivateKey::load("/nonexistent/key.pem"), Error);
}

// PrivateKey::from_pem reads unencrypted PKCS#8 EC and Ed25519 keys itself
// (key.cpp, pkey_from_pkcs8); OpenSSL's decoder must agree on every one.
TEST_CASE("the PKCS#8 fast path reads exactly what OpenSSL's decoder reads") {
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519}) {
        CAPTURE(to_string(t));
        PrivateKey k = PrivateKey::generate(t);
        std::string pem = k.to_pem();
        PrivateKey fast = PrivateKey::from_pem(pem);
        CHECK(fast.type() == t);
        CHECK(fast.to_der() == k.to_der());
        CHECK(fast.public_key_der() == k.public_key_der());
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        EVP_PKEY* ossl = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        REQUIRE(ossl != nullptr);
        CHECK(EVP_PKEY_eq(fast.native(), ossl) == 1);
        EVP_PKEY_free(ossl);
        // And it signs: a signature made with the fast-path key verifies with the original.
        const unsigned char msg[] = "minica";
        std::size_t siglen = 0;
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        const EVP_MD* digest = t == KeyType::ed25519 ? nullptr : EVP_sha256();
        REQUIRE(EVP_DigestSignInit(md, nullptr, digest, nullptr, fast.native()) == 1);
        REQUIRE(EVP_DigestSign(md, nullptr, &siglen, msg, sizeof msg) == 1);
        std::string sig(siglen, '\0');
        REQUIRE(EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &siglen, msg, sizeof msg) == 1);
        EVP_MD_CTX_free(md);
        md = EVP_MD_CTX_new();
        REQUIRE(EVP_DigestVerifyInit(md, nullptr, digest, nullptr, k.native()) == 1);
        CHECK(EVP_DigestVerify(md, reinterpret_cast<unsigned char*>(sig.data()), siglen, msg, sizeof msg) == 1);
        EVP_MD_CTX_free(md);
    }
}

TEST_CASE("detail::spki_der writes exactly what i2d_PUBKEY writes") {
    using detail::spki_der;
    using detail::spki_der_openssl;
    auto check = [](EVP_PKEY* key) {
        REQUIRE(key != nullptr);
        CHECK(spki_der(key) == spki_der_openssl(key));
        // Read back through OpenSSL's decoder (every form: the point as the
        // key holds it, the curve as it is named) and written again.
        const std::string der = spki_der(key);
        const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
        EVP_PKEY* back = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
        REQUIRE(back != nullptr);
        CHECK(EVP_PKEY_eq(back, key) == 1);
        CHECK(spki_der(back) == spki_der_openssl(back));
        EVP_PKEY_free(back);
    };
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::ed25519, KeyType::rsa_2048}) {
        CAPTURE(to_string(t));
        PrivateKey k = PrivateKey::generate(t);
        check(k.native());
        CHECK(spki_der(k.native()) == k.public_key_der());
    }
    // The other spellings OpenSSL keeps: a compressed point, explicit curve
    // parameters, a curve without a fast path, Ed448.
    for (const char* form : {"compressed", "hybrid"}) {
        CAPTURE(form);
        EVP_PKEY* k = EVP_EC_gen("P-256");
        REQUIRE(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form) == 1);
        check(k);
        CHECK(spki_der(k).at(26) != '\x04');  // the point's first byte: not uncompressed
        EVP_PKEY_free(k);
    }
    {
        EVP_PKEY* k = EVP_EC_gen("P-384");
        REQUIRE(EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT) == 1);
        check(k);
        EVP_PKEY_free(k);
    }
    for (const char* curve : {"secp256k1", "P-521"}) {
        EVP_PKEY* k = EVP_EC_gen(curve);
        check(k);
        EVP_PKEY_free(k);
    }
    EVP_PKEY* ed448 = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448");
    check(ed448);
    EVP_PKEY_free(ed448);
    CHECK_THROWS_AS(spki_der(nullptr), Error);
}

TEST_CASE("a PKCS#8 EC key whose public point is not its private scalar's is refused") {
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384}) {
        CAPTURE(to_string(t));
        const std::size_t width = t == KeyType::ec_p256 ? 32 : 48;
        const std::size_t point = 1 + 2 * width;
        PrivateKey k = PrivateKey::generate(t);
        std::string der = k.to_der();
        auto refused = [](const std::string& bad, const char* why) {
            INFO(why);
            try {
                PrivateKey::from_pem(detail::pem_encode("PRIVATE KEY", bad), "swapped.pem");
                FAIL("a mismatched key pair was accepted");
            } catch (const Error& e) {
                CHECK(e.kind() == ErrorKind::parse);
                CHECK(std::string(e.what()).find("swapped.pem") != std::string::npos);
                CHECK(std::string(e.what()).find("does not match") != std::string::npos);
            }
        };
        // The public point is the last octets of the ECPrivateKey (no attributes
        // follow); the scalar is the OCTET STRING right after `INTEGER 1`.
        std::string other_der = PrivateKey::generate(t).to_der();
        std::string swapped = der;
        swapped.replace(swapped.size() - point, point, other_der.substr(other_der.size() - point));
        refused(swapped, "another key's public point");

        // A scalar of n+1 with the generator as its public point: right modulo
        // the order, but not a private key (d must be in [1, n-1]).
        EC_GROUP* g = EC_GROUP_new_by_curve_name(t == KeyType::ec_p256 ? NID_X9_62_prime256v1 : NID_secp384r1);
        REQUIRE(g != nullptr);
        std::string gen(point, '\0'), scalar(width, '\0');
        REQUIRE(EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED,
                                   reinterpret_cast<unsigned char*>(gen.data()), gen.size(), nullptr) == point);
        BIGNUM* n1 = BN_dup(EC_GROUP_get0_order(g));
        REQUIRE(BN_add_word(n1, 1) == 1);
        REQUIRE(BN_bn2binpad(n1, reinterpret_cast<unsigned char*>(scalar.data()), static_cast<int>(width)) ==
                static_cast<int>(width));
        BN_free(n1);
        EC_GROUP_free(g);
        const std::string marker = std::string("\x02\x01\x01\x04", 4) + static_cast<char>(width);
        std::size_t at = der.find(marker);
        REQUIRE(at != std::string::npos);
        std::string beyond = der;
        beyond.replace(at + marker.size(), width, scalar);
        beyond.replace(beyond.size() - point, point, gen);
        refused(beyond, "a scalar beyond the group order");
    }
}
