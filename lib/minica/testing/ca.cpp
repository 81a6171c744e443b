// The CA fixture: TempDir, LeafCert, TestCA.
#include "minica/testing/ca.hpp"

#include <algorithm>
#include <sys/random.h>
#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/text.hpp"
#include "minica/names.hpp"
#include "minica/tls.hpp"

namespace minica::testing {

namespace {

// Eight random hex digits: test CAs in one trust store never share a name.
std::string random_token() {
    // Not a secret (it only keeps two test CAs' names apart): the OS's
    // generator, not OpenSSL's DRBG, which costs more per call.
    unsigned char b[4];
    if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b) && RAND_bytes(b, sizeof b) != 1)
        throw_openssl(ErrorKind::crypto, "drawing a random CA name");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : b) {
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
    return out;
}

// The library's one file writer (atomic, exact mode), replacing what a
// previous write_to left.
void write_file(const std::filesystem::path& path, std::string_view content, unsigned mode) {
    write_file_atomic(path, content, mode, true);
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }

// ---- TempDir ---------------------------------------------------------------

TempDir::TempDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "minica-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw Error(ErrorKind::io, "creating a temporary directory in " + base.string() + ": " + errno_text(errno));
    path_ = tmpl;
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;  // a destructor does not throw; a leftover temp dir is the worst case
    std::filesystem::remove_all(path_, ec);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir& TempDir::operator=(TempDir&& other) noexcept {
    if (this != &other) {
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(path_, ec);
        }
        path_ = std::move(other.path_);
        other.path_.clear();
    }
    return *this;
}

// ---- LeafCert --------------------------------------------------------------

TlsIdentity LeafCert::identity() const {
    std::vector<Certificate> intermediates(issued_.chain.begin() + (issued_.chain.empty() ? 0 : 1),
                                           issued_.chain.end());
    return TlsIdentity{.certificate = issued_.certificate, .key = issued_.key, .chain = std::move(intermediates)};
}

void LeafCert::configure_cert(SSL_CTX* ctx) const { use_identity(ctx, identity()); }

Files LeafCert::write_to(const std::filesystem::path& dir, std::string_view stem) const {
    if (stem.empty()) throw Error(ErrorKind::invalid_argument, "writing a certificate: empty file name");
    Files files{.cert = dir / (std::string(stem) + ".pem"), .key = dir / (std::string(stem) + "-key.pem")};
    write_file(files.cert, fullchain_pem(), 0644);
    write_file(files.key, key_pem(), 0600);
    return files;
}

// ---- TestCA ----------------------------------------------------------------

namespace {

struct Chain {
    Authority root;
    Authority issuer;
};

Chain make_chain(const TestCAOptions& o) {
    if (o.intermediates < 0 || o.intermediates > 8)
        throw Error(ErrorKind::invalid_argument,
                    "a test CA takes 0 to 8 intermediates, not " + std::to_string(o.intermediates));
    Authority root = Authority::create_root({
        .subject = {.common_name = "minica test CA " + random_token(), .organization = o.organization},
        .key_type = o.key_type,
        .now = o.now,
    });
    Authority issuer = root;
    for (int i = 0; i < o.intermediates; ++i) {
        issuer = issuer.create_intermediate({
            .subject = {.common_name = "minica test intermediate CA " + random_token(),
                        .organization = o.organization},
            .key_type = o.key_type,
            .validity = default_intermediate_validity,
            .path_len = o.intermediates - 1 - i,
            .now = o.now,
        });
    }
    return Chain{std::move(root), std::move(issuer)};
}

}  // namespace

TestCA::TestCA(const TestCAOptions& options)
    : TestCA([&] {
          Chain c = make_chain(options);
          return TestCA(std::move(c.root), std::move(c.issuer), options.now, options.key_type,
                        options.organization);
      }()) {}

