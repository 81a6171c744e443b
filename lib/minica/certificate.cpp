#include "minica/certificate.hpp"

#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "minica/detail/ossl.hpp"
#include "minica/detail/x509util.hpp"
#include "minica/error.hpp"

namespace minica {

using namespace detail;

Time now() noexcept { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

std::string format_time(Time t) {
    using namespace std::chrono;
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

std::string_view to_string(Profile p) noexcept {
    switch (p) {
        case Profile::server: return "server";
        case Profile::client: return "client";
        case Profile::both: return "both";
    }
    return "server";
}

Profile parse_profile(std::string_view name) {
    if (name == "server") return Profile::server;
    if (name == "client") return Profile::client;
    if (name == "both") return Profile::both;
    throw Error(ErrorKind::invalid_argument,
                "unknown profile \"" + std::string(name) + "\" (expected server, client or both)");
}

bool DistinguishedName::empty() const noexcept {
    return common_name.empty() && organization.empty() && organizational_unit.empty() && country.empty();
}

std::string DistinguishedName::to_string() const {
    std::string out;
    auto add = [&](const char* k, const std::string& v) {
        if (v.empty()) return;
        if (!out.empty()) out += ", ";
        out += k;
        out += '=';
        out += v;
    };
    add("C", country);
    add("O", organization);
    add("OU", organizational_unit);
    add("CN", common_name);
    return out;
}

// ---- Certificate ---------------------------------------------------------------

struct Certificate::Impl {
    std::string der;
    mutable std::once_flag once;
    mutable X509Ptr x509;
    X509* get() const {
        std::call_once(once, [&] {
            if (x509) return;
            const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
            x509.reset(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
            if (!x509) throw_openssl(ErrorKind::parse, "parsing certificate");
        });
        return x509.get();
    }
};

Certificate::Certificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Certificate Certificate::from_der(std::string_view der, std::string_view source) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x) throw_openssl(ErrorKind::parse, "reading certificate from " + std::string(source), "malformed DER");
    if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
        throw Error(ErrorKind::parse, "reading certificate from " + std::string(source) + ": trailing data after the certificate");
    auto impl = std::make_shared<Impl>();
    impl->der.assign(der);
    impl->x509 = std::move(x);
    return Certificate(std::move(impl));
}

Certificate Certificate::adopt_der(std::string der, X509* parsed) {
    auto impl = std::make_shared<Impl>();
    impl->der = std::move(der);
    impl->x509.reset(parsed);
    return Certificate(std::move(impl));
}

Certificate Certificate::from_native(X509* x509) {
    if (x509 == nullptr) throw Error(ErrorKind::invalid_argument, "null certificate");
    unsigned char* buf = nullptr;
    int n = i2d_X509(x509, &buf);
    if (n <= 0) throw_openssl(ErrorKind::crypto, "encoding certificate");
    auto impl = std::make_shared<Impl>();
    impl->der.assign(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    X509_up_ref(x509);
    impl->x509.reset(x509);
    return Certificate(std::move(impl));
}

std::vector<Certificate> Certificate::chain_from_pem(std::string_view pem, std::string_view source) {
    const std::string context = "reading certificate from " + std::string(source);
    std::vector<Certificate> out;
    BioPtr bio = mem_bio(pem);
    for (;;) {
        X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (raw == nullptr) {
            unsigned long err = ERR_peek_last_error();
            if (!out.empty() && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            if (out.empty() && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                std::string q = drain_openssl_errors();
                throw Error(ErrorKind::parse, context + ": no PEM certificate found", q);
            }
            std::string q = drain_openssl_errors();
            throw Error(ErrorKind::parse, context + ": malformed or truncated PEM certificate", q);
        }
        X509Ptr x(raw);
        out.push_back(from_native(x.get()));
    }
    return out;
}

Certificate Certificate::from_pem(std::string_view pem, std::string_view source) {
    return chain_from_pem(pem, source).front();
}

static std::string slurp(const std::filesystem::path& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::not_found, "reading " + std::string(what) + " from " + path.string() + ": cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Certificate Certificate::load(const std::filesystem::path& path) {
    return load_chain(path).front();
}

std::vector<Certificate> Certificate::load_chain(const std::filesystem::path& path) {
    std::string data = slurp(path, "certificate");
    if (data.find("-----BEGIN") == std::string::npos) return {from_der(data, path.string())};
    return chain_from_pem(data, path.string());
}

const std::string& Certificate::der() const noexcept { return impl_->der; }
std::string Certificate::to_pem() const { return pem_encode("CERTIFICATE", impl_->der); }
X509* Certificate::native() const { return impl_->get(); }

static std::string name_line(const X509_NAME* name) {
    // "CN=x, O=y" in the order openssl prints with -nameopt RFC2253 reversed (oneline-ish).
    BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), name, 0, (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) | ASN1_STRFLGS_UTF8_CONVERT);
    return bio_string(bio.get());
}

std::string Certificate::subject() const { return name_line(X509_get_subject_name(native())); }
std::string Certificate::issuer() const { return name_line(X509_get_issuer_name(native())); }

std::string Certificate::common_name() const {
    X509_NAME* n = X509_get_subject_name(native());
    int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    if (i < 0) return {};
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
    if (len < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return out;
}

namespace detail {
SubjectAltNames from_general_names(const GENERAL_NAMES* gens) {
    SubjectAltNames out;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(gens, i);
        auto str = [](const ASN1_STRING* s) {
            return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(ASN1_STRING_length(s)));
        };
        switch (g->type) {
            case GEN_DNS: out.dns.push_back(str(g->d.dNSName)); break;
            case GEN_EMAIL: out.email.push_back(str(g->d.rfc822Name)); break;
            case GEN_URI: out.uri.push_back(str(g->d.uniformResourceIdentifier)); break;
            case GEN_IPADD: {
                std::string b = str(g->d.iPAddress);
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
    Ptr<GENERAL_NAMES> gens(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(native(), NID_subject_alt_name, nullptr, nullptr)));
    if (!gens) return {};
    return detail::from_general_names(gens.get());
}

std::string Certificate::serial_hex() const {
    BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(native()), nullptr));
    if (!bn) throw_openssl(ErrorKind::crypto, "reading serial number");
    if (BN_is_zero(bn.get())) return "0";
    char* hex = BN_bn2hex(bn.get());
    std::string out(hex);
    OPENSSL_free(hex);
    return out.substr(out.find_first_not_of('0'));  // BN_bn2hex pads to whole octets
}

static Time asn1_to_time(const ASN1_TIME* t) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(t, &tm) != 1) throw Error(ErrorKind::parse, "malformed time in certificate");
    return Time{std::chrono::seconds{timegm(&tm)}};
}

