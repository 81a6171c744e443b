#include "minica/certificate.hpp"

#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/detail/x509util.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/text.hpp"

namespace minica {

using namespace detail;

// ---- Certificate ---------------------------------------------------------------

// The fields of TBSCertificate, read without building an X509. OpenSSL 3.0's
// d2i_X509 decodes the public key through its provider decoders, which costs
// more than the rest of a `minica sign` (bench/sign.sh --analyze). Names, serial,
// validity, extensions and the SPKI bytes need none of that, so they come
// from here; what needs the key object (signatures, key size, RSA) parses
// the X509 lazily (Impl::get).
struct CertFields {
    Ptr<ASN1_STRING> serial;  // ASN1_INTEGER
    Ptr<X509_NAME> issuer, subject;
    Ptr<ASN1_STRING> not_before, not_after;  // ASN1_TIME
    std::string subject_der;
    std::string spki;  // SubjectPublicKeyInfo DER, as in the certificate
    std::string spki_alg_oid, spki_curve_oid;  // content octets
    STACK_OF(X509_EXTENSION)* extensions = nullptr;
    CertFields() = default;
    CertFields(const CertFields&) = delete;
    CertFields& operator=(const CertFields&) = delete;
    ~CertFields() { sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free); }
    template <class T> Ptr<T> ext(int nid) const {
        return Ptr<T>(static_cast<T*>(X509V3_get_d2i(extensions, nid, nullptr, nullptr)));
    }
};

namespace {

// One TLV off the front of `from`, whole (tag and length included); empty if malformed.
std::string_view take(std::string_view& from, std::uint8_t& tag) {
    std::string_view before = from, content;
    if (!der::next(from, tag, content)) return {};
    return before.substr(0, before.size() - from.size());
}

// d2i of exactly `whole`, or nullptr.
template <class T>
T* d2i_exact(T* (*fn)(T**, const unsigned char**, long), void (*free_fn)(T*), std::string_view whole) {
    if (whole.empty()) return nullptr;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(whole.data());
    T* r = fn(nullptr, &p, static_cast<long>(whole.size()));
    if (r != nullptr && p != reinterpret_cast<const unsigned char*>(whole.data()) + whole.size()) {
        free_fn(r);
        return nullptr;
    }
    return r;
}

void free_extensions(X509_EXTENSIONS* e) { sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free); }

// Parses the whole certificate structure (as d2i_X509 does, but the key
// object); nullptr when it is not a well-formed certificate.
std::unique_ptr<CertFields> parse_fields(std::string_view der_in) {
    using namespace der;
    auto f = std::make_unique<CertFields>();
    std::uint8_t tag = 0;
    std::string_view in = der_in, cert, tbs, validity;
    if (!next(in, tag, cert) || tag != SEQUENCE || !in.empty()) return nullptr;
    if (!next(cert, tag, tbs) || tag != SEQUENCE) return nullptr;
    Ptr<X509_ALGOR> outer_alg(d2i_exact(d2i_X509_ALGOR, X509_ALGOR_free, take(cert, tag)));
    Ptr<ASN1_STRING> signature(d2i_exact(d2i_ASN1_BIT_STRING, ASN1_BIT_STRING_free, take(cert, tag)));
    if (!outer_alg || !signature || !cert.empty()) return nullptr;

    std::string_view whole = take(tbs, tag);
    if (tag == context_constructed(0)) whole = take(tbs, tag);  // version
    if (tag != INTEGER) return nullptr;
    f->serial.reset(d2i_exact(d2i_ASN1_INTEGER, ASN1_INTEGER_free, whole));
    Ptr<X509_ALGOR> inner_alg(d2i_exact(d2i_X509_ALGOR, X509_ALGOR_free, take(tbs, tag)));
    f->issuer.reset(d2i_exact(d2i_X509_NAME, X509_NAME_free, take(tbs, tag)));
    if (!f->serial || !inner_alg || !f->issuer) return nullptr;
    if (!next(tbs, tag, validity) || tag != SEQUENCE) return nullptr;
    f->not_before.reset(d2i_exact(d2i_ASN1_TIME, ASN1_TIME_free, take(validity, tag)));
    f->not_after.reset(d2i_exact(d2i_ASN1_TIME, ASN1_TIME_free, take(validity, tag)));
    if (!f->not_before || !f->not_after || !validity.empty()) return nullptr;
    whole = take(tbs, tag);
    f->subject.reset(d2i_exact(d2i_X509_NAME, X509_NAME_free, whole));
    if (!f->subject) return nullptr;
    f->subject_der.assign(whole);
    whole = take(tbs, tag);
    std::string_view spki, salg, key, oid;
    std::string_view w = whole;
    if (whole.empty() || !next(w, tag, spki) || tag != SEQUENCE) return nullptr;
    if (!next(spki, tag, salg) || tag != SEQUENCE || !next(spki, tag, key) || tag != BIT_STRING || !spki.empty())
        return nullptr;
    if (!next(salg, tag, oid) || tag != OID) return nullptr;
    f->spki.assign(whole);
    f->spki_alg_oid.assign(oid);
    if (!salg.empty() && next(salg, tag, oid) && tag == OID) f->spki_curve_oid.assign(oid);
    while (!tbs.empty()) {
        std::string_view field;
        if (!next(tbs, tag, field)) return nullptr;
        if (tag == context(1) || tag == context(2)) continue;  // issuer/subject unique identifiers
        if (tag != context_constructed(3) || f->extensions != nullptr) return nullptr;
        f->extensions = d2i_exact(d2i_X509_EXTENSIONS, free_extensions, field);
        if (f->extensions == nullptr) return nullptr;
    }
    return f;
}

}  // namespace

