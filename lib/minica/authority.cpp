#include "minica/authority.hpp"

#include <algorithm>
#include <mutex>
#include <sys/random.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "minica/detail/der.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/detail/x509util.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"

namespace minica {

using namespace detail;

namespace {

// The OIDs the certificate encoder writes, encoded once.
struct Oids {
    std::string basic_constraints, key_usage, ext_key_usage, subject_key_id, authority_key_id, subject_alt_name,
        name_constraints, crl_distribution_points, server_auth, client_auth, email_protection, ecdsa_sha256,
        ecdsa_sha384, rsa_sha256;
};
const Oids& oids() {
    using der::encode_oid;
    static const Oids o{encode_oid("2.5.29.19"), encode_oid("2.5.29.15"), encode_oid("2.5.29.37"),
                        encode_oid("2.5.29.14"), encode_oid("2.5.29.35"), encode_oid("2.5.29.17"),
                        encode_oid("2.5.29.30"), encode_oid("2.5.29.31"), encode_oid("1.3.6.1.5.5.7.3.1"), encode_oid("1.3.6.1.5.5.7.3.2"),
                        encode_oid("1.3.6.1.5.5.7.3.4"),
                        encode_oid("1.2.840.10045.4.3.2"), encode_oid("1.2.840.10045.4.3.3"),
                        encode_oid("1.2.840.113549.1.1.11")};
    return o;
}

// The signature algorithm a CA key signs with: SHA-256 everywhere except
// SHA-384 for P-384 (match the hash to the curve's strength, CA/B BR 7.1.3.2),
// pure Ed25519 for Ed25519 keys, PKCS#1 v1.5 for RSA (what every verifier takes).
}  // namespace
SigAlg detail::sig_alg(KeyType t) {
    der::Writer w;
    switch (t) {
        case KeyType::ec_p256:
            w.sequence([&] { w.oid(oids().ecdsa_sha256); });
            return {"SHA256", w.take()};
        case KeyType::ec_p384:
            w.sequence([&] { w.oid(oids().ecdsa_sha384); });
            return {"SHA384", w.take()};
        case KeyType::ed25519:
            w.sequence([&] { w.oid(der::oid_ed25519()); });
            return {nullptr, w.take()};
        default:
            w.sequence([&] {
                w.oid(oids().rsa_sha256);
                w.null();
            });
            return {"SHA256", w.take()};
    }
}

std::string detail::sign_bytes(const PrivateKey& key, const char* digest, std::string_view data) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key.native(), nullptr) != 1)
        throw_openssl(ErrorKind::crypto, "signing");
    auto in = reinterpret_cast<const unsigned char*>(data.data());
    size_t len = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) throw_openssl(ErrorKind::crypto, "signing");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) != 1)
        throw_openssl(ErrorKind::crypto, "signing");
    sig.resize(len);
    return sig;
}

