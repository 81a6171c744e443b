// Files written whole or not at all (files.hpp).
#include "minica/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <random>
#include <utility>

#include "minica/detail/files.hpp"
#include "minica/error.hpp"
#include "minica/text.hpp"

namespace fs = std::filesystem;

namespace minica {

namespace detail {

void throw_io(std::string_view verb, const fs::path& path, int err) {
    throw Error(ErrorKind::io, std::string(verb) + " " + path.string() + ": " + errno_text(err));
}

bool path_exists(const fs::path& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
}

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

std::filesystem::path temp_sibling(const std::filesystem::path& path) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
    // positive, GCC bug 105651) about "." + std::string.
    std::string name = ".";
    name += path.filename().string();
    name += ".tmp-";
    name += random_suffix();
    std::filesystem::path dir = path.parent_path();
    return (dir.empty() ? std::filesystem::path(".") : dir) / name;
}

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

using detail::path_exists;
using detail::throw_io;

namespace {

// Closes a file descriptor on scope exit.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

fs::path parent_dir(const fs::path& path) {
    fs::path dir = path.parent_path();
    return dir.empty() ? fs::path(".") : dir;
}

void fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_io("writing", dir, errno);
    Fd guard(fd);
    // Some file systems cannot fsync a directory (EINVAL); the rename is then
    // as durable as that file system makes it.
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) throw_io("writing", dir, errno);
}

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

// The nearest ancestor of `dir` that exists (`dir` itself if it does) must be
// a directory we may write into.
void check_dir_writable(const fs::path& dir, const fs::path& for_file) {
    fs::path p = dir;
    for (;;) {
        struct stat st;
        if (::stat(p.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                throw Error(ErrorKind::io, "writing " + for_file.string() + ": " + p.string() + " is not a directory");
            if (::access(p.c_str(), W_OK | X_OK) != 0)
                throw Error(ErrorKind::io, "writing " + for_file.string() + ": " + p.string() + ": " + errno_text(errno));
            return;
        }
        int err = errno;
        if (err != ENOENT && err != ENOTDIR)  // ENOTDIR: an ancestor is a file; found going up
            throw Error(ErrorKind::io, "writing " + for_file.string() + ": " + p.string() + ": " + errno_text(err));
        fs::path up = p.parent_path();
        if (up.empty()) up = ".";
        if (up == p) return;
        p = up;
    }
}

}  // namespace

std::string file_name_for(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '*') out += "_wildcard";
        else if (c == ':' || c == '/' || c == '\\') out += '_';
        else out += c;
    }
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

void check_writable(const std::vector<fs::path>& paths, bool overwrite) {
    std::vector<std::string> in_the_way;
    for (const auto& p : paths) {
        struct stat st;
        if (::lstat(p.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) throw Error(ErrorKind::exists, p.string() + " is a directory");
            if (!overwrite) in_the_way.push_back(p.string());
        }
    }
    if (!in_the_way.empty())
        throw Error(ErrorKind::exists, join(in_the_way) + (in_the_way.size() == 1 ? " already exists" : " already exist") +
                                           " (nothing was written; --force replaces)");
    for (const auto& p : paths) check_dir_writable(parent_dir(p), p);
}

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
            Staged s{f.path, {}, -1, false};
            s.fd = proc ? ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
            if (s.fd < 0 && proc && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                throw_io("writing", f.path, errno);
            for (int attempt = 0; s.fd < 0 && attempt < 16; ++attempt) {
                fs::path tmp = detail::temp_sibling(f.path);
                s.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (s.fd < 0 && errno != EEXIST) throw_io("writing", f.path, errno);
                if (s.fd >= 0) s.temp = tmp;
            }
            if (s.fd < 0) throw_io("writing", f.path, EEXIST);
            files_.push_back(s);
            fill(s.fd, f.content, f.mode, f.path);
        }
        // Every file's data goes to the disk at once (sync_file_range starts
        // the writeback without waiting); sync() then fsyncs each: the first
        // fsync's journal commit covers them all and the block layer merges
        // the writes, so the others return almost at once.
        for (const auto& s : files_) ::sync_file_range(s.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    } catch (...) {
        roll_back();
        throw;
    }
}

void StagedFiles::sync() {
    if (synced_) return;
    try {
        for (auto& s : files_) {
            if (::fsync(s.fd) != 0) throw_io("writing", s.path, errno);
            // A named temporary is complete: closed now. An unnamed one keeps
            // its descriptor, its only handle until publish() links it.
            if (!s.temp.empty() && ::close(std::exchange(s.fd, -1)) != 0) throw_io("writing", s.path, errno);
        }
        synced_ = true;
    } catch (...) {
        roll_back();
        throw;
    }
}

void StagedFiles::publish() {
    sync();
    try {
        for (auto& s : files_) {
            const fs::path dir = parent_dir(s.path);
            bool existed = path_exists(s.path);
            if (s.temp.empty()) {
                char proc[64];
                std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", s.fd);
                fs::path target =
                    overwrite_ ? detail::temp_sibling(s.path) : s.path;
                if (::linkat(AT_FDCWD, proc, AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) != 0) {
                    int err = errno;
                    if (err == EEXIST && !overwrite_) throw Error(ErrorKind::exists, s.path.string() + " already exists");
                    throw_io("writing", s.path, err);
                }
                if (overwrite_ && ::rename(target.c_str(), s.path.c_str()) != 0) {
                    int err = errno;
                    ::unlink(target.c_str());
                    throw_io("writing", s.path, err);
                }
                ::close(std::exchange(s.fd, -1));
            } else if (overwrite_) {
                if (::rename(s.temp.c_str(), s.path.c_str()) != 0) throw_io("writing", s.path, errno);
            } else if (!detail::publish_noreplace(s.temp, s.path)) {
                throw Error(ErrorKind::exists, s.path.string() + " already exists");
            }
            s.temp.clear();
            s.published = !existed;
        }
        for (const auto& d : dirs_) fsync_dir(d);
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
    for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
        if (it->fd >= 0) ::close(std::exchange(it->fd, -1));
        if (!it->temp.empty()) ::unlink(it->temp.c_str());
        if (it->published) ::unlink(it->path.c_str());
    }
    files_.clear();
    for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) ::rmdir(it->c_str());
    made_dirs_.clear();
    done_ = true;
}

void write_file_atomic(const fs::path& path, std::string_view content, unsigned mode, bool overwrite) {
    StagedFiles staged({{path, content, mode}}, overwrite, false);
    staged.publish();
}

void write_files_atomic(const std::vector<FileToWrite>& files, bool overwrite) {
    std::vector<fs::path> paths;
    for (const auto& f : files) paths.push_back(f.path);
    check_writable(paths, overwrite);
    StagedFiles staged(files, overwrite, true);
    staged.publish();
}

std::string read_file(const fs::path& path, std::string_view what) {
    const std::string context = "reading " + (what.empty() ? std::string() : std::string(what) + " from ") + path.string();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw Error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io, context + ": " + errno_text(err));
    }
    Fd guard(fd);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::io, context + ": " + errno_text(errno));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace minica
