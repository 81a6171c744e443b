// The CA on disk (ca_directory.hpp): init / open / load, and issue().
#include "minica/ca_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <future>
#include <system_error>
#include <thread>
#include <utility>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "minica/detail/files.hpp"
#include "minica/detail/json.hpp"
#include "minica/error.hpp"
#include "minica/files.hpp"
#include "minica/log.hpp"
#include "minica/pkcs12.hpp"
#include "minica/text.hpp"

namespace fs = std::filesystem;

namespace minica {

using detail::path_exists;
using detail::random_suffix;
using detail::throw_io;

namespace {

constexpr const char* ca_files[] = {"ca.pem",       "ca-key.pem",  "chain.pem",   "root.pem",
                                    "root-key.pem", "policy.json", "inventory.db", "publication.json"};

// Removes, in reverse order, what init created, unless init completes.
class Undo {
public:
    ~Undo() {
        if (done_) return;
        for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
            std::error_code ec;
            fs::remove(*it, ec);
        }
        if (!created_dir_.empty()) {
            std::error_code ec;
            fs::remove_all(created_dir_, ec);
        }
    }
    void file(fs::path p) { files_.push_back(std::move(p)); }
    void dir(fs::path p) { created_dir_ = std::move(p); }
    void commit() { done_ = true; }

private:
    std::vector<fs::path> files_;
    fs::path created_dir_;
    bool done_ = false;
};

// mkdir -p with 0700 for what it creates; returns the topmost directory it
// created (empty if `dir` existed).
fs::path make_dirs(const fs::path& dir) {
    std::vector<fs::path> missing;
    fs::path p = dir;
    while (!p.empty()) {
        struct stat st;
        if (::stat(p.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) throw_io("creating", p, ENOTDIR);
            break;
        }
        if (errno != ENOENT) throw_io("creating", p, errno);
        missing.push_back(p);
        fs::path parent = p.parent_path();
        if (parent == p) break;
        p = parent;
    }
    fs::path topmost;
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        if (::mkdir(it->c_str(), 0700) != 0) {
            int err = errno;
            if (err == EEXIST) continue;  // created by someone else meanwhile: not ours
            if (!topmost.empty()) {
                std::error_code ec;
                fs::remove_all(topmost, ec);
            }
            throw_io("creating", *it, err);
        }
        // mkdir's mode is narrowed by the umask; a CA directory is 0700 exactly.
        ::chmod(it->c_str(), 0700);
        if (topmost.empty()) topmost = *it;
    }
    return topmost;
}

std::vector<Certificate> unique_append(std::vector<Certificate> to, const std::vector<Certificate>& from) {
    for (const auto& c : from) {
        bool seen = false;
        for (const auto& t : to) seen = seen || t == c;
        if (!seen) to.push_back(c);
    }
    return to;
}

}  // namespace

namespace {
// A publication's URLs in canonical form (canonical_crl_url), a root CRL URL
// only for an --intermediate CA in `dir`.
Publication checked(const Publication& p, bool intermediate, const fs::path& dir) {
    Publication out;
    if (!p.crl_url.empty()) out.crl_url = canonical_crl_url(p.crl_url);
    if (!p.root_crl_url.empty()) out.root_crl_url = canonical_crl_url(p.root_crl_url);
    if (!out.root_crl_url.empty() && !intermediate)
        throw Error(ErrorKind::invalid_argument,
                    "a root CRL URL is for an --intermediate CA's root CRL, and the CA in " + dir.string() +
                        " is a root (its CRL URL covers everything it issues)");
    return out;
}
}  // namespace

CaDirectory::CaDirectory(fs::path dir) : dir_(std::move(dir)) {}

bool CaDirectory::exists(const fs::path& dir) {
    return path_exists(dir / "ca.pem") || path_exists(dir / "ca-key.pem");
}

namespace {
std::string octal_mode(mode_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
    return buf;
}

// A CA whose directory others may write (they could swap ca.pem or the
// policy) or whose keys others may read is refused, with the command that
// fixes it, as ssh refuses a private key others can read.
void check_private(const fs::path& dir) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) throw_io("opening", dir, errno);
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
        throw Error(ErrorKind::policy, "the CA directory " + dir.string() + " is owned by another user (uid " +
                                           std::to_string(st.st_uid) + "): chown -R $(id -un) " + dir.string());
    if (st.st_mode & 022)
        throw Error(ErrorKind::policy, "the CA directory " + dir.string() + " is writable by group or others (mode " +
                                           octal_mode(st.st_mode) + "): chmod go-w " + dir.string());
    for (const char* name : {"ca-key.pem", "root-key.pem"}) {
        const fs::path key = dir / name;
        if (::stat(key.c_str(), &st) != 0) continue;
        if (st.st_mode & 077)
            throw Error(ErrorKind::policy, "the CA key " + key.string() + " is open to group or others (mode " +
                                               octal_mode(st.st_mode) + "): chmod 400 " + key.string());
    }
}
}  // namespace

