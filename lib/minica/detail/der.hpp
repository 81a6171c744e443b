// A minimal DER writer. Certificates, CSRs, CRLs, SubjectPublicKeyInfo and
// PKCS#8 for EC/Ed25519 are encoded here instead of through OpenSSL's generic
// provider encoders (X509_set_pubkey, PEM_write_bio_PrivateKey), which on
// OpenSSL 3.0 cost more than the key generation and signature themselves
// (bench/bench_issue measures the difference). Tests compare the bytes
// with OpenSSL's own encodings (tests/test_der.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "minica/types.hpp"

namespace minica::detail::der {

// DER tags used here.
enum Tag : std::uint8_t {
    BOOLEAN = 0x01, INTEGER = 0x02, BIT_STRING = 0x03, OCTET_STRING = 0x04, NULL_ = 0x05,
    OID = 0x06, ENUMERATED = 0x0a, UTF8_STRING = 0x0c, PRINTABLE_STRING = 0x13, IA5_STRING = 0x16,
    UTC_TIME = 0x17, GENERALIZED_TIME = 0x18, SEQUENCE = 0x30, SET = 0x31,
};
constexpr std::uint8_t context(unsigned n) { return static_cast<std::uint8_t>(0x80 | n); }
constexpr std::uint8_t context_constructed(unsigned n) { return static_cast<std::uint8_t>(0xa0 | n); }

// Content octets of an OBJECT IDENTIFIER in dotted form ("1.2.840.10045.2.1").
std::string encode_oid(std::string_view dotted);

// The key algorithms minica handles itself (content octets, encoded once).
const std::string& oid_ec_public_key();  // 1.2.840.10045.2.1
const std::string& oid_p256();           // 1.2.840.10045.3.1.7 (prime256v1)
const std::string& oid_p384();           // 1.3.132.0.34 (secp384r1)
const std::string& oid_ed25519();        // 1.3.101.112

class Writer {
public:
    Writer() { out_.reserve(1024); }

    // Opens a constructed element; returns a mark for end().
    std::size_t begin(std::uint8_t tag) {
        out_.push_back(static_cast<char>(tag));
        out_.push_back(0);
        return out_.size();
    }
    void end(std::size_t mark);
    template <class F> void nested(std::uint8_t tag, F&& body) {
        auto m = begin(tag);
        body();
        end(m);
    }
    template <class F> void sequence(F&& body) { nested(SEQUENCE, body); }

    void tlv(std::uint8_t tag, std::string_view content);
    void raw(std::string_view bytes) { out_.append(bytes); }
    // An unsigned big-endian integer: leading zeros stripped, 0x00 added when the top bit is set.
    void unsigned_integer(std::string_view big_endian);
    void integer(std::int64_t v);
    void boolean(bool v) { tlv(BOOLEAN, v ? std::string_view("\xff", 1) : std::string_view("\x00", 1)); }
    void null() { tlv(NULL_, {}); }
    void oid(std::string_view encoded) { tlv(OID, encoded); }
    void octet_string(std::string_view v) { tlv(OCTET_STRING, v); }
    void bit_string(std::string_view bytes);  // no unused bits
    // A BIT STRING of named bits (bit 0 = the most significant bit of the first octet), DER-minimal.
    void named_bits(unsigned bits);
    void time(Time t);  // UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5)

    std::string& str() noexcept { return out_; }
    std::string take() noexcept { return std::move(out_); }

private:
    std::string out_;
};

// Reads one TLV from the front of `in` (definite lengths only); false on malformed input.
bool next(std::string_view& in, std::uint8_t& tag, std::string_view& content);

// Encodes a Name (SEQUENCE OF RDN) with C, O, OU, CN in that order.
void name(Writer& w, const DistinguishedName& dn);

// SubjectPublicKeyInfo of the keys minica writes itself: an EC point
// (P-256/P-384, its curve's OID given) and an Ed25519 public key. The point
// or key is taken as it is (the caller decides its form).
std::string ec_spki(const std::string& curve_oid, std::string_view point);
std::string ed25519_spki(std::string_view public_key);

}  // namespace minica::detail::der
