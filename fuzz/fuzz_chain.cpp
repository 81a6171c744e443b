// Certificate::chain_from_pem: every CERTIFICATE block of a PEM text, in order.
// Promises: it returns at least one certificate or throws minica::Error; each
// certificate it returns is one d2i_X509 reads whole, and survives the
// accessors a chain's reader calls (`minica inspect`, `minica verify`).
// Differentially, detail::pem_block_der (the inventory checks a stored PEM
// by its DER's SHA-256 without parsing it): never a crash; where both read
// the text, the first block's DER is the first certificate's; and it reads
// back every certificate's own PEM (what the inventory stores) as its DER.
#include <nlohmann/json.hpp>
#include <openssl/x509.h>

#include "common.hpp"
#include "minica/certificate.hpp"
#include "minica/detail/ossl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<minica::Certificate> chain;
    std::optional<std::string> first;
    fuzz::attempt("detail::pem_block_der", [&] { first = minica::detail::pem_block_der(fuzz::as_text(data, size), "CERTIFICATE"); });
    if (!fuzz::attempt("Certificate::chain_from_pem", [&] { chain = minica::Certificate::chain_from_pem(fuzz::as_text(data, size)); }))
        return 0;
    fuzz::require(!chain.empty(), "chain_from_pem returned no certificate and no error");
    if (first)
        fuzz::require(std::string_view(chain.front().der()) == *first,
                      "pem_block_der's DER is not the first certificate chain_from_pem read");
    for (const auto& c : chain) {
        fuzz::require(minica::detail::pem_block_der(c.to_pem(), "CERTIFICATE") == c.der(),
                      "pem_block_der does not read a certificate's own PEM as its DER");
        const auto* p = reinterpret_cast<const unsigned char*>(c.der().data());
        minica::detail::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(c.der().size())));
        fuzz::require(x && p == reinterpret_cast<const unsigned char*>(c.der().data()) + c.der().size(),
                      "chain_from_pem returned a certificate d2i_X509 does not read whole");
        fuzz::attempt("accessors", [&] {
            (void)c.subject();
            (void)c.issuer();
            (void)c.names().to_string();
            (void)c.serial_hex();
            (void)c.key_name();
            (void)c.self_issued();
        });
        fuzz::attempt("to_json().dump()", [&] { (void)c.to_json().dump(2); });
    }
    // What a chain file is written back as, read again: the same certificates.
    fuzz::attempt("to_pem round trip", [&] {
        fuzz::require(minica::Certificate::chain_from_pem(minica::to_pem(chain)) == chain,
                      "chain_from_pem(to_pem(chain)) is not the same chain");
    });
    fuzz::clear_openssl_errors();
    return 0;
}
