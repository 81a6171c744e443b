// CertificateRequest::parse (PEM or DER, detected), differentially against
// OpenSSL's PEM_read_bio_X509_REQ / d2i_X509_REQ, then what `minica sign --csr`
// does with an untrusted request: its accessors, check_request, and signing it
// under a policy with a fixed CA (only reached by requests whose signature verifies).
// Promises: minica accepts only what OpenSSL reads, with the same DER;
// nothing but minica::Error comes out. MINICA_FUZZ_STRICT=1 also fails on
// a DER request followed by bytes d2i_X509_REQ ignores.
#include <optional>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common.hpp"
#include "minica/authority.hpp"
#include "minica/csr.hpp"
#include "minica/detail/ossl.hpp"

namespace {

using minica::detail::Ptr;

const minica::Authority& authority() {
    // Fixed clock: the same input signs the same way on every run.
    static const minica::Authority ca = minica::Authority::create_root(
        {.subject = {"fuzz root", {}, {}, {}}, .now = minica::Time{std::chrono::seconds{1767225600}}});
    return ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = fuzz::as_text(data, size);
    std::optional<minica::CertificateRequest> csr;
    fuzz::attempt("CertificateRequest::parse", [&] { csr = minica::CertificateRequest::parse(in); });

    Ptr<X509_REQ> theirs;
    bool whole = true;
    if (in.find("-----BEGIN") != std::string_view::npos) {
        minica::detail::BioPtr bio = minica::detail::mem_bio(in);
        theirs.reset(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    } else {
        const unsigned char* p = data;
        theirs.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(size)));
        whole = p == data + size;
    }
    fuzz::clear_openssl_errors();
    if (!csr) return 0;

    fuzz::require(theirs != nullptr, "minica accepted a certificate request OpenSSL refuses");
    if (fuzz::strict()) fuzz::require(whole, "minica accepted a DER request with trailing bytes");
    fuzz::attempt("to_der()", [&] {
        fuzz::require(csr->to_der() == minica::detail::to_der(i2d_X509_REQ, theirs.get(), "request"),
                      "the request's DER differs from OpenSSL's");
    });
    fuzz::attempt("subject()", [&] { (void)csr->subject(); });
    fuzz::attempt("common_name()", [&] { (void)csr->common_name(); });
    fuzz::attempt("names()", [&] { (void)csr->names().to_string(); });
    fuzz::attempt("extensions()", [&] { (void)csr->extensions(); });
    fuzz::attempt("requests_ca()", [&] { (void)csr->requests_ca(); });
    fuzz::attempt("key_name()", [&] { (void)csr->key_name(); });
    fuzz::attempt("key_type()", [&] { (void)csr->key_type(); });
    fuzz::attempt("public_key_der()", [&] {
        // Written by minica's fast path where it has one: i2d_PUBKEY's bytes.
        if (EVP_PKEY* key = X509_REQ_get0_pubkey(theirs.get()))
            fuzz::require(csr->public_key_der() == minica::detail::spki_der_openssl(key),
                          "the request's SPKI differs from i2d_PUBKEY's");
        else
            (void)csr->public_key_der();
    });
    fuzz::attempt("to_json().dump()", [&] { (void)csr->to_json().dump(2); });
    fuzz::attempt("to_pem() round trip", [&] {
        fuzz::require(minica::CertificateRequest::parse(csr->to_pem()).to_der() == csr->to_der(),
                      "parse(to_pem()) is not the same request");
    });
    if (!fuzz::attempt("check_signature()", [&] { csr->check_signature(); })) return 0;

    // `minica sign --csr`: the checks, then a certificate built from scratch.
    for (minica::Profile profile : minica::leaf_profiles) {
        if (!fuzz::attempt("check_request", [&] { minica::check_request(*csr, profile); })) continue;
        fuzz::attempt("Authority::sign", [&] {
            minica::Certificate leaf = authority().sign(*csr, minica::Policy{},
                                                        {.profile = profile, .now = minica::Time{std::chrono::seconds{1767225600}}});
            fuzz::require(leaf.signed_by(authority().certificate()), "the signed leaf does not verify under its CA");
            fuzz::require(!leaf.is_ca(), "a CSR got a CA certificate");
        });
    }
    fuzz::clear_openssl_errors();
    return 0;
}
