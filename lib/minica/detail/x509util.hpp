// Internal helpers shared by certificate.cpp, csr.cpp and authority.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <openssl/x509v3.h>

#include "minica/detail/der.hpp"
#include "minica/types.hpp"

namespace minica {
struct SubjectAltNames;
class PrivateKey;
}  // namespace minica

namespace minica::detail {
struct SigAlg {
    const char* digest;  // nullptr for Ed25519
    std::string algorithm_identifier;  // DER
};
SigAlg sig_alg(KeyType signer);
std::string sign_bytes(const PrivateKey& key, const char* digest, std::string_view data);
// GeneralNames (SEQUENCE OF GeneralName) in the order dns, ip, email, uri.
void general_names(der::Writer& w, const SubjectAltNames& names);
// The content octets of `s`.
std::string bytes(const ASN1_STRING* s);
// A name read from DER (an IA5String SAN or constraint) as printable() text:
// a valid name is ASCII and comes back as is; control characters and bytes
// that are not UTF-8 become \xNN, so no name from a certificate reaches a
// terminal, a log or JSON raw (and none of them can pass parse_identity).
std::string name_text(const ASN1_STRING* s);
// SANs read from a certificate or CSR (names as name_text()).
SubjectAltNames from_general_names(const GENERAL_NAMES* gens);
std::string key_type_name(EVP_PKEY* pkey);
// The KeyType named `name` ("ec-p256"...), nullopt for any other name.
std::optional<KeyType> key_type_of(std::string_view name);
}  // namespace minica::detail
