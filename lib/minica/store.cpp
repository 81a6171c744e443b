// The CA directory on disk: atomic file writes, the inventory record's JSON
// view, and CaDirectory (init / open / load).
#include "minica/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <system_error>

#include <nlohmann/json.hpp>

#include "minica/error.hpp"
#include "minica/log.hpp"

#include <spdlog/spdlog.h>

namespace fs = std::filesystem;

namespace minica {

namespace {

std::string errno_text(int err) { return std::generic_category().message(err); }

[[noreturn]] void throw_io(std::string_view verb, const fs::path& path, int err) {
    throw Error(ErrorKind::io, std::string(verb) + " " + path.string() + ": " + errno_text(err));
}

// Closes a file descriptor on scope exit.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                            (static_cast<std::uint64_t>(::getpid()) << 32)};
    static constexpr char digits[] = "0123456789abcdef";
    std::uint64_t v = rng();
    std::string out(12, '0');
    for (auto& c : out) {
        c = digits[v & 15];
        v >>= 4;
    }
    return out;
}

fs::path parent_dir(const fs::path& path) {
    fs::path dir = path.parent_path();
    return dir.empty() ? fs::path(".") : dir;
}

void fsync_dir(const fs::path& dir, const fs::path& for_path) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_io("writing", for_path, errno);
    Fd guard(fd);
    // Some file systems cannot fsync a directory (EINVAL); the rename is then
    // as durable as that file system makes it.
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) throw_io("writing", for_path, errno);
}

bool path_exists(const fs::path& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

namespace detail {
// Moves `tmp` to `path` unless `path` exists (even as a dangling symlink).
// Returns false when it exists; throws Error(io) on other failures. Used by
// write_file_atomic and by the inventory to publish a freshly built database.
bool publish_noreplace(const fs::path& tmp, const fs::path& path);
std::unique_ptr<Inventory> create_sqlite_inventory(const fs::path& path);  // inventory_sqlite.cpp
bool publish_noreplace(const fs::path& tmp, const fs::path& path) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return true;
    int err = errno;
    if (err == EEXIST) return false;
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP) throw_io("writing", path, err);
    // The file system does not know RENAME_NOREPLACE: link() never replaces either.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
        err = errno;
        if (err == EEXIST) return false;
        throw_io("writing", path, err);
    }
    ::unlink(tmp.c_str());
    return true;
}
}  // namespace detail

namespace {
// Sets the mode (exact, whatever the umask) and writes all of `content`.
void fill(int fd, std::string_view content, unsigned mode, const fs::path& path) {
    if (::fchmod(fd, static_cast<mode_t>(mode & 07777)) != 0) throw_io("writing", path, errno);
    const char* p = content.data();
    std::size_t left = content.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_io("writing", path, errno);
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}
}  // namespace

// The preferred way is an unnamed file (O_TMPFILE) that gets its name only
// once it is complete and on disk, so a process killed at any moment leaves
// no file at all behind, not even a temporary one; a named temporary where
// the file system (or a missing /proc) does not allow it.
StagedFiles::StagedFiles(const std::vector<FileToWrite>& files, bool overwrite, bool create_dirs)
    : overwrite_(overwrite) {
    auto add_dir = [&](const fs::path& d) {
        if (std::find(dirs_.begin(), dirs_.end(), d) == dirs_.end()) dirs_.push_back(d);
    };
    try {
        for (const auto& f : files) {
            const std::string base = f.path.filename().string();
            if (base.empty() || base == "." || base == "..") throw_io("writing", f.path, EISDIR);
            if (!overwrite && path_exists(f.path)) throw Error(ErrorKind::exists, f.path.string() + " already exists");
            paths_.push_back(f.path);
            const fs::path dir = parent_dir(f.path);
            if (create_dirs) {
                std::vector<fs::path> missing;
                for (fs::path p = dir; !p.empty() && !path_exists(p); p = p.parent_path()) {
                    missing.push_back(p);
                    if (p.parent_path() == p) break;
                }
                for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
                    if (::mkdir(it->c_str(), 0755) != 0) {
                        if (errno == EEXIST) continue;
                        throw_io("creating", *it, errno);
                    }
                    made_dirs_.push_back(*it);
                    add_dir(parent_dir(*it));
                }
            }
            add_dir(dir);
        }
        const bool proc = path_exists("/proc/self/fd");  // linkat of an unnamed file goes through it
        for (const auto& f : files) {
            const fs::path dir = parent_dir(f.path);
            int fd = proc ? ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
            if (fd < 0 && proc && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                throw_io("writing", f.path, errno);
            temps_.emplace_back();
            for (int attempt = 0; fd < 0 && attempt < 16; ++attempt) {
                fs::path tmp = dir / ("." + f.path.filename().string() + ".tmp-" + random_suffix());
                fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0 && errno != EEXIST) throw_io("writing", f.path, errno);
                if (fd >= 0) temps_.back() = tmp;
            }
            if (fd < 0) throw_io("writing", f.path, EEXIST);
            fds_.push_back(fd);
            fill(fd, f.content, f.mode, f.path);
        }
        // Every file's data goes to the disk at once (sync_file_range starts
        // the writeback without waiting), then each is fsynced: the first
        // fsync's journal commit covers them all and the block layer merges the
        // writes, so the others return almost at once; faster here than one
        // fsync after another, and than a thread per fsync (which minica did
        // before), with less CPU.
        for (int fd : fds_) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        for (std::size_t i = 0; i < fds_.size(); ++i) {
            if (::fsync(fds_[i]) != 0) throw_io("writing", files[i].path, errno);
            // A named temporary is complete: closed now. An unnamed one keeps
            // its descriptor, its only handle until publish() links it.
            if (!temps_[i].empty() && ::close(std::exchange(fds_[i], -1)) != 0) throw_io("writing", files[i].path, errno);
        }
    } catch (...) {
        roll_back();
        throw;
    }
}

