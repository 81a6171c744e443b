// acme::Jws::parse and acme::Jwk::parse: what an ACME server reads from every
// POST body. The input is a JWS body, optionally followed by a NUL byte and
// a JWK (a kid-signed request and the account key the server would look
// up). Promises: nothing but minica::Error comes out of parsing; verify and
// hmac_verify never throw; an accepted JWK's canonical JSON parses to the
// same key (thumbprint, SPKI) and its SPKI is one OpenSSL reads back as the
// same key; every base64url text accepted re-encodes to itself (one
// spelling per value). A payload that is a JSON object goes on to what the
// service reads from it: each of "identifiers" through parse_identifier (an
// accepted one is canonical: its JSON parses back to itself) and
// "replaces" through parse_cert_id (an accepted certID formats back to the
// same text).
#include <openssl/x509.h>

#include "common.hpp"
#include <nlohmann/json.hpp>

#include "minica/acme/ari.hpp"
#include "minica/acme/jose.hpp"
#include "minica/acme/resources.hpp"
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

// What AcmeService::new_order reads from a payload.
void check_order_payload(const std::string& payload) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (j.contains("identifiers") && j["identifiers"].is_array()) {
        for (const auto& item : j["identifiers"]) {
            std::optional<minica::acme::Identifier> id;
            if (fuzz::attempt("parse_identifier", [&] { id = minica::acme::parse_identifier(item); })) {
                std::optional<minica::acme::Identifier> again;
                fuzz::attempt("parse_identifier(to_json())", [&] { again = minica::acme::parse_identifier(id->to_json()); });
                fuzz::require(again && *again == *id, "an accepted identifier does not read back as itself");
                (void)minica::acme::base_name(*id);
            }
        }
    }
    if (j.contains("replaces") && j["replaces"].is_string()) {
        const std::string text = j["replaces"].get<std::string>();
        std::optional<minica::acme::CertId> id;
        if (fuzz::attempt("parse_cert_id", [&] { id = minica::acme::parse_cert_id(text); }))
            fuzz::require(minica::acme::format_cert_id(id->key_identifier, id->serial_hex) == text,
                          "an accepted certID formats as another text");
    }
}

void check_jws(const minica::acme::Jws& jws) {
    check_order_payload(jws.payload);
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