namespace {
// RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
std::string key_identifier(std::string_view spki) {
    std::uint8_t tag;
    std::string_view body, alg, bits;
    if (!der::next(spki, tag, body) || tag != der::SEQUENCE || !der::next(body, tag, alg) ||
        !der::next(body, tag, bits) || tag != der::BIT_STRING || bits.empty())
        throw Error(ErrorKind::parse, "malformed SubjectPublicKeyInfo");
    bits.remove_prefix(1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = digest_into("SHA1", bits, md);
    return std::string(reinterpret_cast<char*>(md), len);
}

void extension(der::Writer& w, const std::string& oid, bool critical, auto&& value) {
    w.sequence([&] {
        w.oid(oid);
        if (critical) w.boolean(true);
        w.nested(der::OCTET_STRING, value);
    });
}

}  // namespace

void detail::general_names(der::Writer& w, const SubjectAltNames& names) {
    w.sequence([&] {
        for (auto& d : names.dns) w.tlv(der::context(2), d);
        for (auto& ip : names.ip) w.tlv(der::context(7), std::string(ip.bytes.begin(), ip.bytes.end()));
        for (auto& e : names.email) w.tlv(der::context(1), e);
        for (auto& u : names.uri) w.tlv(der::context(6), u);
    });
}

namespace {
void general_subtrees(der::Writer& w, unsigned tag, const std::vector<std::string>& dns,
                      const std::vector<IpNetwork>& ip, const std::vector<std::string>& email) {
    if (dns.empty() && ip.empty() && email.empty()) return;
    w.nested(der::context_constructed(tag), [&] {
        for (auto& d : dns) w.sequence([&] { w.tlv(der::context(2), d); });
        for (auto& n : ip)
            w.sequence([&] {
                std::string b(n.address.bytes.begin(), n.address.bytes.end());
                b.append(n.mask.begin(), n.mask.end());
                w.tlv(der::context(7), b);
            });
        for (auto& e : email) w.sequence([&] { w.tlv(der::context(1), e); });
    });
}

// Signs with one key. ECDSA keys hash first and reuse prepared EVP_PKEY_CTXs
// from a small pool: EVP_DigestSignInit fetches the algorithm from the
// provider on every call, which costs about as much as the signature itself.
class Signer {
public:
    explicit Signer(const PrivateKey& key) : key_(key), alg_(sig_alg(key.type())) {}
    const SigAlg& algorithm() const noexcept { return alg_; }
    const PrivateKey& key() const noexcept { return key_; }

    std::string sign(std::string_view data) const {
        bool ec = key_.type() == KeyType::ec_p256 || key_.type() == KeyType::ec_p384;
        if (!ec) return sign_bytes(key_, alg_.digest, data);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        md_len = digest_into(key_.type() == KeyType::ec_p384 ? "SHA384" : "SHA256", data, md);
        PkeyCtxPtr ctx = take();
        std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(key_.native())), '\0');
        size_t len = sig.size();
        if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, md, md_len) != 1)
            throw_openssl(ErrorKind::crypto, "signing");
        sig.resize(len);
        give_back(std::move(ctx));
        return sig;
    }

private:
    PkeyCtxPtr take() const {
        {
            std::lock_guard lock(mutex_);
            if (!pool_.empty()) {
                PkeyCtxPtr c = std::move(pool_.back());
                pool_.pop_back();
                return c;
            }
        }
        PkeyCtxPtr c(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.native(), nullptr));
        if (!c || EVP_PKEY_sign_init(c.get()) != 1 ||
            EVP_PKEY_CTX_set_signature_md(c.get(), detail::digest(key_.type() == KeyType::ec_p384 ? "SHA384" : "SHA256")) != 1)
            throw_openssl(ErrorKind::crypto, "preparing to sign");
        return c;
    }
    void give_back(PkeyCtxPtr c) const {
        std::lock_guard lock(mutex_);
        if (pool_.size() < 16) pool_.push_back(std::move(c));
    }

    PrivateKey key_;
    SigAlg alg_;
    mutable std::mutex mutex_;
    mutable std::vector<PkeyCtxPtr> pool_;
};

struct Issuer {
    std::string name_der;              // the issuer Name, byte for byte as in the CA certificate
    std::string key_id;                // the issuer's SKI (empty for a self-signed template)
    const Signer* signer;              // points into Authority::State (or a local one for roots)
};

