// Crl::parse (PEM or DER, detected), differentially against OpenSSL's
// PEM_read_bio_X509_CRL / d2i_X509_CRL, then what `minica inspect` reads of a
// CRL (its accessors and the JSON it prints; tools/minica/inspect.cpp crl_json).
// Promises: minica accepts only what OpenSSL reads, with the same DER; nothing
// but minica::Error comes out; what minica writes back (to_pem) it reads again.
// MINICA_FUZZ_STRICT=1 also fails on a DER CRL followed by bytes d2i_X509_CRL
// ignores, and on a PEM round trip that changes the DER (OpenSSL re-encodes).
#include <optional>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/revocation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = fuzz::as_text(data, size);
    std::optional<minica::Crl> crl;
    fuzz::attempt("Crl::parse", [&] { crl = minica::Crl::parse(in); });

    minica::detail::Ptr<X509_CRL> theirs;
    bool whole = true;
    if (in.find("-----BEGIN") != std::string_view::npos) {
        minica::detail::BioPtr bio = minica::detail::mem_bio(in);
        theirs.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    } else {
        const unsigned char* p = data;
        theirs.reset(d2i_X509_CRL(nullptr, &p, static_cast<long>(size)));
        whole = p == data + size;
    }
    fuzz::clear_openssl_errors();
    if (!crl) return 0;

    fuzz::require(theirs != nullptr, "minica accepted a CRL OpenSSL refuses");
    if (fuzz::strict()) fuzz::require(whole, "minica accepted a DER CRL with trailing bytes");
    // Crl::der() is the input when it is DER (with any trailing bytes), and
    // OpenSSL's re-encoding when it is PEM: the two differ for input OpenSSL
    // reads but does not write back (a BIT STRING's nonzero padding bits, ...).
    fuzz::attempt("der()", [&] {
        if (in.find("-----BEGIN") == std::string_view::npos) fuzz::require(crl->der() == in, "der() is not the DER read");
    });
    fuzz::attempt("the JSON minica inspect prints", [&] {
        auto entries = nlohmann::json::array();
        for (const auto& e : crl->entries())
            entries.push_back({{"serial", e.serial_hex},
                               {"revoked_at", minica::format_time(e.revoked_at)},
                               {"reason", std::string(minica::to_string(e.reason))}});
        nlohmann::json j = {{"issuer", crl->issuer()},
                            {"number", crl->number()},
                            {"this_update", minica::format_time(crl->this_update())},
                            {"next_update", minica::format_time(crl->next_update())},
                            {"revoked", entries}};
        (void)j.dump(2);
    });
    fuzz::attempt("is_revoked()", [&] { (void)crl->is_revoked("01"); });
    fuzz::attempt("to_pem() round trip", [&] {
        minica::Crl again = minica::Crl::parse(crl->to_pem());
        if (fuzz::strict()) fuzz::require(again.der() == crl->der(), "parse(to_pem()) is not the same CRL");
    });
    fuzz::clear_openssl_errors();
    return 0;
}