CaDirectory CaDirectory::open(const fs::path& dir) {
    if (!path_exists(dir / "ca.pem"))
        throw Error(ErrorKind::not_found,
                    "no CA in " + dir.string() + ": create one with minica init --ca-dir " + dir.string());
    check_private(dir);
    return CaDirectory(dir);
}

namespace {
// Serialises CA creation in one directory across processes: flock(2) on the
// directory itself, which the kernel releases even when the holder is killed.
class DirLock {
public:
    explicit DirLock(const fs::path& dir) {
        fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_ < 0) throw_io("locking", dir, errno);
        while (::flock(fd_, LOCK_EX) != 0) {
            int err = errno;
            if (err == EINTR) continue;
            ::close(fd_);
            throw_io("locking", dir, err);
        }
    }
    ~DirLock() { ::close(fd_); }
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

private:
    int fd_ = -1;
};
}  // namespace

namespace {
// CA files without ca.pem are what an init killed midway leaves (ca.pem is
// written last, so nothing was ever issued under them), with perhaps the
// inventory it was building under a temporary name. Called with the
// directory locked and no ca.pem: moves them into interrupted-init-<time>-<random>/,
// never deletes (nothing is lost), and the directory is usable again.
void set_aside_interrupted_init(const fs::path& dir) {
    std::vector<fs::path> leftovers;
    for (const char* name : ca_files)
        if (path_exists(dir / name)) leftovers.push_back(dir / name);
    for (const char* name : {"inventory.db-wal", "inventory.db-shm", "inventory.db-journal"})
        if (path_exists(dir / name)) leftovers.push_back(dir / name);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        std::string name = entry.path().filename().string();
        if (name.rfind(".inventory.db.tmp-", 0) == 0) leftovers.push_back(entry.path());
    }
    if (leftovers.empty()) return;
    fs::path aside;
    for (int attempt = 0;; ++attempt) {
        aside = dir / ("interrupted-init-" + std::to_string(now().time_since_epoch().count()) + "-" + random_suffix());
        if (::mkdir(aside.c_str(), 0700) == 0) break;
        if (errno != EEXIST || attempt == 8) throw_io("creating", aside, errno);
    }
    for (auto& p : leftovers) fs::rename(p, aside / p.filename());
    logger()->warn("{} held an interrupted CA creation; its files were moved to {}", dir.string(), aside.string());
}
}  // namespace

CaDirectory CaDirectory::init(const fs::path& dir, const InitOptions& options) {
    fs::path created = make_dirs(dir);
    try {
        DirLock lock(dir);
        return init_locked(dir, options, {});
    } catch (...) {
        // Remove the directories made here only while they are empty: another
        // process may have won the lock and made its CA in them meanwhile.
        if (!created.empty())
            for (fs::path p = dir; ::rmdir(p.c_str()) == 0 && p != created; p = p.parent_path()) {
            }
        throw;
    }
}

CaDirectory CaDirectory::open_or_init(const fs::path& dir, const InitOptions& options, bool& created) {
    created = false;
    if (path_exists(dir / "ca.pem")) return open(dir);
    make_dirs(dir);
    DirLock lock(dir);  // another process may be creating it right now: wait for it
    if (path_exists(dir / "ca.pem")) return open(dir);
    set_aside_interrupted_init(dir);
    created = true;
    return init_locked(dir, options, {});
}