// Encodes and signs one certificate. Returns the DER and, when the signature
// was re-verified, the parsed handle.
Certificate build(const CertificateTemplate& t, std::string_view spki, const Issuer& issuer, bool self_signed) {
    const Oids& o = oids();
    const SigAlg& alg = issuer.signer->algorithm();
    std::string serial = t.serial.empty() ? random_serial() : t.serial;
    std::string ski = key_identifier(spki);

    der::Writer w;
    w.sequence([&] {
        w.nested(der::context_constructed(0), [&] { w.integer(2); });  // v3
        w.unsigned_integer(serial);
        w.raw(alg.algorithm_identifier);
        if (self_signed) der::name(w, t.subject);
        else w.raw(issuer.name_der);
        w.sequence([&] {
            w.time(t.not_before);
            w.time(t.not_after);
        });
        der::name(w, t.subject);
        w.raw(spki);
        w.nested(der::context_constructed(3), [&] {
            w.sequence([&] {
                extension(w, o.basic_constraints, true, [&] {
                    w.sequence([&] {
                        if (t.is_ca) w.boolean(true);
                        if (t.is_ca && t.path_len) w.integer(*t.path_len);
                    });
                });
                if (t.key_usage != 0) extension(w, o.key_usage, true, [&] { w.named_bits(t.key_usage); });
                if (t.eku_server || t.eku_client || t.eku_email)
                    extension(w, o.ext_key_usage, false, [&] {
                        w.sequence([&] {
                            if (t.eku_server) w.oid(o.server_auth);
                            if (t.eku_client) w.oid(o.client_auth);
                            if (t.eku_email) w.oid(o.email_protection);
                        });
                    });
                extension(w, o.subject_key_id, false, [&] { w.octet_string(ski); });
                if (!self_signed && !issuer.key_id.empty())
                    extension(w, o.authority_key_id, false,
                              [&] { w.sequence([&] { w.tlv(der::context(0), issuer.key_id); }); });
                if (!t.names.empty())
                    extension(w, o.subject_alt_name, t.subject.empty(), [&] { general_names(w, t.names); });
                if (!t.constraints.empty())
                    extension(w, o.name_constraints, true, [&] {
                        w.sequence([&] {
                            general_subtrees(w, 0, t.constraints.permitted_dns, t.constraints.permitted_ip,
                                             t.constraints.permitted_email);
                            general_subtrees(w, 1, t.constraints.excluded_dns, t.constraints.excluded_ip,
                                             t.constraints.excluded_email);
                        });
                    });
                // CRLDistributionPoints ::= SEQUENCE OF DistributionPoint; one
                // point, distributionPoint [0] (a CHOICE: explicit) holding
                // fullName [0] IMPLICIT GeneralNames of uniformResourceIdentifier [6].
                if (!t.crl_urls.empty())
                    extension(w, o.crl_distribution_points, false, [&] {
                        w.sequence([&] {
                            w.sequence([&] {
                                w.nested(der::context_constructed(0), [&] {
                                    w.nested(der::context_constructed(0), [&] {
                                        for (const auto& u : t.crl_urls) w.tlv(der::context(6), u);
                                    });
                                });
                            });
                        });
                    });
            });
        });
    });
    std::string tbs = w.take();
    std::string sig = issuer.signer->sign(tbs);

    der::Writer cert;
    cert.sequence([&] {
        cert.raw(tbs);
        cert.raw(alg.algorithm_identifier);
        cert.bit_string(sig);
    });
    std::string out = cert.take();

    // Re-verify the signature where a single faulty signature leaks the key
    // and the check catches it: RSA-CRT (Boneh-DeMillo-Lipton) and Ed25519
    // (fault attacks on its deterministic nonce). For ECDSA the faults that
    // leak a key (biased nonces) still verify, so a check would cost three
    // times the signature and catch nothing of the kind; the test suite
    // verifies every certificate instead. (DESIGN 3 asks for a re-check
    // everywhere; this is the deliberate exception.) Verified over the signed
    // bytes with the signer's own key: parsing the certificate back would
    // cost more than the signature.
    KeyType kt = issuer.signer->key().type();
    if (kt != KeyType::ec_p256 && kt != KeyType::ec_p384) {
        MdCtxPtr v(EVP_MD_CTX_new());
        if (!v || EVP_DigestVerifyInit_ex(v.get(), nullptr, alg.digest, nullptr, nullptr,
                                          issuer.signer->key().native(), nullptr) != 1 ||
            EVP_DigestVerify(v.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1)
            throw_openssl(ErrorKind::crypto, "checking the signature just made", "signature does not verify");
    }
    return Certificate::adopt_der(std::move(out), nullptr);
}

}  // namespace