struct Certificate::Impl {
    std::string der;
    // Parsed at construction from outside input (from_der: OpenSSL's decoder
    // has the last word), lazily only for DER the library itself just encoded
    // (adopt_der). A mutex, not std::call_once: a parse error must unwind
    // normally, and an exception cannot cross pthread_once in a static binary.
    mutable std::mutex mutex;
    mutable X509Ptr x509;
    mutable std::unique_ptr<CertFields> fields;
    X509* get() const {
        std::lock_guard lock(mutex);
        if (!x509) {
            const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
            X509Ptr parsed(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
            if (!parsed) throw_openssl(ErrorKind::parse, "parsing certificate");
            x509 = std::move(parsed);
        }
        return x509.get();
    }
    const CertFields& f() const {
        std::lock_guard lock(mutex);
        if (!fields) {
            auto parsed = parse_fields(der);
            if (!parsed) throw Error(ErrorKind::parse, "parsing certificate: malformed DER");
            fields = std::move(parsed);
        }
        return *fields;
    }
};

Certificate::Certificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Certificate Certificate::from_der(std::string_view der, std::string_view source) {
    // OpenSSL's decoder decides what a certificate is: anything d2i_X509
    // refuses (or leaves bytes after) is refused here, whatever the field
    // walk below would have made of it.
    const std::string context = "reading certificate from " + std::string(source);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x) throw_openssl(ErrorKind::parse, context, "malformed DER");
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        throw Error(ErrorKind::parse, context + ": trailing data after the certificate");
    auto fields = parse_fields(der);
    if (!fields) throw Error(ErrorKind::parse, context + ": malformed DER");
    // d2i_X509 keeps a validity time it cannot read (openssl x509 prints "Bad
    // time value"); nothing can be checked against it, so it is refused here.
    for (const auto* t : {fields->not_before.get(), fields->not_after.get()})
        if (ASN1_TIME_to_tm(t, nullptr) != 1) {
            ERR_clear_error();
            throw Error(ErrorKind::parse, context + ": malformed validity time");
        }
    // The key as OpenSSL encodes it, not as read: they differ where DER allows
    // what OpenSSL reads and never writes (nonzero BIT STRING padding bits),
    // and a pin must be the one curl --pinnedpubkey computes.
    fields->spki = to_der(i2d_X509_PUBKEY, static_cast<const X509_PUBKEY*>(X509_get_X509_PUBKEY(x.get())),
                          "public key");
    auto impl = std::make_shared<Impl>();
    impl->der.assign(der);
    impl->x509 = std::move(x);
    impl->fields = std::move(fields);
    return Certificate(std::move(impl));
}

