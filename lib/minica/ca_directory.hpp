// The CA on disk, and issuing: CaDirectory::issue is the one call every
// program issues a leaf through (the CLI's sign and renew, minica serve).
//
//   <dir>/ca.pem         the issuing CA certificate (0644): the root, or with
//                        --intermediate the intermediate that signs leaves
//   <dir>/ca-key.pem     its key, PKCS#8, optionally encrypted (0400)
//   <dir>/chain.pem      with --intermediate: the intermediates a leaf sends,
//                        i.e. the issuing intermediate itself (0644)
//   <dir>/root.pem       with --intermediate: the root certificate, the trust
//                        anchor (0644); a plain root CA has no root.pem (ca.pem is the root)
//   <dir>/root-key.pem   with --intermediate: the root key (0400)
//   <dir>/policy.json    schemas/policy.schema.json (0644)
//   <dir>/inventory.db   SQLite, WAL mode: every certificate issued (0600)
//   <dir>/publication.json  where the CRLs are served (Publication;
//                        schemas/publication.schema.json, 0644); absent: none
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "minica/authority.hpp"
#include "minica/certificate.hpp"
#include "minica/csr.hpp"
#include "minica/files.hpp"
#include "minica/inventory.hpp"
#include "minica/key.hpp"
#include "minica/policy.hpp"
#include "minica/revocation.hpp"
#include "minica/verify.hpp"

