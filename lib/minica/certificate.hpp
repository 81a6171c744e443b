// Certificate: an immutable X.509 certificate value. Copies share the same
// DER bytes; the OpenSSL X509 handle is parsed on first use of native().
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "minica/key.hpp"
#include "minica/types.hpp"
#include "minica/names.hpp"

typedef struct x509_st X509;

namespace minica {

class Certificate {
public:
    // Parses DER; throws Error(parse) "reading certificate from <source>: <reason>".
    static Certificate from_der(std::string_view der, std::string_view source = "memory");
    // The first certificate in a PEM text.
    static Certificate from_pem(std::string_view pem, std::string_view source = "memory");
    static Certificate load(const std::filesystem::path& path);
    // Every certificate in a PEM text, in order; at least one or Error(parse).
    static std::vector<Certificate> chain_from_pem(std::string_view pem, std::string_view source = "memory");
    static std::vector<Certificate> load_chain(const std::filesystem::path& path);
    // Takes one reference of an existing handle.
    static Certificate from_native(X509* x509);
    // For the library's own encoders: wraps DER it has just produced, without
    // parsing it (parsed lazily by native()); `parsed` (may be null) is adopted.
    static Certificate adopt_der(std::string der, X509* parsed);

    const std::string& der() const noexcept;
    std::string to_pem() const;
    X509* native() const;  // owned by this object

    std::string subject() const;  // one line, "CN=x, O=y"
    const std::string& subject_der() const noexcept;  // the subject Name's DER, as in the certificate
    std::string issuer() const;
    std::string common_name() const;
    SubjectAltNames names() const;
    std::string serial_hex() const;  // upper-case hex, no separators, no leading zeros
    Time not_before() const;
    Time not_after() const;
    bool is_ca() const;
    std::optional<int> path_len() const;
    bool self_signed() const;  // subject == issuer and the signature verifies with its own key
    bool self_issued() const;  // subject == issuer and the AKI (if any) is its own SKI; no signature check
    std::vector<std::string> key_usage() const;           // "digitalSignature", "keyCertSign", ...
    std::vector<std::string> extended_key_usage() const;  // "serverAuth", "clientAuth", or dotted OID
    NameConstraints name_constraints() const;
    // The URIs of the CRL Distribution Points' fullNames, in order; empty
    // when the extension is absent.
    std::vector<std::string> crl_distribution_points() const;
    // The key's type; nullopt for a key minica does not make (RSA-1024, P-521...).
    std::optional<KeyType> key_type() const;
    std::string key_name() const;  // to_string(key_type()), else "rsa-1024", "ec-secp521r1" or OpenSSL's name
    int key_bits() const;
    std::string signature_algorithm() const;  // "ecdsa-with-SHA256", ...
    std::string subject_key_id() const;       // hex, empty if absent
    std::string authority_key_id() const;
    std::string key_identifier() const;       // the subjectKeyIdentifier octets, empty if absent
    std::string fingerprint_sha256() const;  // "AB:CD:..." of the DER
    std::string public_key_der() const;
    std::string spki_pin() const;  // "sha256//BASE64"
    bool matches(const PrivateKey& key) const;
    bool signed_by(const Certificate& issuer) const;

    nlohmann::json to_json() const;  // schemas/certificate.schema.json

    friend bool operator==(const Certificate& a, const Certificate& b) { return a.der() == b.der(); }

private:
    struct Impl;
    explicit Certificate(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
    friend class Authority;
};

std::string to_pem(const std::vector<Certificate>& certs);

// The one serial normaliser. Serials given by a person: hex, any case, with or
// without colons, an "0x" prefix or leading zeros. Returns
// Certificate::serial_hex() form (upper case, no separators, no leading
// zeros); Error(invalid_argument) otherwise (also beyond RFC 5280's 20 octets).
std::string normalize_serial_hex(std::string_view serial);

}  // namespace minica
