// Certificate::from_der, differentially against OpenSSL's d2i_X509.
//
// minica reads the TBSCertificate fields with its own DER walk (certificate.cpp
// parse_fields) and decodes the key with OpenSSL only when asked. Promises:
//  - what minica accepts, d2i_X509 accepts too, as the whole input;
//  - the fields minica reads itself (subject, issuer, serial, validity, SPKI)
//    are the ones OpenSSL reads;
//  - every accessor and the JSON view (`minica inspect --json`) either work
//    or throw minica::Error.
// MINICA_FUZZ_STRICT=1 also fails when minica refuses a certificate d2i_X509 reads whole.
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>
#include <openssl/x509.h>

#include "common.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/text.hpp"

namespace {

using minica::Certificate;
using minica::detail::Ptr;

std::string i2d_name(const X509_NAME* name) {
    return minica::detail::to_der(i2d_X509_NAME, name, "name");
}

// The one-line form Certificate::subject() prints (detail::name_line): OpenSSL's
// one-line print, made printable().
std::string name_line(const X509_NAME* name) {
    minica::detail::BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0,
                       (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) | ASN1_STRFLGS_UTF8_CONVERT);
    return minica::printable(minica::detail::bio_string(bio.get()));
}

// Nothing read from a certificate reaches a terminal with a control character.
void require_printable(const std::string& s, const char* what) {
    for (unsigned char c : s)
        fuzz::require(c >= 0x20 && c != 0x7f, std::string(what) + " carries a control character");
}

// Every accessor, as `minica inspect` calls them.
void exercise(const Certificate& c) {
    fuzz::attempt("subject()", [&] { (void)c.subject(); });
    fuzz::attempt("issuer()", [&] { (void)c.issuer(); });
    fuzz::attempt("common_name()", [&] { require_printable(c.common_name(), "common_name()"); });
    fuzz::attempt("names()", [&] { require_printable(c.names().to_string(), "names()"); });
    fuzz::attempt("subject() printable", [&] { require_printable(c.subject(), "subject()"); });
    fuzz::attempt("serial_hex()", [&] { (void)c.serial_hex(); });
    fuzz::attempt("not_before()", [&] { (void)minica::format_time(c.not_before()); });
    fuzz::attempt("not_after()", [&] { (void)minica::format_time(c.not_after()); });
    fuzz::attempt("is_ca()", [&] { (void)c.is_ca(); });
    fuzz::attempt("path_len()", [&] { (void)c.path_len(); });
    fuzz::attempt("self_signed()", [&] { (void)c.self_signed(); });
    fuzz::attempt("self_issued()", [&] { (void)c.self_issued(); });
    fuzz::attempt("key_usage()", [&] { (void)c.key_usage(); });
    fuzz::attempt("extended_key_usage()", [&] { (void)c.extended_key_usage(); });
    fuzz::attempt("name_constraints()", [&] {
        auto nc = c.name_constraints();
        for (const auto& n : nc.permitted_ip) (void)n.to_string();
        for (const auto& n : nc.excluded_ip) (void)n.to_string();
    });
    fuzz::attempt("key_name()", [&] { (void)c.key_name(); });
    fuzz::attempt("key_type()", [&] { (void)c.key_type(); });
    fuzz::attempt("key_bits()", [&] { (void)c.key_bits(); });
    fuzz::attempt("signature_algorithm()", [&] { (void)c.signature_algorithm(); });
    fuzz::attempt("key ids", [&] {
        (void)c.subject_key_id();
        (void)c.authority_key_id();
        (void)c.key_identifier();
    });
    fuzz::attempt("fingerprints", [&] {
        (void)c.fingerprint_sha256();
        (void)c.spki_pin();
    });
    // What `minica inspect --json` prints: the JSON, then its text.
    fuzz::attempt("to_json().dump()", [&] { (void)c.to_json().dump(2); });
    fuzz::attempt("to_pem() round trip", [&] {
        fuzz::require(Certificate::from_pem(c.to_pem()) == c, "from_pem(to_pem()) is not the same certificate");
    });
}

// The fields minica reads without OpenSSL, against OpenSSL's reading of the same bytes.
void compare(const Certificate& c, X509* x) {
    fuzz::attempt("subject_der()", [&] {
        fuzz::require(c.subject_der() == i2d_name(X509_get_subject_name(x)), "subject DER differs from OpenSSL's");
    });
    fuzz::attempt("public_key_der()", [&] {
        fuzz::require(c.public_key_der() == minica::detail::to_der(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(x), "spki"),
                      "SubjectPublicKeyInfo differs from OpenSSL's");
    });
    auto same_name = [&](std::string (Certificate::*mine)() const, const X509_NAME* theirs, const char* what) {
        fuzz::attempt(what, [&] {
            fuzz::require((c.*mine)() == name_line(theirs), std::string(what) + " differs from OpenSSL's");
        });
    };
    same_name(&Certificate::subject, X509_get_subject_name(x), "subject");
    same_name(&Certificate::issuer, X509_get_issuer_name(x), "issuer");
    fuzz::attempt("serial_hex()", [&] {
        Ptr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
        if (!bn) return;
        minica::detail::OpensslMem<char> hex(BN_bn2hex(bn.get()));
        std::string theirs(hex.get());
        bool negative = !theirs.empty() && theirs[0] == '-';
        if (negative) theirs.erase(0, 1);
        std::size_t nz = theirs.find_first_not_of('0');
        theirs = nz == std::string::npos ? "0" : theirs.substr(nz);
        if (negative) theirs.insert(0, "-");
        fuzz::require(c.serial_hex() == theirs, "serial_hex() " + c.serial_hex() + " differs from OpenSSL's " + theirs);
    });
    auto same_time = [&](minica::Time (Certificate::*mine)() const, const ASN1_TIME* theirs, const char* what) {
        fuzz::attempt(what, [&] {
            minica::Time t = (c.*mine)();
            struct tm tm {};
            if (ASN1_TIME_to_tm(theirs, &tm) != 1) fuzz::fail(std::string(what) + ": minica read a time OpenSSL cannot");
            fuzz::require(t.time_since_epoch().count() == timegm(&tm), std::string(what) + " differs from OpenSSL's");
        });
    };
    same_time(&Certificate::not_before, X509_get0_notBefore(x), "notBefore");
    same_time(&Certificate::not_after, X509_get0_notAfter(x), "notAfter");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view der = fuzz::as_text(data, size);
    std::optional<Certificate> cert;
    fuzz::attempt("Certificate::from_der", [&] { cert = Certificate::from_der(der); });

    const unsigned char* p = data;
    Ptr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(size)));
    bool openssl_whole = x != nullptr && p == data + size;
    fuzz::clear_openssl_errors();

    if (cert) {
        fuzz::require(openssl_whole, x ? "minica accepted a certificate with bytes d2i_X509 leaves over"
                                       : "minica accepted a certificate d2i_X509 refuses");
        compare(*cert, x.get());
        exercise(*cert);
    } else if (fuzz::strict()) {
        fuzz::require(!openssl_whole, "minica refused a certificate d2i_X509 reads whole");
    }
    fuzz::clear_openssl_errors();
    return 0;
}