namespace minica {

// Where issue() writes a leaf's files: <directory>/cert.pem (0644),
// key.pem (0600; a new or given key, never with a CSR), chain.pem (0644,
// only when the CA has intermediates: an empty file is no PEM a reader
// takes), fullchain.pem (0644), and cert.p12 (0600) when asked.
struct OutputFiles {
    std::filesystem::path directory;
    // Write into directory/<the first name>/ ("*" -> "_wildcard", ":" "/" "\\" -> "_").
    bool name_subdirectory = false;
    bool key = true;           // write key.pem
    bool overwrite = false;    // replace existing files (--force); never otherwise
    // Set: also cert.p12 under the passphrase this returns; asked only once
    // no file is in the way.
    std::function<std::string()> p12_passphrase;
};

struct IssueRequest {
    // The names to certify as a person gives them (parse_identity). With a
    // CSR and none here: the names the CSR requests.
    std::vector<std::string> names;
    // None: default_profile(names), email for email addresses only, else
    // server. A server profile for email addresses only is refused.
    std::optional<Profile> profile;
    // Default: default_leaf_validity, or the policy's maximum if lower.
    std::optional<std::chrono::days> validity;
    // The key certified: a new one of `key_type`, or `key` (a renewal that
    // keeps its key), or the CSR's (which contributes its key and names, never
    // its extensions: DESIGN 5).
    KeyType key_type = KeyType::ec_p256;
    std::optional<PrivateKey> key;
    std::optional<CertificateRequest> csr;
    // The CA key's passphrase, asked only when ca-key.pem is encrypted.
    std::function<std::string()> ca_passphrase;
    std::optional<OutputFiles> files;  // none: nothing is written (a server, a test)
    // Runs inside the inventory's transaction once the certificate is
    // recorded: what it records (an online CA's order) commits with the
    // certificate or not at all. Not with `files`.
    std::function<void(Inventory&, const Certificate&)> also;
};

struct Issued {
    Certificate certificate;
    std::optional<PrivateKey> key;           // the new or given key (none for a CSR)
    Profile profile = Profile::server;       // the profile it was issued under
    Certificate issuer;                      // the CA certificate that signed it
    std::vector<Certificate> intermediates;  // what the leaf sends after itself
    std::vector<WrittenFile> files;           // in the order written
    bool created_ca = false;                 // issue_in made the CA first
};

struct RenewRequest {
    std::filesystem::path certificate;  // a cert.pem this CA issued
    bool reuse_key = false;             // certify key.pem beside it again
    std::optional<std::chrono::days> validity;
    // Write into out/<the certificate's directory name>/ instead of
    // replacing the files beside the certificate.
    std::optional<std::filesystem::path> out;
    bool overwrite = false;
    std::function<std::string()> ca_passphrase;
};

struct Renewed {
    Issued issued;
    Certificate old;
    Profile profile;  // as recorded at issue, else what the old certificate's EKU says
};

// Where a CA's CRLs are served, as <dir>/publication.json records it. Every
// leaf issued once it is set carries crl_url as its CRL Distribution Point;
// an intermediate created with it set (init) carries root_crl_url. A
// certificate already issued is never changed. Empty = not served.
struct Publication {
    std::string crl_url;       // the issuing CA's CRL (crl.pem as DER, say)
    std::string root_crl_url;  // an --intermediate CA's root CRL (root-crl.pem)
    bool empty() const noexcept { return crl_url.empty() && root_crl_url.empty(); }
    // {"crl_url": ..., "root_crl_url": ...}, the empty ones left out.
    std::string to_json() const;
    // Error(parse) "<source>: <why>"; each URL checked by canonical_crl_url.
    static Publication from_json(std::string_view json, std::string_view source = "memory");
};

// What publish_crls writes. An --intermediate CA has two CRLs: the
// intermediate's (crl.pem, the leaves it revoked) and the root's
// (root-crl.pem, the intermediates revoked), signed where the root key is.
struct CrlRequest {
    std::chrono::days validity{7};                  // nextUpdate = now + validity
    std::optional<std::filesystem::path> out;       // default <dir>/crl.pem
    std::optional<std::filesystem::path> root_out;  // default <dir>/root-crl.pem
    // The root key, when it is not <dir>/root-key.pem (kept offline). Without
    // one, only the issuing CA's CRL is made and `root_skipped` says why.
    std::optional<std::filesystem::path> root_key;
    // False: only the issuing CA's CRL, whatever keys are at hand (an online
    // server re-signing its CRL leaves the root's to `minica crl`).
    bool include_root = true;
    // Replace a file that is not an earlier CRL of the same CA (an earlier
    // one is always replaced: that is what publishing is).
    bool overwrite = false;
    // The CA key's passphrase (the root key's too: init encrypts both with
    // one), asked only when a key is encrypted.
    std::function<std::string()> ca_passphrase;
    // Set: recorded with set_publication once the CRLs are written (its URLs
    // checked before anything is signed); an empty one removes the record.
    std::optional<Publication> publication;
};

struct PublishedCrl {
    Crl crl;
    std::size_t entries = 0;
    WrittenFile file;
};

struct PublishedCrls {
    PublishedCrl issuing;              // signed by ca.pem's key
    std::optional<PublishedCrl> root;  // an --intermediate CA's root CRL
    std::string root_skipped;          // why there is none, for an --intermediate CA
};

struct InitOptions {
    // The issuing CA: the root, or with `intermediate` the intermediate. For an
    // intermediate, path_len defaults to 0 (it signs leaves only) and a
    // validity left at default_root_validity means default_intermediate_validity.
    CaOptions ca;
    bool intermediate = false;  // a root signs an intermediate; the intermediate issues
    // With `intermediate`: the root's options. Default: ca's subject with
    // " Root" appended to the common name, ca's key type and clock,
    // default_root_validity. Either way, a root without name constraints of
    // its own gets ca's (so that the trust anchor a machine installs is
    // constrained too, not only the intermediate).
    std::optional<CaOptions> root;
    std::optional<std::string> passphrase;  // encrypts the CA key(s)
    Policy policy;
    // Written as publication.json; with `intermediate`, the intermediate
    // carries root_crl_url as its CRL Distribution Point.
    Publication publication;
};

class CaDirectory {
public:
    // Creates a new CA in `dir` (created if missing, 0700). An existing CA
    // (ca.pem or ca-key.pem present) is Error(exists) "a CA already exists in
    // <dir>"; any other CA file left over is Error(exists) "<path> already
    // exists"; nothing is touched. On failure, whatever init created is removed
    // (never anything that existed before). ca.pem is written last. With an
    // intermediate, it is recorded in the inventory with profile "ca".
    static CaDirectory init(const std::filesystem::path& dir, const InitOptions& options);
    // Error(not_found) "no CA in <dir>: create one with minica init --ca-dir
    // <dir>" when absent (no ca.pem).
    static CaDirectory open(const std::filesystem::path& dir);
    // What `minica sign` does on first use: opens the CA in `dir`, or creates
    // it when there is none. Safe when many processes do it at once (they wait
    // on a lock on the directory and all use the one CA created), and after an
    // init killed midway (its files, never used, are moved aside).
    static CaDirectory open_or_init(const std::filesystem::path& dir, const InitOptions& options, bool& created);
    static bool exists(const std::filesystem::path& dir);  // ca.pem or ca-key.pem present

