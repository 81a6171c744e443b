#include "minica/csr.hpp"

#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/detail/x509util.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"
#include "minica/profile.hpp"
#include "minica/files.hpp"

namespace minica {

using namespace detail;

namespace {
std::shared_ptr<X509_REQ> share(X509_REQ* r) { return std::shared_ptr<X509_REQ>(r, X509_REQ_free); }
}  // namespace

struct CertificateRequest::Once {
    std::once_flag signature_checked, spki_encoded;
    bool signature_valid = false;
    std::string spki;
};

CertificateRequest CertificateRequest::create(const PrivateKey& key, const DistinguishedName& subject,
                                              const SubjectAltNames& names) {
    static const std::string oid_ext_req = der::encode_oid("1.2.840.113549.1.9.14");
    static const std::string oid_san = der::encode_oid("2.5.29.17");
    der::Writer w;
    w.sequence([&] {
        w.integer(0);
        der::name(w, subject);
        w.raw(key.public_key_der());
        w.nested(der::context_constructed(0), [&] {
            if (names.empty()) return;
            w.sequence([&] {
                w.oid(oid_ext_req);
                w.nested(der::SET, [&] {
                    w.sequence([&] {
                        w.sequence([&] {
                            w.oid(oid_san);
                            if (subject.empty()) w.boolean(true);
                            w.nested(der::OCTET_STRING, [&] { general_names(w, names); });
                        });
                    });
                });
            });
        });
    });
    std::string info = w.take();
    SigAlg alg = sig_alg(key.type());
    std::string sig = sign_bytes(key, alg.digest, info);
    der::Writer out;
    out.sequence([&] {
        out.raw(info);
        out.raw(alg.algorithm_identifier);
        out.bit_string(sig);
    });
    return parse(out.take(), "new request");
}

CertificateRequest CertificateRequest::parse(std::string_view data, std::string_view source) {
    const std::string context = "reading certificate request from " + std::string(source);
    X509_REQ* req = nullptr;
    if (data.find("-----BEGIN") != std::string_view::npos) {
        BioPtr bio = mem_bio(data);
        req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
        if (req == nullptr) {
            std::string q = drain_openssl_errors();
            throw Error(ErrorKind::parse, context + ": no valid PEM certificate request (malformed or truncated)", q);
        }
    } else {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
        req = d2i_X509_REQ(nullptr, &p, static_cast<long>(data.size()));
        if (req == nullptr) {
            std::string q = drain_openssl_errors();
            throw Error(ErrorKind::parse, context + ": malformed DER certificate request", q);
        }
    }
    CertificateRequest out;
    out.source_ = source;
    out.req_ = share(req);
    out.once_ = std::make_shared<Once>();
    if (X509_REQ_get0_pubkey(req) == nullptr) {
        std::string q = drain_openssl_errors();
        throw Error(ErrorKind::parse, context + ": unreadable public key", q);
    }
    return out;
}

CertificateRequest CertificateRequest::load(const std::filesystem::path& path) {
    return parse(read_file(path, "certificate request"), path.string());
}

std::string CertificateRequest::to_pem() const { return pem_encode("CERTIFICATE REQUEST", to_der()); }

std::string CertificateRequest::to_der() const {
    return detail::to_der(i2d_X509_REQ, static_cast<const X509_REQ*>(req_.get()), "certificate request");
}

bool CertificateRequest::signature_valid() const {
    std::call_once(once_->signature_checked, [&] {
        once_->signature_valid = X509_REQ_verify(req_.get(), X509_REQ_get0_pubkey(req_.get())) == 1;
        ERR_clear_error();
    });
    return once_->signature_valid;
}

void CertificateRequest::check_signature() const {
    if (!signature_valid())
        throw Error(ErrorKind::verify, "certificate request " + source_ + ": the signature does not verify "
                                       "(altered or not signed by its key)");
}

std::string CertificateRequest::subject() const {
    return detail::name_line(X509_REQ_get_subject_name(req_.get()));
}

std::string CertificateRequest::common_name() const {
    X509_NAME* n = X509_REQ_get_subject_name(req_.get());
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    if (i < 0) return {};
    return printable(utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))));
}

namespace {
using ExtStack = std::unique_ptr<STACK_OF(X509_EXTENSION), void (*)(STACK_OF(X509_EXTENSION)*)>;
ExtStack req_extensions(X509_REQ* req) {
    return ExtStack(X509_REQ_get_extensions(req),
                    [](STACK_OF(X509_EXTENSION)* s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); });
}
}  // namespace

SubjectAltNames CertificateRequest::names() const {
    auto exts = req_extensions(req_.get());
    int idx = X509v3_get_ext_by_NID(exts.get(), NID_subject_alt_name, -1);
    if (idx < 0) return {};
    Ptr<GENERAL_NAMES> gens(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts.get(), idx))));
    if (!gens) throw_openssl(ErrorKind::parse, "certificate request " + source_ + ": malformed subjectAltName");
    // Re-validate every requested name: a CSR is untrusted input.
    SubjectAltNames raw = from_general_names(gens.get());
    SubjectAltNames out;
    for (auto& d : raw.dns) out.dns.push_back(canonical_dns_name(d));
    for (auto& ip : raw.ip) {
        if (ip.bytes.size() != 4 && ip.bytes.size() != 16)
            throw Error(ErrorKind::invalid_argument, "certificate request " + source_ + ": malformed IP address SAN");
        out.ip.push_back(ip);
    }
    for (auto& e : raw.email) out.email.push_back(canonical_email(e));
    for (auto& u : raw.uri) out.uri.push_back(canonical_uri(u));
    return out;
}