TestCA::TestCA(Authority root, Authority issuer, std::optional<Time> now, KeyType key_type, std::string organization)
    : root_(std::move(root)),
      issuer_(std::move(issuer)),
      now_(now),
      key_type_(key_type),
      organization_(std::move(organization)) {}

TestCA TestCA::create_child_ca() const {
    // Room below for more children, as trustme leaves (its roots take 9).
    std::optional<int> parent_len = issuer_.certificate().path_len();
    int path_len = parent_len ? *parent_len - 1 : 8;
    Authority child = issuer_.create_intermediate({
        .subject = {.common_name = "minica test intermediate CA " + random_token(), .organization = organization_},
        .key_type = key_type_,
        .validity = default_intermediate_validity,
        .path_len = std::max(path_len, 0),
        .now = now_,
    });
    return TestCA(root_, std::move(child), now_, key_type_, organization_);
}

LeafCert TestCA::issue(const IssueOptions& options) const {
    if (options.names.empty())
        throw Error(ErrorKind::invalid_argument, "issuing a test certificate: it needs at least one name");
    SubjectAltNames names = parse_identities(options.names);
    DistinguishedName subject{.common_name = options.common_name, .organization = options.organization};
    if (subject.common_name.empty() && !subject.organization.empty()) {
        std::string primary = names.primary();
        if (primary.size() <= 64) subject.common_name = primary;
    }
    return LeafCert(issuer_.issue({
        .names = std::move(names),
        .subject = std::move(subject),
        .profile = options.profile,
        .key_type = options.key_type.value_or(key_type_),
        .validity = options.validity,
        .now = now_,
    }));
}

void TestCA::apply_clock(SSL_CTX* ctx) const {
    if (!now_) return;
    X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(ctx), static_cast<time_t>(now_->time_since_epoch().count()));
}

void TestCA::configure_trust(SSL_CTX* ctx) const {
    if (ctx == nullptr) throw Error(ErrorKind::invalid_argument, "configuring trust: no context");
    trust(ctx, {root_.certificate()});
    // Keep whatever callback the context has (minica::harden installs one
    // that records why a peer was refused); a client ignores FAIL_IF_NO_PEER_CERT.
    int mode = SSL_CTX_get_verify_mode(ctx) | SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, SSL_CTX_get_verify_callback(ctx));
    if (SSL_CTX_get_ssl_method(ctx) != TLS_client_method()) {
        // A server names the CAs it accepts in its CertificateRequest, and
        // needs a session id context to resume sessions of verified clients.
        if (SSL_CTX_add_client_CA(ctx, root_.certificate().native()) != 1)
            throw_openssl(ErrorKind::tls, "configuring trust: listing the client CA");
        static const unsigned char sid_ctx[] = "minica-testing";
        if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1) != 1)
            throw_openssl(ErrorKind::tls, "configuring trust: setting the session id context");
    }
    apply_clock(ctx);
}

SslContext TestCA::server_context(const LeafCert& identity, const ServerContextOptions& options) const {
    ServerTlsOptions o{.identity = identity.identity()};
    if (options.require_client_cert) o.client_roots = {root_.certificate()};
    SslContext ctx(make_server_context(o));
    apply_clock(ctx.get());
    return ctx;
}

SslContext TestCA::client_context() const {
    SslContext ctx(make_client_context({.roots = {root_.certificate()}}));
    apply_clock(ctx.get());
    return ctx;
}

SslContext TestCA::client_context(const LeafCert& identity) const {
    SslContext ctx(make_client_context({.identity = identity.identity(), .roots = {root_.certificate()}}));
    apply_clock(ctx.get());
    return ctx;
}

Files TestCA::write_to(const std::filesystem::path& dir) const {
    Files files{.cert = dir / "ca.pem", .key = dir / "ca-key.pem"};
    write_file(files.cert, cert_pem(), 0644);
    write_file(files.key, key_pem(), 0600);
    return files;
}

}  // namespace minica::testing