Time Certificate::not_before() const { return asn1_to_time(X509_get0_notBefore(native())); }
Time Certificate::not_after() const { return asn1_to_time(X509_get0_notAfter(native())); }

bool Certificate::is_ca() const { return (X509_get_extension_flags(native()) & EXFLAG_CA) != 0; }

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

NameConstraints Certificate::name_constraints() const {
    NameConstraints out;
    Ptr<NAME_CONSTRAINTS> nc(static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(native(), NID_name_constraints, nullptr, nullptr)));
    if (!nc) return out;
    auto convert = [](STACK_OF(GENERAL_SUBTREE)* subtrees, std::vector<std::string>& dns, std::vector<IpNetwork>& ip,
                      std::vector<std::string>& email) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
            auto str = [](const ASN1_STRING* s) {
                return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<std::size_t>(ASN1_STRING_length(s)));
            };
            if (g->type == GEN_DNS) dns.push_back(str(g->d.dNSName));
            else if (g->type == GEN_EMAIL) email.push_back(str(g->d.rfc822Name));
            else if (g->type == GEN_IPADD) {
                std::string b = str(g->d.iPAddress);
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

std::string Certificate::key_type() const { return key_type_name(X509_get0_pubkey(native())); }
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

std::string Certificate::subject_key_id() const { return hex_colon(X509_get0_subject_key_id(native())); }
std::string Certificate::authority_key_id() const { return hex_colon(X509_get0_authority_key_id(native())); }
std::string Certificate::fingerprint_sha256() const { return sha256_hex(impl_->der, ':'); }

std::string Certificate::public_key_der() const {
    unsigned char* buf = nullptr;
    int n = i2d_PUBKEY(X509_get0_pubkey(native()), &buf);
    if (n <= 0) throw_openssl(ErrorKind::crypto, "encoding public key");
    std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    return out;
}

std::string Certificate::spki_pin() const {
    std::string spki = public_key_der();
    unsigned char md[32];
    SHA256(reinterpret_cast<const unsigned char*>(spki.data()), spki.size(), md);
    return "sha256//" + base64(std::string_view(reinterpret_cast<char*>(md), 32));
}

bool Certificate::matches(const PrivateKey& key) const { return key.same_public_key(X509_get0_pubkey(native())); }

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
    j["key_type"] = key_type();
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