std::vector<RequestedExtension> CertificateRequest::extensions() const {
    std::vector<RequestedExtension> out;
    auto exts = req_extensions(req_.get());
    for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts.get()); ++i) {
        X509_EXTENSION* e = sk_X509_EXTENSION_value(exts.get(), i);
        ASN1_OBJECT* obj = X509_EXTENSION_get_object(e);
        char buf[128];
        OBJ_obj2txt(buf, sizeof buf, obj, 1);
        RequestedExtension r;
        r.oid = buf;
        int nid = OBJ_obj2nid(obj);
        r.name = nid != NID_undef ? OBJ_nid2ln(nid) : r.oid;
        if (nid == NID_subject_alt_name) r.name = "subjectAltName";
        else if (nid == NID_basic_constraints) r.name = "basicConstraints";
        else if (nid == NID_key_usage) r.name = "keyUsage";
        else if (nid == NID_ext_key_usage) r.name = "extendedKeyUsage";
        r.critical = X509_EXTENSION_get_critical(e) != 0;
        out.push_back(std::move(r));
    }
    return out;
}

bool CertificateRequest::requests_ca() const {
    auto exts = req_extensions(req_.get());
    int idx = X509v3_get_ext_by_NID(exts.get(), NID_basic_constraints, -1);
    if (idx < 0) return false;
    Ptr<BASIC_CONSTRAINTS> bc(static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts.get(), idx))));
    // An unparseable basicConstraints is treated as asking for CA: refuse rather than guess.
    return !bc || bc->ca != 0;
}

std::string CertificateRequest::public_key_der() const {
    std::call_once(once_->spki_encoded, [&] {
        once_->spki = detail::spki_der(X509_REQ_get0_pubkey(req_.get()));
    });
    return once_->spki;
}

bool CertificateRequest::ec_point_uncompressed() const {
    ASN1_OBJECT* algorithm = nullptr;
    const unsigned char* point = nullptr;
    int len = 0;
    X509_PUBKEY* pub = X509_REQ_get_X509_PUBKEY(req_.get());
    if (pub == nullptr || X509_PUBKEY_get0_param(&algorithm, &point, &len, nullptr, pub) != 1) return false;
    if (OBJ_obj2nid(algorithm) != NID_X9_62_id_ecPublicKey) return true;
    return len > 0 && point[0] == 0x04;
}

EVP_PKEY* CertificateRequest::public_key() const { return X509_REQ_get0_pubkey(req_.get()); }
std::string CertificateRequest::key_name() const { return key_type_name(public_key()); }
std::optional<KeyType> CertificateRequest::key_type() const { return key_type_of(key_name()); }

nlohmann::json CertificateRequest::to_json() const {
    nlohmann::json j;
    j["type"] = "csr";
    j["subject"] = subject();
    SubjectAltNames n;
    try {
        n = names();
    } catch (const Error&) {
    }
    j["names"] = {{"dns", n.dns}, {"ip", nlohmann::json::array()}, {"email", n.email}, {"uri", n.uri}};
    for (auto& ip : n.ip) j["names"]["ip"].push_back(ip.to_string());
    j["key_type"] = key_name();
    j["key_bits"] = EVP_PKEY_get_bits(public_key());
    j["signature_valid"] = signature_valid();
    j["requests_ca"] = requests_ca();
    auto exts = nlohmann::json::array();
    for (auto& e : extensions()) exts.push_back({{"oid", e.oid}, {"name", e.name}, {"critical", e.critical}});
    j["extensions"] = exts;
    std::string spki = public_key_der();
    j["spki_sha256"] = sha256_hex(spki);
    return j;
}

RequestFiles write_request(const RequestOptions& options) {
    SubjectAltNames names = parse_identities(options.names);
    if (names.empty()) throw Error(ErrorKind::invalid_argument, "a request needs at least one name");
    const std::filesystem::path dir = options.directory / file_name_for(parse_identity(options.names.front()).value);
    const std::filesystem::path key_path = dir / "key.pem", csr_path = dir / "csr.pem";
    check_writable({key_path, csr_path}, options.overwrite);
    PrivateKey key = PrivateKey::generate(options.key_type);
    CertificateRequest request = CertificateRequest::create(key, leaf_subject(names), names);
    std::string key_pem = key.to_pem();
    try {
        write_files_atomic({{key_path, key_pem, 0600}, {csr_path, request.to_pem(), 0644}}, options.overwrite);
    } catch (...) {
        OPENSSL_cleanse(key_pem.data(), key_pem.size());
        throw;
    }
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    return {std::move(key), std::move(request), {{key_path, "key"}, {csr_path, "request"}}};
}

}  // namespace minica