CaDirectory CaDirectory::init_locked(const fs::path& dir, const InitOptions& options, const fs::path& created_dir) {
    if (exists(dir)) throw Error(ErrorKind::exists, "a CA already exists in " + dir.string());
    for (const char* name : ca_files) {
        fs::path p = dir / name;
        if (path_exists(p)) throw Error(ErrorKind::exists, p.string() + " already exists");
    }

    // Sign everything before touching the disk: a refused option (bad name
    // constraint, unsupported key) leaves nothing behind at all.
    std::optional<Authority> root;
    std::optional<Authority> issuing;
    if (options.intermediate) {
        CaOptions ro;
        if (options.root) {
            ro = *options.root;
        } else {
            ro.subject = options.ca.subject;
            ro.subject.common_name += " Root";
            ro.key_type = options.ca.key_type;
            ro.validity = default_root_validity;
            ro.now = options.ca.now;
        }
        // The root is what `minica trust` installs: without constraints of
        // its own it carries the intermediate's, or the machine would trust
        // it for every name whatever the intermediate says.
        if (ro.constraints.empty()) ro.constraints = options.ca.constraints;
        root.emplace(Authority::create_root(ro));
        CaOptions io = options.ca;
        if (!io.path_len) io.path_len = 0;
        if (io.validity == default_root_validity) io.validity = default_intermediate_validity;
        if (!options.publication.root_crl_url.empty()) io.crl_urls = {options.publication.root_crl_url};
        issuing.emplace(root->create_intermediate(io));
    } else {
        issuing.emplace(Authority::create_root(options.ca));
    }
    const std::string policy_json = options.policy.to_json();
    const Publication publication = checked(options.publication, options.intermediate, dir);

    Undo undo;
    undo.dir(created_dir);
    CaDirectory ca(dir);
    auto write = [&](const fs::path& p, const std::string& content, unsigned mode) {
        write_file_atomic(p, content, mode);
        undo.file(p);
    };
    auto key_pem = [&](const PrivateKey& k) {
        if (options.passphrase) return k.to_pem(std::string_view(*options.passphrase));
        return k.to_pem();
    };

    if (root) {
        write(ca.root_key_path(), key_pem(root->key()), 0400);
        write(ca.root_path(), root->certificate().to_pem(), 0644);
        write(ca.chain_path(), to_pem(issuing->intermediates()), 0644);
    }
    write(ca.policy_path(), policy_json, 0644);
    if (!publication.empty()) write(ca.publication_path(), publication.to_json(), 0644);
    {
        // create_sqlite_inventory refuses an inventory.db that appeared meanwhile
        // (Error(exists)), so what undo removes is always ours.
        auto inv = create_sqlite_inventory(ca.inventory_path());
        undo.file(ca.inventory_path());
        if (root) inv->import({InventoryRecord::from_certificate(issuing->certificate(), Profile::ca)});
    }
    write(ca.key_path(), key_pem(issuing->key()), 0400);
    // ca.pem last: its presence is what makes the directory a CA.
    write(ca.cert_path(), issuing->certificate().to_pem(), 0644);
    undo.commit();
    logger()->info("created {} CA in {}", root ? "intermediate" : "root", dir.string());
    return ca;
}

bool CaDirectory::has_intermediate() const { return path_exists(root_path()); }

fs::path CaDirectory::trust_anchor_path() const { return has_intermediate() ? root_path() : cert_path(); }

namespace {
// The CA passphrase, asked at most once and only when a key needs it,
// wiped when the call that asked is done.
class AskedPassphrase {
public:
    explicit AskedPassphrase(const std::function<std::string()>& ask) : ask_(ask) {}
    AskedPassphrase(const AskedPassphrase&) = delete;
    AskedPassphrase& operator=(const AskedPassphrase&) = delete;
    ~AskedPassphrase() {
        if (value_) OPENSSL_cleanse(value_->data(), value_->size());
    }
    // For a key that is encrypted or not.
    std::optional<std::string_view> operator()(bool encrypted) {
        if (!encrypted) return std::nullopt;
        if (!value_) {
            if (!ask_) throw Error(ErrorKind::passphrase, "the CA key is encrypted and no passphrase was given");
            value_ = ask_();
        }
        return std::string_view(*value_);
    }

private:
    const std::function<std::string()>& ask_;
    std::optional<std::string> value_;
};

bool pem_key_encrypted(const fs::path& key) {
    const std::string pem = read_file(key);
    return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
           pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
}
}  // namespace

bool CaDirectory::key_encrypted() const { return pem_key_encrypted(key_path()); }

VerifyResult CaDirectory::verify(const Certificate& leaf, std::vector<Certificate> untrusted,
                                 const VerifyOptions& options) {
    std::vector<Certificate> roots = Certificate::load_chain(trust_anchor_path());
    if (has_intermediate())
        for (auto& c : Certificate::load_chain(chain_path())) untrusted.push_back(std::move(c));
    VerifyResult r = verify_chain(leaf, untrusted, roots, options);
    if (!r.ok) return r;
    auto fail = [&](Revocation rev, std::size_t depth) {
        r.ok = false;
        r.reason = describe(rev) + " at depth " + std::to_string(depth) + " (" + r.chain[depth].subject() + ")";
        r.revoked = std::move(rev);
        r.chain.clear();
        return r;
    };
    // The inventory first: it knows a revocation before any CRL is published.
    for (std::size_t i = 0; i + 1 < r.chain.size(); ++i) {
        const Certificate& c = r.chain[i];
        auto rec = inventory().find(c.serial_hex());
        if (rec && rec->status == CertStatus::revoked && rec->fingerprint_sha256 == c.fingerprint_sha256())
            return fail({rec->serial_hex, rec->revoked_at.value_or(Time{}),
                         std::string(to_string(rec->reason.value_or(RevocationReason::unspecified))),
                         "the inventory " + inventory_path().string()},
                        i);
    }
    // Then what relying parties see: each published CRL, by its issuer.
    const Time at = options.at.value_or(now());
    for (const fs::path& file : {dir_ / "crl.pem", dir_ / "root-crl.pem"}) {
        if (!path_exists(file)) continue;
        Crl crl = Crl::load(file);
        for (std::size_t i = 0; i + 1 < r.chain.size(); ++i) {
            const Certificate& c = r.chain[i];
            if (!crl.signed_by(r.chain[i + 1]) || c.issuer() != crl.issuer()) continue;
            if (crl.is_revoked(c.serial_hex()))
                for (const auto& e : crl.entries())
                    if (e.serial_hex == c.serial_hex())
                        return fail({e.serial_hex, e.revoked_at, std::string(to_string(e.reason)), file.string()}, i);
            if (crl.next_update() < at)
                r.warnings.push_back("the published CRL " + file.string() + " expired on " +
                                     format_time(crl.next_update()) +
                                     " (the inventory answered; publish a new one with minica crl)");
        }
    }
    return r;
}