Certificate Certificate::adopt_der(std::string der, X509* parsed) {
    auto impl = std::make_shared<Impl>();
    impl->x509.reset(parsed);
    impl->der = std::move(der);
    return Certificate(std::move(impl));
}

Certificate Certificate::from_native(X509* x509) {
    if (x509 == nullptr) throw Error(ErrorKind::invalid_argument, "null certificate");
    auto impl = std::make_shared<Impl>();
    impl->der = to_der(i2d_X509, static_cast<const X509*>(x509), "certificate");
    if (X509_up_ref(x509) != 1) throw_openssl(ErrorKind::crypto, "referencing certificate");
    impl->x509.reset(x509);
    return Certificate(std::move(impl));
}

std::vector<Certificate> Certificate::chain_from_pem(std::string_view pem, std::string_view source) {
    const std::string context = "reading certificate from " + std::string(source);
    std::vector<Certificate> out;
    BioPtr bio = mem_bio(pem);
    for (;;) {
        // Every CERTIFICATE (or X509 CERTIFICATE) block in order; other blocks
        // are skipped, as PEM_read_bio_X509 does.
        // The end is found here, not by PEM_read_bio failing: OpenSSL's first
        // error in a process loads its error tables.
        char* rest = nullptr;
        long rest_len = BIO_get_mem_data(bio.get(), &rest);
        if (rest_len <= 0 || std::string_view(rest, static_cast<std::size_t>(rest_len)).find("-----BEGIN") ==
                                 std::string_view::npos) {
            if (!out.empty()) break;
            throw Error(ErrorKind::parse, context + ": no PEM certificate found");
        }
        char* name_raw = nullptr;
        char* header_raw = nullptr;
        unsigned char* data_raw = nullptr;
        long len = 0;
        int read = PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len);
        OpensslMem<char> name(name_raw), header(header_raw);
        OpensslMem<unsigned char> data(data_raw);
        if (read != 1) {
            unsigned long err = ERR_peek_last_error();
            std::string q = drain_openssl_errors();
            if (ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                if (!out.empty()) break;
                throw Error(ErrorKind::parse, context + ": no PEM certificate found", q);
            }
            throw Error(ErrorKind::parse, context + ": malformed or truncated PEM certificate", q);
        }
        std::string label = name.get();
        bool encrypted = header && header.get()[0] != '\0';
        std::string der(reinterpret_cast<char*>(data.get()), static_cast<std::size_t>(len));
        if (label != "CERTIFICATE" && label != "X509 CERTIFICATE") continue;
        if (encrypted) throw Error(ErrorKind::parse, context + ": malformed or truncated PEM certificate");
        try {
            out.push_back(from_der(der, source));
        } catch (const Error& e) {
            throw Error(ErrorKind::parse, context + ": malformed or truncated PEM certificate", e.openssl_queue());
        }
    }
    return out;
}

Certificate Certificate::from_pem(std::string_view pem, std::string_view source) {
    return chain_from_pem(pem, source).front();
}

Certificate Certificate::load(const std::filesystem::path& path) {
    return load_chain(path).front();
}

std::vector<Certificate> Certificate::load_chain(const std::filesystem::path& path) {
    std::string data = read_file(path, "certificate");
    if (data.find("-----BEGIN") == std::string::npos) return {from_der(data, path.string())};
    return chain_from_pem(data, path.string());
}

const std::string& Certificate::der() const noexcept { return impl_->der; }
std::string Certificate::to_pem() const { return pem_encode("CERTIFICATE", impl_->der); }
X509* Certificate::native() const { return impl_->get(); }

std::string Certificate::subject() const { return name_line(impl_->f().subject.get()); }
std::string Certificate::issuer() const { return name_line(impl_->f().issuer.get()); }
const std::string& Certificate::subject_der() const noexcept { return impl_->f().subject_der; }

std::string Certificate::common_name() const {
    X509_NAME* n = impl_->f().subject.get();
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    if (i < 0) return {};
    return printable(utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))));
}