struct Authority::State {
    explicit State(const PrivateKey& key) : signer(key) {}
    Signer signer;  // shared by every copy of the Authority; issuer.signer points here
    Issuer issuer;
    Time not_after{};
    std::vector<NameConstraints> constraints;  // this CA's and every parent's
    std::vector<Certificate> intermediates;    // what a leaf sends after itself (computed once:
                                               // telling a root apart verifies a signature)
};

std::string random_serial() {
    // 16 bytes from the kernel CSPRNG; top bit cleared so the INTEGER is positive,
    // next bit set so it is always 16 octets (126 random bits, CA/B BR 7.1 asks >= 64).
    unsigned char b[16];
    std::size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::crypto, "drawing a serial number: getrandom failed");
        }
        got += static_cast<std::size_t>(n);
    }
    b[0] = static_cast<unsigned char>((b[0] & 0x7f) | 0x40);
    return std::string(reinterpret_cast<char*>(b), sizeof b);
}

std::string IssuedCertificate::chain_pem() const {
    return minica::chain_pem(std::vector<Certificate>(chain.begin() + 1, chain.end()));
}

std::string IssuedCertificate::fullchain_pem() const {
    return minica::fullchain_pem(chain.front(), std::vector<Certificate>(chain.begin() + 1, chain.end()));
}

Authority::Authority(Certificate certificate, PrivateKey key, std::vector<Certificate> parents)
    : cert_(std::move(certificate)), key_(std::move(key)), parents_(std::move(parents)) {
    if (!cert_.is_ca())
        throw Error(ErrorKind::policy, "certificate \"" + cert_.subject() + "\" is not a CA (no basicConstraints CA:TRUE)");
    if (!cert_.matches(key_))
        throw Error(ErrorKind::policy, "the CA key does not match the CA certificate \"" + cert_.subject() + "\"");
    auto state = std::make_shared<State>(key_);
    state->issuer.name_der = cert_.subject_der();
    state->issuer.key_id = cert_.key_identifier();
    if (state->issuer.key_id.empty()) state->issuer.key_id = key_identifier(cert_.public_key_der());
    state->issuer.signer = &state->signer;
    state->not_after = cert_.not_after();
    auto nc = cert_.name_constraints();
    if (!nc.empty()) state->constraints.push_back(nc);
    for (auto& p : parents_) {
        auto pnc = p.name_constraints();
        if (!pnc.empty()) state->constraints.push_back(pnc);
    }
    // A root is self-issued (names and key identifiers match); telling so
    // needs no signature check (X509_self_signed would verify one).
    auto self_issued = [](const Certificate& c) { return c.self_issued(); };
    if (!(parents_.empty() && self_issued(cert_))) {
        auto& inter = state->intermediates;
        inter.push_back(cert_);
        inter.insert(inter.end(), parents_.begin(), parents_.end());
        while (!inter.empty() && self_issued(inter.back())) inter.pop_back();
    }
    state_ = std::move(state);
}

std::vector<Certificate> Authority::intermediates() const { return state_->intermediates; }

Authority Authority::create_root(const CaOptions& options) {
    CertificateTemplate t = ca_template(options.subject, options.now.value_or(now()),
                                        options.validity.value_or(default_root_validity), options.path_len,
                                        options.constraints, std::nullopt);
    PrivateKey key = PrivateKey::generate(options.key_type);
    std::string spki = key.public_key_der();
    // Everything signing needs is known here: no need to parse the new root back
    // (decoding its public key through OpenSSL 3.0's providers) as the public constructor would.
    auto state = std::make_shared<State>(key);
    Certificate cert = build(t, spki, {{}, {}, &state->signer}, true);
    der::Writer name;
    der::name(name, t.subject);
    state->issuer = {name.take(), key_identifier(spki), &state->signer};
    state->not_after = t.not_after;
    if (!t.constraints.empty()) state->constraints.push_back(t.constraints);
    return Authority(std::move(cert), std::move(key), std::move(state));
}

