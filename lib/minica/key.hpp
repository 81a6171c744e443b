// PrivateKey: generate, load, save (PKCS#8 PEM, optionally encrypted), pins.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "minica/types.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace minica {

class PrivateKey {
public:
    // Takes ownership of one reference. Copies share the key.
    explicit PrivateKey(EVP_PKEY* pkey);

    static PrivateKey generate(KeyType type = KeyType::ec_p256);

    // PEM: PKCS#8 ("PRIVATE KEY" / "ENCRYPTED PRIVATE KEY"), also the legacy
    // "EC PRIVATE KEY" / "RSA PRIVATE KEY" forms. `source` names the input in
    // errors ("reading private key from <source>: <reason>"). An encrypted key
    // without a passphrase, or with the wrong one, is Error(passphrase).
    static PrivateKey from_pem(std::string_view pem, std::string_view source = "memory",
                               std::optional<std::string_view> passphrase = std::nullopt);
    static PrivateKey load(const std::filesystem::path& path,
                           std::optional<std::string_view> passphrase = std::nullopt);

    // PKCS#8 PEM. With a passphrase: PBES2, AES-256-CBC, scrypt KDF.
    std::string to_pem(std::optional<std::string_view> passphrase = std::nullopt) const;
    std::string to_der() const;  // unencrypted PKCS#8 DER

    KeyType type() const noexcept { return type_; }
    int bits() const;
    std::string public_key_der() const;  // SubjectPublicKeyInfo DER
    std::string public_key_pem() const;
    std::string spki_sha256_hex() const;  // hex SHA-256 of the SPKI DER (lower case)
    std::string spki_pin() const;         // "sha256//BASE64" (curl --pinnedpubkey)
    bool same_public_key(EVP_PKEY* other) const;

    EVP_PKEY* native() const noexcept { return pkey_.get(); }

private:
    std::shared_ptr<EVP_PKEY> pkey_;
    KeyType type_ = KeyType::ec_p256;
    // EC/Ed25519: the raw public key, read once (each read through the
    // provider costs a point conversion, and the SPKI and PKCS#8 both need it).
    std::string public_raw_;
};

}  // namespace minica