InventoryRecord CaDirectory::revoke(const std::variant<std::string, Certificate>& target, RevocationReason reason,
                                    const std::function<std::string()>& ca_passphrase) {
    AskedPassphrase passphrase(ca_passphrase);
    std::optional<Authority> ca(authority(passphrase(key_encrypted())));
    std::string serial;
    if (const auto* cert = std::get_if<Certificate>(&target)) {
        bool ours = cert->signed_by(ca->certificate());
        for (const auto& p : ca->parents()) ours = ours || cert->signed_by(p);
        if (!ours) throw Error(ErrorKind::not_found, "not issued by the CA in " + dir_.string());
        serial = cert->serial_hex();
    } else {
        serial = normalize_serial_hex(std::get<std::string>(target));
    }
    return inventory().revoke(serial, reason);
}


PublishedCrls CaDirectory::publish_crls(const CrlRequest& r) {
    const Certificate issuing = Certificate::load_chain(cert_path()).front();
    const fs::path out = r.out.value_or(dir_ / "crl.pem");
    const bool two = has_intermediate() && r.include_root;
    std::optional<Certificate> root;
    fs::path root_out, root_key;
    std::string root_skipped;
    if (two) {
        root = Certificate::load_chain(root_path()).front();
        root_out = r.root_out.value_or(dir_ / "root-crl.pem");
        root_key = r.root_key.value_or(root_key_path());
        if (!r.root_key && !path_exists(root_key)) {
            root_skipped = "the root key is not in " + dir_.string() +
                           " (revoked intermediates go on the root's CRL: minica crl --root-key FILE where it is)";
            root.reset();
        }
    }
    // A file in the way is replaced only when it is an earlier CRL of the
    // same CA (or with overwrite); decided for every path before any signing.
    auto replaceable = [&](const fs::path& path, const Certificate& ca) {
        if (r.overwrite) return true;
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0) return false;  // nothing there
        bool ours = false;
        if (S_ISREG(st.st_mode)) try {
                ours = Crl::load(path).signed_by(ca);
            } catch (const Error&) {
            }
        if (!ours)
            throw Error(ErrorKind::exists, path.string() + " already exists and is not an earlier CRL of " +
                                               quote(ca.subject()) + " (--force replaces it)");
        return true;
    };
    std::optional<Publication> publication;
    if (r.publication) publication = checked(*r.publication, two, dir_);
    const bool replace = replaceable(out, issuing);
    const bool replace_root = root && replaceable(root_out, *root);
    check_writable({out}, replace);
    if (root) check_writable({root_out}, replace_root);

    AskedPassphrase passphrase(r.ca_passphrase);
    const Authority& ca = *loaded_authority([&] { return std::string(*passphrase(true)); });
    std::optional<Authority> root_ca;
    if (root) {
        PrivateKey key = PrivateKey::load(root_key, passphrase(pem_key_encrypted(root_key)));
        if (!root->matches(key))
            throw Error(ErrorKind::policy, "root key " + root_key.string() + " does not match " + root_path().string());
        root_ca.emplace(*root, std::move(key));
    }

    auto publish = [&](const Authority& signer, Inventory::CrlScope scope, const fs::path& path, bool overwrite,
                       const char* label) {
        auto entries = inventory().revoked(scope);
        CrlOptions opts{.number = inventory().next_crl_number(), .validity = r.validity};
        PublishedCrl p{Crl::build(signer, entries, opts), entries.size(), {path, label}};
        write_file_atomic(path, p.crl.to_pem(), 0644, overwrite);
        return p;
    };
    PublishedCrls result{publish(ca, Inventory::CrlScope::leaves, out, replace, "CRL"), std::nullopt,
                         std::move(root_skipped)};
    if (root_ca) result.root = publish(*root_ca, Inventory::CrlScope::intermediates, root_out, replace_root, "root CRL");
    if (publication) set_publication(*publication);
    return result;
}