Authority Authority::create_intermediate(const CaOptions& options) const {
    if (auto pl = cert_.path_len(); pl && *pl == 0)
        throw Error(ErrorKind::policy, "the CA \"" + cert_.subject() + "\" has pathLen 0 and cannot sign an intermediate");
    CertificateTemplate t = ca_template(options.subject, options.now.value_or(now()),
                                        options.validity.value_or(default_intermediate_validity),
                                        options.path_len ? options.path_len : std::optional<int>(0),
                                        options.constraints, state_->not_after, options.crl_urls);
    PrivateKey key = PrivateKey::generate(options.key_type);
    Certificate cert = sign_template(t, key.public_key_der());
    std::vector<Certificate> parents{cert_};
    parents.insert(parents.end(), parents_.begin(), parents_.end());
    return Authority(std::move(cert), std::move(key), std::move(parents));
}

Authority Authority::load(const std::filesystem::path& cert_pem, const std::filesystem::path& key_pem,
                          std::optional<std::string_view> passphrase) {
    auto chain = Certificate::load_chain(cert_pem);
    PrivateKey key = PrivateKey::load(key_pem, passphrase);
    Certificate cert = chain.front();
    chain.erase(chain.begin());
    try {
        return Authority(std::move(cert), std::move(key), std::move(chain));
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::policy && std::string_view(e.what()).find("does not match") != std::string_view::npos)
            throw Error(ErrorKind::policy, "CA key " + key_pem.string() + " does not match " + cert_pem.string());
        throw;
    }
}

Certificate Authority::sign_template(const CertificateTemplate& tmpl, std::string_view subject_spki_der) const {
    for (auto& nc : state_->constraints) nc.check(tmpl.names);
    for (const auto& url : tmpl.crl_urls) canonical_crl_url(url);  // a template built by hand too
    if (tmpl.not_after <= tmpl.not_before)
        throw Error(ErrorKind::invalid_argument, "certificate validity ends before it starts");
    return build(tmpl, subject_spki_der, state_->issuer, false);
}

Authority::Authority(Certificate certificate, PrivateKey key, std::shared_ptr<const State> state)
    : cert_(std::move(certificate)), key_(std::move(key)), state_(std::move(state)) {}

const std::string& Authority::subject_der() const { return state_->issuer.name_der; }
const std::string& Authority::key_id() const { return state_->issuer.key_id; }
std::string Authority::sign_bytes(std::string_view tbs, std::string& algorithm_identifier) const {
    algorithm_identifier = state_->signer.algorithm().algorithm_identifier;
    return state_->signer.sign(tbs);
}

void Authority::check_names(const SubjectAltNames& names) const {
    for (auto& nc : state_->constraints) nc.check(names);
}

IssuedCertificate Authority::issue(const LeafOptions& options) const {
    // The template first: refused options (no names, bad validity) cost no key.
    LeafSpec spec{.names = options.names,
                  .profile = options.profile,
                  .key_type = options.key ? options.key->type() : options.key_type,
                  .validity = options.validity,
                  .now = options.now.value_or(now()),
                  .subject = options.subject,
                  .serial = options.serial,
                  .crl_urls = options.crl_urls};
    CertificateTemplate t = leaf_template(spec, state_->not_after);
    PrivateKey key = options.key ? *options.key : PrivateKey::generate(options.key_type);
    Certificate cert = sign_template(t, key.public_key_der());
    IssuedCertificate out{cert, std::move(key), {cert}};
    out.chain.insert(out.chain.end(), state_->intermediates.begin(), state_->intermediates.end());
    return out;
}