    const std::filesystem::path& path() const noexcept { return dir_; }
    std::filesystem::path cert_path() const { return dir_ / "ca.pem"; }
    std::filesystem::path key_path() const { return dir_ / "ca-key.pem"; }
    std::filesystem::path chain_path() const { return dir_ / "chain.pem"; }
    std::filesystem::path root_path() const { return dir_ / "root.pem"; }
    std::filesystem::path root_key_path() const { return dir_ / "root-key.pem"; }
    std::filesystem::path policy_path() const { return dir_ / "policy.json"; }
    std::filesystem::path inventory_path() const { return dir_ / "inventory.db"; }
    std::filesystem::path publication_path() const { return dir_ / "publication.json"; }
    bool has_intermediate() const;  // root.pem present
    // What relying parties trust: root.pem with an intermediate, else ca.pem.
    std::filesystem::path trust_anchor_path() const;
    // The key PEM is "ENCRYPTED PRIVATE KEY" (or a legacy encrypted PEM).
    bool key_encrypted() const;

    // Loads ca.pem + ca-key.pem, and root.pem as the parent of an intermediate
    // (so Authority::intermediates() is the chain a leaf sends). A key that does
    // not match is Error(policy) "CA key <key> does not match <cert>"; a wrong or
    // missing passphrase is Error(passphrase).
    Authority authority(std::optional<std::string_view> passphrase = std::nullopt) const;
    // The same, loaded once per CaDirectory (the key decrypted once, the
    // passphrase asked only then) and shared by everything this object
    // signs afterwards: issue(), publish_crls(), a server's own use.
    // Error(passphrase) when the key is encrypted and no passphrase is given.
    std::shared_ptr<const Authority> loaded_authority(const std::function<std::string()>& passphrase = {});
    Policy policy() const;  // policy.json (read again when it changed)
    // publication.json (empty when absent), read again when the file changes.
    const Publication& publication();
    // Records where the CRLs are served (each URL checked first:
    // canonical_crl_url; a root_crl_url only for an --intermediate CA):
    // publication.json replaced atomically (0644), or removed for an empty
    // one. Leaves issued from then on carry crl_url; nothing issued changes.
    void set_publication(const Publication& publication);
    // Opened on first use (one connection per CaDirectory). A missing
    // inventory.db is Error(store): recreating it empty would forget every
    // revocation and restart the CRL numbers.
    Inventory& inventory();
    // Issues one leaf, the whole sequence, in this order: the names parsed
    // (and a CSR checked: signature, CA:TRUE, extensions beyond the profile);
    // the output files checked (none in the way unless overwrite, their
    // directory writable); the policy and the CA's name constraints; the key;
    // a serial drawn and checked unused in the inventory's transaction; the
    // leaf built (leaf_template) and signed; every output file written in
    // full under no name (so the directory is proven writable) before the
    // inventory commits; the files made durable (beside the commit) and only
    // then moved into place. A refused request or a failed write records
    // nothing: a certificate whose files could not be published is withdrawn
    // from the inventory again. Slow steps run beside each other inside the
    // call (loading the CA and making the key beside opening the inventory;
    // the files' fsync beside the commit), always in this order.
    // Errors: Error(invalid_argument | parse | policy | verify | exists | io |
    // passphrase | store), naming what was refused.
    Issued issue(const IssueRequest& request);
    // issue() on the CA in `dir`. With `create`, a CA is first made there with
    // the options it returns when there is none (what minica sign does on
    // first use in its default directory, as mkcert does), once the request
    // has passed the checks that need no CA (names, CSR, files): a refused
    // request creates nothing. Without, a missing CA is open()'s Error: a
    // directory someone named (perhaps mistyped) is never a new CA.
    static Issued issue_in(const std::filesystem::path& dir, const IssueRequest& request,
                           const std::function<InitOptions()>& create = {});
    // A new certificate with the names, profile and key type of one this CA
    // issued (a new key unless reuse_key), through issue(). Refuses a CA
    // certificate, one without names, one another CA issued, and a key.pem
    // that is not the certificate's key.
    Renewed renew(const RenewRequest& request);

