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
SubjectAltNames from_general_names(const GENERAL_NAMES* gens);
std::string key_type_name(EVP_PKEY* pkey);
// The KeyType named `name` ("ec-p256"...), nullopt for any other name.
std::optional<KeyType> key_type_of(std::string_view name);
}  // namespace minica::detail