void StagedFiles::publish() {
    try {
        for (std::size_t i = 0; i < paths_.size(); ++i) {
            const fs::path& path = paths_[i];
            const fs::path dir = parent_dir(path);
            bool existed = path_exists(path);
            if (temps_[i].empty()) {
                char proc[64];
                std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fds_[i]);
                fs::path target = overwrite_ ? dir / ("." + path.filename().string() + ".tmp-" + random_suffix()) : path;
                if (::linkat(AT_FDCWD, proc, AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) != 0) {
                    int err = errno;
                    if (err == EEXIST && !overwrite_) throw Error(ErrorKind::exists, path.string() + " already exists");
                    throw_io("writing", path, err);
                }
                if (overwrite_ && ::rename(target.c_str(), path.c_str()) != 0) {
                    int err = errno;
                    ::unlink(target.c_str());
                    throw_io("writing", path, err);
                }
                ::close(std::exchange(fds_[i], -1));
            } else if (overwrite_) {
                if (::rename(temps_[i].c_str(), path.c_str()) != 0) throw_io("writing", path, errno);
            } else if (!detail::publish_noreplace(temps_[i], path)) {
                throw Error(ErrorKind::exists, path.string() + " already exists");
            }
            temps_[i].clear();
            if (!existed) published_.push_back(path);
        }
        for (const auto& d : dirs_) fsync_dir(d, d);
        done_ = true;
    } catch (...) {
        roll_back();
        throw;
    }
}

StagedFiles::~StagedFiles() {
    if (!done_) roll_back();
}

void StagedFiles::roll_back() noexcept {
    for (int& fd : fds_)
        if (fd >= 0) ::close(std::exchange(fd, -1));
    for (auto& t : temps_)
        if (!t.empty()) ::unlink(t.c_str());
    temps_.clear();
    for (auto it = published_.rbegin(); it != published_.rend(); ++it) ::unlink(it->c_str());
    published_.clear();
    for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) ::rmdir(it->c_str());
    made_dirs_.clear();
    done_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view content, unsigned mode, bool overwrite) {
    StagedFiles staged({{path, content, mode}}, overwrite, false);
    staged.publish();
}

std::string read_file(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw Error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                    "reading " + path.string() + ": " + errno_text(err));
    }
    Fd guard(fd);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_io("reading", path, errno);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// ---- inventory records -------------------------------------------------------

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

nlohmann::json InventoryRecord::to_json() const {
    nlohmann::json j;
    j["serial"] = serial_hex;
    j["subject"] = subject;
    j["names"] = names;
    j["key_type"] = key_type;
    j["profile"] = profile;
    j["not_before"] = format_time(not_before);
    j["not_after"] = format_time(not_after);
    j["fingerprint_sha256"] = fingerprint_sha256;
    j["status"] = status == CertStatus::revoked ? "revoked" : "valid";
    j["revoked_at"] = revoked_at ? nlohmann::json(format_time(*revoked_at)) : nlohmann::json(nullptr);
    j["reason"] = reason ? nlohmann::json(std::string(to_string(*reason))) : nlohmann::json(nullptr);
    return j;
}

InventoryRecord InventoryRecord::from_certificate(const Certificate& cert, std::string_view profile) {
    InventoryRecord r;
    r.serial_hex = cert.serial_hex();
    r.subject = cert.subject();
    r.names = cert.names().all();
    r.key_type = cert.key_type();
    r.profile = std::string(profile);
    r.not_before = cert.not_before();
    r.not_after = cert.not_after();
    r.fingerprint_sha256 = cert.fingerprint_sha256();
    r.pem = cert.to_pem();
    return r;
}

// ---- the CA directory ------------------------------------------------------------

namespace {

constexpr const char* ca_files[] = {"ca.pem",       "ca-key.pem",  "chain.pem",   "root.pem",
                                    "root-key.pem", "policy.json", "inventory.db"};

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

CaDirectory::CaDirectory(fs::path dir) : dir_(std::move(dir)) {}

bool CaDirectory::exists(const fs::path& dir) {
    return path_exists(dir / "ca.pem") || path_exists(dir / "ca-key.pem");
}

CaDirectory CaDirectory::open(const fs::path& dir) {
    if (!path_exists(dir / "ca.pem")) throw Error(ErrorKind::not_found, "no CA in " + dir.string());
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
        root.emplace(Authority::create_root(ro));
        CaOptions io = options.ca;
        if (!io.path_len) io.path_len = 0;
        if (io.validity == default_root_validity) io.validity = default_intermediate_validity;
        issuing.emplace(root->create_intermediate(io));
    } else {
        issuing.emplace(Authority::create_root(options.ca));
    }
    const std::string policy_json = options.policy.to_json();

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
    {
        // create_sqlite_inventory refuses an inventory.db that appeared meanwhile
        // (Error(exists)), so what undo removes is always ours.
        auto inv = detail::create_sqlite_inventory(ca.inventory_path());
        undo.file(ca.inventory_path());
        if (root) inv->import({InventoryRecord::from_certificate(issuing->certificate(), "ca")});
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

bool CaDirectory::key_encrypted() const {
    const std::string pem = read_file(key_path());
    return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
           pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
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

Policy CaDirectory::policy() const { return Policy::load(policy_path()); }

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

}  // namespace minica