namespace detail {
std::string bytes(const ASN1_STRING* s) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string name_text(const ASN1_STRING* s) { return printable(bytes(s)); }

SubjectAltNames from_general_names(const GENERAL_NAMES* gens) {
    SubjectAltNames out;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
        switch (g->type) {
            case GEN_DNS: out.dns.push_back(name_text(g->d.dNSName)); break;
            case GEN_EMAIL: out.email.push_back(name_text(g->d.rfc822Name)); break;
            case GEN_URI: out.uri.push_back(name_text(g->d.uniformResourceIdentifier)); break;
            case GEN_IPADD: {
                std::string b = bytes(g->d.iPAddress);
                out.ip.push_back(IpAddress{std::vector<std::uint8_t>(b.begin(), b.end())});
                break;
            }
            default: break;
        }
    }
    return out;
}
}  // namespace detail

SubjectAltNames Certificate::names() const {
    auto gens = impl_->f().ext<GENERAL_NAMES>(NID_subject_alt_name);
    if (!gens) return {};
    return detail::from_general_names(gens.get());
}

std::string normalize_serial_hex(std::string_view serial) {
    std::string_view s = serial;
    auto bad = [&](std::string_view why) -> Error {
        return Error(ErrorKind::invalid_argument,
                     "invalid serial \"" + std::string(serial) + "\": " + std::string(why));
    };
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
    std::string hex;
    hex.reserve(s.size());
    for (char c : s) {
        if (c == ':') continue;
        if (c >= '0' && c <= '9') hex += c;
        else if (c >= 'a' && c <= 'f') hex += static_cast<char>(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'F') hex += c;
        else throw bad("not a hexadecimal number");
    }
    if (hex.empty()) throw bad("empty");
    std::size_t first = hex.find_first_not_of('0');
    if (first == std::string::npos) return "0";
    hex.erase(0, first);
    // RFC 5280 4.1.2.2: at most 20 octets.
    if (hex.size() > 40) throw bad("longer than 20 octets");
    return hex;
}

std::string Certificate::serial_hex() const { return detail::serial_hex(impl_->f().serial.get()); }

Time Certificate::not_before() const { return asn1_time(impl_->f().not_before.get(), "certificate"); }
Time Certificate::not_after() const { return asn1_time(impl_->f().not_after.get(), "certificate"); }

// basicConstraints cA, as OpenSSL's EXFLAG_CA (a duplicated or malformed extension counts as absent).
bool Certificate::is_ca() const {
    auto bc = impl_->f().ext<BASIC_CONSTRAINTS>(NID_basic_constraints);
    return bc && bc->ca;
}

// Subject and issuer names equal, and the authority key identifier (if any)
// names the certificate's own key: a root, or a cross-signed root's twin.
// No signature is checked (X509_self_signed would verify one).
bool Certificate::self_issued() const {
    const auto& f = impl_->f();
    if (X509_NAME_cmp(f.subject.get(), f.issuer.get()) != 0) return false;
    auto aki = f.ext<AUTHORITY_KEYID>(NID_authority_key_identifier);
    if (!aki || aki->keyid == nullptr) return true;
    auto ski = f.ext<ASN1_STRING>(NID_subject_key_identifier);
    return ski && ASN1_OCTET_STRING_cmp(ski.get(), aki->keyid) == 0;
}

std::optional<int> Certificate::path_len() const {
    long p = X509_get_pathlen(native());
    if (p < 0) return std::nullopt;
    return static_cast<int>(p);
}

bool Certificate::self_signed() const { return X509_self_signed(native(), 1) == 1; }

std::vector<std::string> Certificate::key_usage() const {
    std::vector<std::string> out;
    X509* x = native();
    if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) == 0) return out;
    uint32_t ku = X509_get_key_usage(x);
    static const std::pair<uint32_t, const char*> names[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"}, {KU_NON_REPUDIATION, "contentCommitment"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},   {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},         {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},                   {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"}};
    for (auto& [bit, name] : names)
        if (ku & bit) out.emplace_back(name);
    return out;
}