Authority CaDirectory::authority(std::optional<std::string_view> passphrase) const {
    const fs::path cert_file = cert_path();
    const fs::path key_file = key_path();
    // ca.pem may carry its parents after it (Authority::load's format).
    std::vector<Certificate> certs = Certificate::load_chain(cert_file);
    Certificate cert = certs.front();
    std::vector<Certificate> parents(certs.begin() + 1, certs.end());
    if (has_intermediate()) parents = unique_append(std::move(parents), Certificate::load_chain(root_path()));

    PrivateKey key = PrivateKey::load(key_file, passphrase);
    if (!cert.matches(key))
        throw Error(ErrorKind::policy,
                    "CA key " + key_file.string() + " does not match " + cert_file.string());
    if (!parents.empty() && !cert.signed_by(parents.front()))
        throw Error(ErrorKind::verify, cert_file.string() + " is not signed by " +
                                           (has_intermediate() ? root_path() : cert_file).string());
    try {
        return Authority(std::move(cert), std::move(key), std::move(parents));
    } catch (const Error& e) {
        throw Error(e.kind(), cert_file.string() + ": " + e.what(), e.openssl_queue());
    }
}

std::shared_ptr<const Authority> CaDirectory::loaded_authority(const std::function<std::string()>& passphrase) {
    if (authority_) return authority_;
    if (!key_encrypted()) return authority_ = std::make_shared<const Authority>(authority());
    if (!passphrase)
        throw Error(ErrorKind::passphrase, key_path().string() + " is encrypted and no passphrase was given");
    std::string pass = passphrase();
    try {
        authority_ = std::make_shared<const Authority>(authority(pass));
    } catch (...) {
        OPENSSL_cleanse(pass.data(), pass.size());
        throw;
    }
    OPENSSL_cleanse(pass.data(), pass.size());
    return authority_;
}

namespace {
// What says a file changed: its inode, size and mtime (s, ns); all 0 when absent.
std::array<std::int64_t, 4> file_stamp(const fs::path& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return {};
    return {static_cast<std::int64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
            static_cast<std::int64_t>(st.st_mtim.tv_sec), static_cast<std::int64_t>(st.st_mtim.tv_nsec)};
}
}  // namespace

// Read again only when the file changed: a server asks for it per request.
Policy CaDirectory::policy() const {
    const fs::path p = policy_path();
    const auto stamp = file_stamp(p);
    if (!policy_ || stamp != policy_stamp_ || stamp[0] == 0) {
        policy_ = Policy::load(p);
        policy_stamp_ = stamp;
    }
    return *policy_;
}

// ---- publication -----------------------------------------------------------------

std::string Publication::to_json() const {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    if (!crl_url.empty()) j["crl_url"] = crl_url;
    if (!root_crl_url.empty()) j["root_crl_url"] = root_crl_url;
    return j.dump(2) + "\n";
}

Publication Publication::from_json(std::string_view json, std::string_view source) {
    auto bad = [&](const std::string& why) -> void {
        throw Error(ErrorKind::parse, std::string(source) + ": " + why);
    };
    nlohmann::json j;
    try {
        j = detail::parse_json(json);
    } catch (const Error& e) {
        bad(e.what());
    }
    if (!j.is_object()) bad(std::string("the top level must be an object, not ") + j.type_name());
    Publication p;
    for (const auto& [key, value] : j.items()) {
        std::string* field = key == "crl_url" ? &p.crl_url : key == "root_crl_url" ? &p.root_crl_url : nullptr;
        if (!field) bad("unknown key \"" + key + "\" (crl_url, root_crl_url)");
        if (!value.is_string()) bad("\"" + key + "\" must be a string");
        try {
            *field = canonical_crl_url(value.get<std::string>());
        } catch (const Error& e) {
            bad("\"" + key + "\": " + e.what());
        }
    }
    return p;
}


const Publication& CaDirectory::publication() {
    // Read again when the file changed (inode, size, mtime): a long-running
    // server sees `minica crl --url` made meanwhile, for one stat() per issue.
    const fs::path p = publication_path();
    const auto stamp = file_stamp(p);
    if (!publication_ || stamp != publication_stamp_) {
        publication_ = stamp[0] != 0 ? Publication::from_json(read_file(p, "publication"), p.string()) : Publication{};
        publication_stamp_ = stamp;
    }
    return *publication_;
}

void CaDirectory::set_publication(const Publication& publication) {
    Publication p = checked(publication, has_intermediate(), dir_);
    const fs::path path = publication_path();
    if (p.empty()) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_io("removing", path, errno);
    } else {
        write_file_atomic(path, p.to_json(), 0644, true);
    }
    publication_ = std::move(p);
}