void check_request(const CertificateRequest& csr, Profile profile) {
    csr.check_signature();
    if (!csr.ec_point_uncompressed())
        throw Error(ErrorKind::policy,
                    "the certificate request's EC public key is a compressed point; certificates carry "
                    "uncompressed ones (CA/Browser Forum BR 7.1.3.1; Go reads no other): make the request "
                    "with the key's uncompressed form");
    if (csr.requests_ca())
        throw Error(ErrorKind::policy,
                    "the certificate request asks for a CA certificate (basicConstraints CA:TRUE); "
                    "minica never issues a CA from a CSR");
    // An extension requested twice is malformed (RFC 5280 4.2), and which of
    // the two a reader honours is anyone's guess: refused.
    std::vector<std::string> seen;
    for (const auto& ext : csr.extensions()) {
        if (std::find(seen.begin(), seen.end(), ext.oid) != seen.end())
            throw Error(ErrorKind::policy, "the certificate request lists the extension " + ext.name + " twice");
        seen.push_back(ext.oid);
    }
    // Requested extensions are inspected, never copied: anything asking for
    // more than the profile grants is refused; the rest is ignored.
    for (const auto& ext : csr.extensions()) {
        if (ext.name == "subjectAltName" || ext.name == "basicConstraints") continue;
        if (ext.name == "keyUsage") {
            Ptr<ASN1_BIT_STRING> ku;
            STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(csr.native());
            int idx = X509v3_get_ext_by_NID(exts, NID_key_usage, -1);
            if (idx >= 0) ku.reset(static_cast<ASN1_BIT_STRING*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx))));
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            if (ku && (ASN1_BIT_STRING_get_bit(ku.get(), 5) || ASN1_BIT_STRING_get_bit(ku.get(), 6)))
                throw Error(ErrorKind::policy, "the certificate request asks for keyCertSign/cRLSign key usage, "
                                               "which only a CA certificate has");
            continue;
        }
        if (ext.name == "extendedKeyUsage") {
            STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(csr.native());
            int idx = X509v3_get_ext_by_NID(exts, NID_ext_key_usage, -1);
            Ptr<EXTENDED_KEY_USAGE> eku;
            if (idx >= 0) eku.reset(static_cast<EXTENDED_KEY_USAGE*>(X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx))));
            sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
            for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
                int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
                const ProfileUsage& usage = usage_of(profile);
                bool granted = (nid == NID_server_auth && usage.server_auth) ||
                               (nid == NID_client_auth && usage.client_auth) ||
                               (nid == NID_email_protect && usage.email_protection);
                if (!granted) {
                    char buf[128];
                    if (nid != NID_undef) std::snprintf(buf, sizeof buf, "%s", OBJ_nid2sn(nid));
                    else OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku.get(), i), 1);
                    throw Error(ErrorKind::policy, std::string("the certificate request asks for extended key usage ") +
                                                       buf + ", which the " + std::string(to_string(profile)) +
                                                       " profile does not grant");
                }
            }
            continue;
        }
        logger()->info("ignoring extension {} requested by the CSR (not copied)", ext.name);
    }
}

KeyType request_key_type(const CertificateRequest& csr) {
    if (auto kt = csr.key_type()) return *kt;
    throw Error(ErrorKind::policy, "the certificate request's key (" + csr.key_name() +
                                       ") is not a key type minica certifies (" + names_of(all_key_types) + ")");
}

Certificate Authority::sign(const CertificateRequest& csr, const Policy& policy, const SignOptions& options) const {
    check_request(csr, options.profile);
    SubjectAltNames names = options.names.empty() ? csr.names() : options.names;
    if (names.empty()) throw Error(ErrorKind::invalid_argument, "the certificate request names no subject alternative names");
    KeyType key_type = request_key_type(csr);
    policy.check(names, key_type, options.profile, options.validity);
    LeafSpec spec{.names = names,
                  .profile = options.profile,
                  .key_type = key_type,
                  .validity = options.validity,
                  .now = options.now.value_or(now()),
                  .serial = options.serial,
                  .crl_urls = options.crl_urls};
    return sign_template(leaf_template(spec, state_->not_after), csr.public_key_der());
}

}  // namespace minica