std::vector<std::string> Certificate::extended_key_usage() const {
    std::vector<std::string> out;
    Ptr<EXTENDED_KEY_USAGE> eku(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(native(), NID_ext_key_usage, nullptr, nullptr)));
    if (!eku) return out;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
        const ASN1_OBJECT* o = sk_ASN1_OBJECT_value(eku.get(), i);
        int nid = OBJ_obj2nid(o);
        if (nid == NID_server_auth) out.emplace_back("serverAuth");
        else if (nid == NID_client_auth) out.emplace_back("clientAuth");
        else if (nid != NID_undef) out.emplace_back(OBJ_nid2sn(nid));
        else {
            char buf[128];
            OBJ_obj2txt(buf, sizeof buf, o, 1);
            out.emplace_back(buf);
        }
    }
    return out;
}

std::vector<std::string> Certificate::crl_distribution_points() const {
    std::vector<std::string> out;
    auto points = impl_->f().ext<CRL_DIST_POINTS>(NID_crl_distribution_points);
    for (int i = 0; points && i < sk_DIST_POINT_num(points.get()); ++i) {
        const DIST_POINT* dp = sk_DIST_POINT_value(points.get(), i);
        if (!dp->distpoint || dp->distpoint->type != 0) continue;  // a nameRelativeToCRLIssuer names no URI
        const GENERAL_NAMES* full = dp->distpoint->name.fullname;
        for (int k = 0; k < sk_GENERAL_NAME_num(full); ++k) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(full, k);
            if (g->type == GEN_URI) out.push_back(detail::name_text(g->d.uniformResourceIdentifier));
        }
    }
    return out;
}

NameConstraints Certificate::name_constraints() const {
    NameConstraints out;
    auto nc = impl_->f().ext<NAME_CONSTRAINTS>(NID_name_constraints);
    if (!nc) return out;
    auto convert = [](STACK_OF(GENERAL_SUBTREE)* subtrees, std::vector<std::string>& dns, std::vector<IpNetwork>& ip,
                      std::vector<std::string>& email) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
            if (g->type == GEN_DNS) dns.push_back(detail::name_text(g->d.dNSName));
            else if (g->type == GEN_EMAIL) email.push_back(detail::name_text(g->d.rfc822Name));
            else if (g->type == GEN_IPADD) {
                std::string b = detail::bytes(g->d.iPAddress);
                std::size_t half = b.size() / 2;
                IpNetwork net;
                net.address.bytes.assign(b.begin(), b.begin() + static_cast<long>(half));
                net.mask.assign(b.begin() + static_cast<long>(half), b.end());
                ip.push_back(net);
            }
        }
    };
    convert(nc->permittedSubtrees, out.permitted_dns, out.permitted_ip, out.permitted_email);
    convert(nc->excludedSubtrees, out.excluded_dns, out.excluded_ip, out.excluded_email);
    return out;
}

std::string detail::key_type_name(EVP_PKEY* pkey) {
    if (pkey == nullptr) return "unknown";
    if (EVP_PKEY_is_a(pkey, "ED25519")) return "ed25519";
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof group, &len);
        std::string g(group, len);
        if (g == "prime256v1") return "ec-p256";
        if (g == "secp384r1") return "ec-p384";
        return "ec-" + g;
    }
    if (EVP_PKEY_is_a(pkey, "RSA")) return "rsa-" + std::to_string(EVP_PKEY_get_bits(pkey));
    const char* n = EVP_PKEY_get0_type_name(pkey);
    return n ? n : "unknown";
}

std::optional<KeyType> detail::key_type_of(std::string_view name) {
    for (KeyType t : all_key_types)
        if (to_string(t) == name) return t;
    return std::nullopt;
}

std::string Certificate::key_name() const {
    const auto& f = impl_->f();
    if (f.spki_alg_oid == der::oid_ed25519()) return "ed25519";
    if (f.spki_alg_oid == der::oid_ec_public_key() && f.spki_curve_oid == der::oid_p256()) return "ec-p256";
    if (f.spki_alg_oid == der::oid_ec_public_key() && f.spki_curve_oid == der::oid_p384()) return "ec-p384";
    return key_type_name(X509_get0_pubkey(native()));
}

std::optional<KeyType> Certificate::key_type() const { return key_type_of(key_name()); }
int Certificate::key_bits() const { return EVP_PKEY_get_bits(X509_get0_pubkey(native())); }