Inventory& CaDirectory::inventory() {
    if (!inventory_) {
        const fs::path p = inventory_path();
        if (!path_exists(p))
            throw Error(ErrorKind::store,
                        "inventory " + p.string() +
                            ": missing (the record of every certificate this CA issued and revoked; "
                            "restore it from a backup)");
        inventory_ = open_sqlite_inventory(p);
    }
    return *inventory_;
}

void CaDirectory::close_inventory() noexcept { inventory_.reset(); }

// ---- issuing ---------------------------------------------------------------------

namespace {

// Runs `side` on a second thread while `here` runs on this one (one after
// the other when no thread can be had): most of an issue is set-up that does
// not depend on itself. Rethrows the failure the sequential order would have
// met first: side's, then here's.
void beside(const std::function<void()>& side, const std::function<void()>& here) {
    std::exception_ptr side_failed, here_failed;
    auto run = [](const std::function<void()>& f, std::exception_ptr& failed) {
        try {
            f();
        } catch (...) {
            failed = std::current_exception();
        }
    };
    {
        std::jthread t;
        try {
            t = std::jthread([&] { run(side, side_failed); });
        } catch (const std::system_error&) {
            run(side, side_failed);
        }
        run(here, here_failed);
    }  // joined
    if (side_failed) std::rethrow_exception(side_failed);
    if (here_failed) std::rethrow_exception(here_failed);
}

}  // namespace

namespace detail {
// A passphrase, wiped from memory when it goes.
struct Secret {
    std::string value;
    Secret() = default;
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    ~Secret() { OPENSSL_cleanse(value.data(), value.size()); }
};

struct OutFile {
    fs::path path;
    unsigned mode;
    std::string label;
    std::string content;
};
}  // namespace detail
using detail::OutFile;
using detail::Secret;

// What issue() learns from the request before it touches the CA: the names,
// the key type, the files (checked: none in the way, directories writable)
// and the PKCS#12 passphrase.
struct CaDirectory::Prepared {
    SubjectAltNames names;
    Profile profile = Profile::server;
    std::string first;
    KeyType key_type = KeyType::ec_p256;
    std::vector<OutFile> out;
    Secret p12_pass;
};

std::unique_ptr<CaDirectory::Prepared> CaDirectory::prepare(const IssueRequest& r) {
    if (r.profile) usage_of(*r.profile);  // a leaf profile, never ca
    if (r.key && r.csr) throw Error(ErrorKind::invalid_argument, "issuing: a key and a CSR are two keys; give one");
    if (r.also && r.files)
        throw Error(ErrorKind::invalid_argument, "issuing: output files and rows recorded with the certificate exclude each other");
    auto p = std::make_unique<Prepared>();

    // The names, and what a CSR asks for.
    if (!r.names.empty()) {
        p->names = parse_identities(r.names);
        p->first = parse_identity(r.names.front()).value;
    }
    p->key_type = r.key ? r.key->type() : r.key_type;
    if (r.csr) {
        p->key_type = request_key_type(*r.csr);
        if (p->names.empty()) {
            p->names = r.csr->names();
            p->first = p->names.primary();
        }
        if (p->names.empty())
            throw Error(ErrorKind::invalid_argument, "the certificate request names no subject alternative names (give names)");
    }
    if (p->names.empty()) throw Error(ErrorKind::invalid_argument, "a certificate needs at least one name");
    p->profile = r.profile.value_or(default_profile(p->names));
    check_profile_fits(p->profile, p->names);
    if (r.csr) check_request(*r.csr, p->profile);

    // The files: nothing in the way, before any work (or any prompt).
    if (r.files) {
        const fs::path dir = r.files->name_subdirectory ? r.files->directory / file_name_for(p->first) : r.files->directory;
        auto& out = p->out;
        out.push_back({dir / "cert.pem", 0644, "certificate", {}});
        if (r.files->key && !r.csr) out.push_back({dir / "key.pem", 0600, "key", {}});
        out.push_back({dir / "chain.pem", 0644, "chain", {}});
        out.push_back({dir / "fullchain.pem", 0644, "full chain", {}});
        if (r.files->p12_passphrase) {
            if (r.csr) throw Error(ErrorKind::invalid_argument, "issuing: a PKCS#12 file needs the key, and a CSR has none here");
            out.push_back({dir / "cert.p12", 0600, "PKCS#12", {}});
        }
        std::vector<fs::path> paths;
        for (const auto& f : out) paths.push_back(f.path);
        check_writable(paths, r.files->overwrite);
        if (r.files->p12_passphrase) p->p12_pass.value = r.files->p12_passphrase();
    }
    return p;
}