    // verify_chain against this CA's trust anchor (its own intermediates
    // added to `untrusted`), then revocation for every certificate of the
    // chain but the root: the inventory is authoritative; the published CRLs
    // (crl.pem, root-crl.pem) are checked too, and one past its nextUpdate is
    // a warning, not a failure, since the inventory answered. options.crls
    // (a foreign CRL) are checked by OpenSSL as in verify_chain.
    VerifyResult verify(const Certificate& leaf, std::vector<Certificate> untrusted,
                        const VerifyOptions& options = {});

    // Records a revocation (what `minica crl` then publishes) of a
    // certificate this CA issued, by serial or by the certificate itself
    // (which must be signed by this CA or its root). Revoking is the CA
    // operator's act: the CA key is loaded (and its passphrase asked) first.
    // Error(not_found) for a serial or certificate this CA does not know,
    // Error(policy) when already revoked.
    InventoryRecord revoke(const std::variant<std::string, Certificate>& serial_or_certificate, RevocationReason reason,
                           const std::function<std::string()>& ca_passphrase = {});

    // Signs and writes the CRLs (CrlRequest): each from the inventory, with the
    // next CRL number; every path checked before anything is signed or
    // written; each written atomically. Error(exists) for a file in the way
    // that is not an earlier CRL of the same CA (unless overwrite),
    // Error(passphrase | policy | io | store).
    PublishedCrls publish_crls(const CrlRequest& request);

    // Closes the inventory connection now (SQLite checkpoints its WAL into
    // inventory.db and removes it) rather than when the CaDirectory goes; the
    // next inventory() opens it again. Every commit is durable before this:
    // it only tidies up, so a caller may run it beside other work.
    void close_inventory() noexcept;

private:
    explicit CaDirectory(std::filesystem::path dir);
    static CaDirectory init_locked(const std::filesystem::path& dir, const InitOptions& options,
                                   const std::filesystem::path& created_dir);
    struct Prepared;
    static std::unique_ptr<Prepared> prepare(const IssueRequest& request);
    Issued issue(const IssueRequest& request, Prepared& prepared, bool close_inventory_after);
    std::filesystem::path dir_;
    std::shared_ptr<Inventory> inventory_;
    std::shared_ptr<const Authority> authority_;  // loaded_authority(), or the first issue() or CRL
    std::optional<Publication> publication_;       // read by publication(), again when the file changes
    std::array<std::int64_t, 4> publication_stamp_{};  // its inode, size, mtime (s, ns); 0s: absent
    mutable std::optional<Policy> policy_;              // policy.json, read again when it changes
    mutable std::array<std::int64_t, 4> policy_stamp_{};
};

}  // namespace minica
