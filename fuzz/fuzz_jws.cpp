// acme::Jws::parse and acme::Jwk::parse: what an ACME server reads from every
// POST body. The input is a JWS body, optionally followed by a NUL byte and
// a JWK (a kid-signed request and the account key the server would look
// up). Promises: nothing but minica::Error comes out of parsing; verify and
// hmac_verify never throw; an accepted JWK's canonical JSON parses to the
// same key (thumbprint, SPKI) and its SPKI is one OpenSSL reads back as the
// same key; every base64url text accepted re-encodes to itself (one
// spelling per value).
#include <openssl/x509.h>

#include "common.hpp"
#include "minica/acme/jose.hpp"
#include "minica/detail/ossl.hpp"

namespace {

void check_jwk(const minica::acme::Jwk& jwk) {
    std::string spki = jwk.spki_der();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(spki.data());
    EVP_PKEY* back = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
    fuzz::require(back != nullptr && EVP_PKEY_eq(back, jwk.native()) == 1, "an accepted JWK's SPKI does not read back");
    EVP_PKEY_free(back);
    std::optional<minica::acme::Jwk> again;
    fuzz::attempt("Jwk::parse(to_json())", [&] { again = minica::acme::Jwk::parse(jwk.to_json()); });
    fuzz::require(again.has_value(), "an accepted JWK's canonical JSON is refused: " + jwk.to_json().dump());
    fuzz::require(again->thumbprint() == jwk.thumbprint() && again->spki_der() == spki,
                  "an accepted JWK's canonical JSON is another key");
}

void check_jws(const minica::acme::Jws& jws) {
    using minica::detail::base64url_encode;
    fuzz::require(base64url_encode(jws.payload) == jws.payload_b64, "payload base64url is not canonical");
    fuzz::require(jws.jwk.has_value() != jws.kid.has_value(), "a JWS with both or neither of jwk and kid");
    fuzz::require(!jws.signature.empty() && !jws.url.empty(), "a JWS without signature or url");
    if (jws.jwk) {
        check_jwk(*jws.jwk);
        fuzz::attempt("verify", [&] { (void)minica::acme::verify(jws, *jws.jwk); });
    }
    fuzz::attempt("hmac_verify", [&] { (void)minica::acme::hmac_verify(jws, "fuzz"); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input = fuzz::as_text(data, size);
    std::size_t nul = input.find('\0');
    std::string_view body = input.substr(0, nul);
    std::string_view key_text = nul == std::string_view::npos ? input : input.substr(nul + 1);

    std::optional<minica::acme::Jws> jws;
    if (fuzz::attempt("Jws::parse", [&] { jws = minica::acme::Jws::parse(body); })) check_jws(*jws);
    std::optional<minica::acme::Jwk> jwk;
    if (fuzz::attempt("Jwk::parse", [&] { jwk = minica::acme::Jwk::parse(key_text); })) {
        check_jwk(*jwk);
        if (jws) fuzz::attempt("verify (JWK after NUL)", [&] { (void)minica::acme::verify(*jws, *jwk); });
    }
    fuzz::clear_openssl_errors();
    return 0;
}