Issued CaDirectory::issue(const IssueRequest& request) {
    auto prepared = prepare(request);
    return issue(request, *prepared, !inventory_);
}

Issued CaDirectory::issue_in(const fs::path& dir, const IssueRequest& request,
                             const std::function<InitOptions()>& create) {
    auto prepared = prepare(request);
    bool created = false;
    CaDirectory ca = create && !path_exists(dir / "ca.pem") ? open_or_init(dir, create(), created) : open(dir);
    Issued issued = ca.issue(request, *prepared, true);
    issued.created_ca = created;
    return issued;
}

Issued CaDirectory::issue(const IssueRequest& r, Prepared& p, bool close_inventory_after) {
    const SubjectAltNames& names = p.names;
    const std::string& first = p.first;
    const KeyType key_type = p.key_type;
    auto& out = p.out;
    auto& p12_pass = p.p12_pass;

    // The policy, before any key is made.
    const Policy policy = this->policy();
    const std::chrono::days days = r.validity.value_or(std::min(default_leaf_validity, policy.max_validity));
    try {
        policy.check(names, key_type, p.profile, days);
    } catch (const Error& e) {
        throw Error(e.kind(), policy_path().string() + ": " + e.what());  // which file to edit
    }
    Secret ca_pass;
    const bool need_pass = !authority_ && key_encrypted();
    if (need_pass) {
        if (!r.ca_passphrase)
            throw Error(ErrorKind::passphrase, key_path().string() + " is encrypted and no passphrase was given");
        ca_pass.value = r.ca_passphrase();  // on this thread: it may prompt
    }

    // The CA loaded and the key made beside the inventory's opening; with
    // the inventory open already, there is nothing to do beside them.
    std::optional<PrivateKey> key = r.key;
    auto side = [&] {
        loaded_authority([&] { return ca_pass.value; })->check_names(names);
        if (!r.csr && !key) key = PrivateKey::generate(key_type);
    };
    if (inventory_) {
        side();
    } else {
        beside(side, [&] { inventory(); });
    }
    const Authority& ca = *authority_;
    const std::vector<Certificate> intermediates = ca.intermediates();
    const std::string spki = r.csr ? r.csr->public_key_der() : key->public_key_der();
    // An intermediate this CA holds and has revoked signs nothing more.
    if (!intermediates.empty())
        if (auto rec = inventory_->find(ca.certificate().serial_hex()); rec && rec->status == CertStatus::revoked)
            throw Error(ErrorKind::policy, "the issuing intermediate " + quote(ca.certificate().subject()) + " (" +
                                               rec->serial_hex + ") was revoked on " +
                                               format_time(rec->revoked_at.value_or(Time{})) +
                                               ": this CA issues nothing under it; make a new CA");
    // A key revoked for keyCompromise never comes back (a CSR, a renewal that
    // keeps its key); a new key cannot have been.
    if (r.csr || r.key)
        if (auto serial = inventory_->compromised_key(spki))
            throw Error(ErrorKind::policy, "the key was revoked for keyCompromise (certificate " + *serial +
                                               "): this CA never certifies it again; make a new key");
    // A root-direct leaf has no chain.pem: there is nothing to put in it.
    if (intermediates.empty())
        std::erase_if(out, [](const OutFile& f) { return f.label == "chain"; });
    LeafSpec spec{.names = names, .profile = p.profile, .key_type = key_type, .validity = days, .now = now()};
    if (const Publication& pub = publication(); !pub.crl_url.empty()) spec.crl_urls = {pub.crl_url};

    // Signed under the serial the inventory drew; the files written (under
    // no name) before it commits, and fsynced beside the commit.
    std::optional<StagedFiles> staged;
    std::future<void> syncing;  // after `staged`: waited for before the files are rolled back
    auto build = [&](const std::string& serial) {
        spec.serial = serial;
        Certificate cert = ca.sign_template(leaf_template(spec, ca.certificate().not_after()), spki);
        if (out.empty()) return cert;
        std::size_t i = 0;
        out[i++].content = cert.to_pem();
        if (out[i].label == "key") out[i++].content = key->to_pem();
        if (out[i].label == "chain") out[i++].content = chain_pem(intermediates);
        out[i++].content = fullchain_pem(cert, intermediates);
        if (i < out.size()) out[i].content = to_pkcs12(cert, *key, intermediates, p12_pass.value, first);
        std::vector<FileToWrite> files;
        for (const auto& f : out) files.push_back({f.path, f.content, f.mode});
        staged.emplace(files, r.files->overwrite, true);
        for (auto& f : out) OPENSSL_cleanse(f.content.data(), f.content.size());
        try {
            syncing = std::async(std::launch::async, [&] { staged->sync(); });
        } catch (const std::system_error&) {
            staged->sync();  // no thread to be had: before the commit
        }
        return cert;
    };
    std::function<void(const Certificate&)> also;
    if (r.also) also = [&](const Certificate& c) { r.also(*inventory_, c); };
    Certificate cert = inventory_->issue(p.profile, build, also);

    // Moved into place once both are durable; a certificate whose files
    // could not be published is withdrawn: nobody received it.
    try {
        if (syncing.valid()) syncing.get();
        if (staged && close_inventory_after) {
            // Closing the inventory (a checkpoint) only tidies up: beside the renames.
            beside([&] { close_inventory(); }, [&] { staged->publish(); });
        } else {
            if (staged) staged->publish();
            if (close_inventory_after) close_inventory();
        }
    } catch (const Error& e) {
        try {
            inventory().withdraw(cert.serial_hex());
        } catch (const Error& w) {
            throw Error(e.kind(), std::string(e.what()) + " (certificate " + cert.serial_hex() +
                                      " is recorded but was not written, and withdrawing it failed: " + w.what() +
                                      "; minica revoke it)", e.openssl_queue());
        }
        throw Error(e.kind(), std::string(e.what()) + " (nothing was issued)", e.openssl_queue());
    }

    Issued issued{cert, key, p.profile, ca.certificate(), intermediates, {}};
    for (const auto& f : out) issued.files.push_back({f.path, f.label});
    return issued;
}