std::string Certificate::signature_algorithm() const {
    int nid = X509_get_signature_nid(native());
    return nid != NID_undef ? OBJ_nid2ln(nid) : "unknown";
}

static std::string hex_colon(const ASN1_OCTET_STRING* s) {
    if (s == nullptr) return {};
    static const char* HEX = "0123456789ABCDEF";
    std::string out;
    const unsigned char* d = ASN1_STRING_get0_data(s);
    for (int i = 0; i < ASN1_STRING_length(s); ++i) {
        if (i) out.push_back(':');
        out.push_back(HEX[d[i] >> 4]);
        out.push_back(HEX[d[i] & 15]);
    }
    return out;
}

std::string Certificate::subject_key_id() const {
    auto ski = impl_->f().ext<ASN1_STRING>(NID_subject_key_identifier);
    return hex_colon(ski.get());
}
std::string Certificate::key_identifier() const {
    auto ski = impl_->f().ext<ASN1_STRING>(NID_subject_key_identifier);
    if (!ski) return {};
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski.get())),
                       static_cast<std::size_t>(ASN1_STRING_length(ski.get())));
}
std::string Certificate::authority_key_id() const {
    auto aki = impl_->f().ext<AUTHORITY_KEYID>(NID_authority_key_identifier);
    return hex_colon(aki ? aki->keyid : nullptr);
}
std::string Certificate::fingerprint_sha256() const { return sha256_hex(impl_->der, ':'); }

std::string Certificate::public_key_der() const { return impl_->f().spki; }

std::string Certificate::spki_pin() const { return detail::spki_pin(public_key_der()); }

bool Certificate::matches(const PrivateKey& key) const {
    // minica's own encodings are canonical: equal SPKI bytes settle it without
    // decoding the certificate's key; otherwise compare the keys themselves.
    if (key.public_key_der() == impl_->f().spki) return true;
    return key.same_public_key(X509_get0_pubkey(native()));
}

bool Certificate::signed_by(const Certificate& issuer) const {
    int r = X509_verify(native(), X509_get0_pubkey(issuer.native()));
    ERR_clear_error();
    return r == 1;
}

nlohmann::json Certificate::to_json() const {
    nlohmann::json j;
    j["type"] = "certificate";
    j["subject"] = subject();
    j["issuer"] = issuer();
    j["serial"] = serial_hex();
    j["not_before"] = format_time(not_before());
    j["not_after"] = format_time(not_after());
    auto n = names();
    j["names"] = {{"dns", n.dns}, {"ip", nlohmann::json::array()}, {"email", n.email}, {"uri", n.uri}};
    for (auto& ip : n.ip) j["names"]["ip"].push_back(ip.to_string());
    j["is_ca"] = is_ca();
    if (auto p = path_len()) j["path_len"] = *p;
    else j["path_len"] = nullptr;
    j["key_type"] = key_name();
    j["key_bits"] = key_bits();
    j["signature_algorithm"] = signature_algorithm();
    j["key_usage"] = key_usage();
    j["extended_key_usage"] = extended_key_usage();
    auto nc = name_constraints();
    if (!nc.empty()) {
        nlohmann::json c;
        auto ips = [](const std::vector<IpNetwork>& v) {
            std::vector<std::string> s;
            for (auto& n : v) s.push_back(n.to_string());
            return s;
        };
        c["permitted"] = {{"dns", nc.permitted_dns}, {"ip", ips(nc.permitted_ip)}, {"email", nc.permitted_email}};
        c["excluded"] = {{"dns", nc.excluded_dns}, {"ip", ips(nc.excluded_ip)}, {"email", nc.excluded_email}};
        j["name_constraints"] = c;
    }
    if (auto cdp = crl_distribution_points(); !cdp.empty()) j["crl_distribution_points"] = cdp;
    j["subject_key_id"] = subject_key_id();
    j["authority_key_id"] = authority_key_id();
    j["fingerprint_sha256"] = fingerprint_sha256();
    j["spki_pin"] = spki_pin();
    j["self_signed"] = self_signed();
    return j;
}

std::string to_pem(const std::vector<Certificate>& certs) {
    std::string out;
    for (auto& c : certs) out += c.to_pem();
    return out;
}

}  // namespace minica
