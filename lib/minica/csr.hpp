// CertificateRequest: create, parse (PEM or DER), check, inspect.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "minica/certificate.hpp"
#include "minica/files.hpp"
#include "minica/key.hpp"
#include "minica/names.hpp"

typedef struct X509_req_st X509_REQ;

namespace minica {

struct RequestedExtension {
    std::string oid;    // dotted
    std::string name;   // OpenSSL short name, or the OID
    bool critical = false;
};

class CertificateRequest {
public:
    // Builds and signs a CSR (SHA-256; Ed25519 signs its own way).
    static CertificateRequest create(const PrivateKey& key, const DistinguishedName& subject,
                                     const SubjectAltNames& names);
    // PEM ("CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST") or DER, detected.
    // Throws Error(parse) "reading certificate request from <source>: <reason>".
    static CertificateRequest parse(std::string_view data, std::string_view source = "memory");
    static CertificateRequest load(const std::filesystem::path& path);

    std::string to_pem() const;
    std::string to_der() const;
    X509_REQ* native() const noexcept { return req_.get(); }

    // Self-signature check; check_signature throws Error(verify) naming the CSR.
    bool signature_valid() const;
    void check_signature() const;

    std::string subject() const;
    std::string common_name() const;
    SubjectAltNames names() const;  // from the requested subjectAltName, canonicalised
    std::vector<RequestedExtension> extensions() const;
    bool requests_ca() const;  // basicConstraints CA:TRUE requested
    std::string public_key_der() const;
    EVP_PKEY* public_key() const;  // owned by the request
    std::optional<KeyType> key_type() const;  // nullopt for a key minica does not make
    std::string key_name() const;             // as Certificate::key_name()

    nlohmann::json to_json() const;

    // The key's point as the request carries it is uncompressed (0x04...),
    // or the key is not an EC key. A compressed point is a second spelling of
    // the same key: it would slip past every check that compares SPKIs (the
    // account keys, keys revoked for keyCompromise), and Go cannot read a
    // certificate that carries one. check_request refuses it.
    bool ec_point_uncompressed() const;

private:
    // What a request computes once, shared by its copies (which share the
    // X509_REQ): the signature check and the SPKI, which an issue needs
    // several times (the checks, the compromised-key and account-key
    // lookups, the certificate).
    struct Once;
    std::string source_;
    std::shared_ptr<X509_REQ> req_;
    std::shared_ptr<Once> once_;
};

// What `minica csr` does: a new key and a CSR for `names` (as a person gives
// them; subject by the leaf profile's CN rule), written as key.pem (0600)
// and csr.pem (0644) into directory/<the first name>/, all or nothing.
struct RequestOptions {
    std::vector<std::string> names;
    KeyType key_type = KeyType::ec_p256;
    std::filesystem::path directory;
    bool overwrite = false;
};
struct RequestFiles {
    PrivateKey key;
    CertificateRequest request;
    std::vector<WrittenFile> files;  // key, then request
};
RequestFiles write_request(const RequestOptions& options);

}  // namespace minica