Renewed CaDirectory::renew(const RenewRequest& r) {
    const bool close_after = !inventory_;
    const std::string context = "renewing " + r.certificate.string();
    const fs::path old_dir = r.certificate.parent_path().empty() ? fs::path(".") : r.certificate.parent_path();
    Certificate old = Certificate::load(r.certificate);
    if (old.is_ca())
        throw Error(ErrorKind::invalid_argument, context + ": it is a CA certificate (renew renews leaves; minica init makes CAs)");
    const SubjectAltNames names = old.names();
    if (names.empty()) throw Error(ErrorKind::invalid_argument, context + ": it has no subject alternative names");
    const std::optional<KeyType> key_type = old.key_type();
    if (!key_type)
        throw Error(ErrorKind::invalid_argument, context + ": its key (" + old.key_name() + ") is not a key type minica makes");
    std::optional<PrivateKey> reused;
    if (r.reuse_key) {
        struct stat st;
        if (::stat((old_dir / "key.pem").c_str(), &st) == 0 && (st.st_mode & 077))
            throw Error(ErrorKind::policy, context + ": " + (old_dir / "key.pem").string() +
                                               " is open to group or others (mode " + octal_mode(st.st_mode) +
                                               "): chmod 600 " + (old_dir / "key.pem").string());
        reused = PrivateKey::load(old_dir / "key.pem");
        if (!old.matches(*reused))
            throw Error(ErrorKind::invalid_argument, context + ": " + (old_dir / "key.pem").string() + " is not its key");
    }
    if (!old.signed_by(Certificate::load(cert_path())))
        throw Error(ErrorKind::not_found, context + ": not issued by the CA in " + dir_.string());

    // The profile recorded at issue; else what the EKU says. A revoked
    // certificate is not renewed (its renewal would outlive the revocation).
    Profile profile = Profile::server;
    auto record = inventory().find(old.serial_hex());
    if (record && record->status == CertStatus::revoked)
        throw Error(ErrorKind::policy, context + ": certificate " + record->serial_hex + " was revoked on " +
                                           format_time(*record->revoked_at) + " (" +
                                           std::string(to_string(*record->reason)) +
                                           "); a revoked certificate is not renewed (minica sign issues a new one)");
    if (record && record->profile != Profile::ca) {
        profile = record->profile;
    } else {
        auto eku = old.extended_key_usage();
        auto has = [&](std::string_view u) { return std::find(eku.begin(), eku.end(), u) != eku.end(); };
        profile = profile_of_usages(has("serverAuth"), has("clientAuth"), has("emailProtection"));
    }

    std::string base = old_dir.filename().string();
    if (base.empty() || base == "." || base == "..") base = file_name_for(names.primary());
    const bool same_dir = !r.out;
    IssueRequest req{.names = names.all(),
                     .profile = profile,
                     .validity = r.validity,
                     .key_type = *key_type,
                     .key = reused,
                     .ca_passphrase = r.ca_passphrase,
                     .files = OutputFiles{.directory = same_dir ? old_dir : *r.out / base,
                                          .key = !(reused && same_dir),
                                          .overwrite = r.overwrite}};
    auto prepared = prepare(req);
    Issued issued = issue(req, *prepared, close_after);
    if (reused)
        for (auto& f : issued.files)
            if (f.label == "key") f.label = "key (same)";
    return {std::move(issued), std::move(old), profile};
}

}  // namespace minica
