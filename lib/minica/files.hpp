// Files written whole or not at all: the atomic-write discipline, once.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace minica {

struct FileToWrite;

// A file a call wrote, for the summary a program prints.
struct WrittenFile {
    std::filesystem::path path;
    std::string label;  // "certificate", "key", "chain", "full chain", "PKCS#12", "request"
};

// Writes to a temporary file in the same directory (mode set with fchmod, so
// the umask neither widens nor narrows it), fsyncs it, moves it to `path` and
// fsyncs the directory. Nothing half-written ever exists under `path`.
// Without `overwrite`, an existing path (even one created by a racing writer)
// is Error(exists) "<path> already exists" and is left untouched; the move is
// renameat2(RENAME_NOREPLACE), or link()+unlink() where that is unsupported.
// Errors: Error(io) "writing <path>: <strerror>"; the temporary file is removed.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       unsigned mode, bool overwrite = false);
// The whole file: the one reader every loader uses. Error(not_found) /
// Error(io) "reading <path>: <reason>", or with `what` "reading <what> from
// <path>: <reason>".
std::string read_file(const std::filesystem::path& path, std::string_view what = {});

// A file or directory name for a certificate's name: "*" -> "_wildcard",
// ":" "/" "\\" -> "_", and never "", "." or "..".
std::string file_name_for(std::string_view name);

// Checks, before any work, that each path can be written: none exists
// (unless `overwrite`; a directory in the way is refused even then), and the
// nearest existing ancestor of each is a directory we may write into.
// Error(exists) names every file in the way ("... (nothing was written;
// --force replaces)"); Error(io) the path that cannot be a directory or
// cannot be written. A check, not a promise: StagedFiles proves it.
void check_writable(const std::vector<std::filesystem::path>& paths, bool overwrite);

// write_file_atomic for a group of files, in three steps so that the slow
// one can run beside other work:
//  - the constructor writes every file to an unnamed temporary (O_TMPFILE; a
//    named one where the file system has none) with its mode and starts
//    sending their data to the disk: the directories exist and are writable,
//    the files are complete, under no name yet;
//  - sync() fsyncs each (durable, still unnamed);
//  - publish() (which syncs first if needed) moves them into place
//    (replacing only with `overwrite`; never otherwise, even a file a racing
//    writer made) and fsyncs each directory once.
// With `create_dirs`, missing parent directories are made (0755, the umask
// applies). Destroyed unpublished, or when a step fails, it removes whatever
// it created: temporaries, files it published, directories it made. Errors
// as write_file_atomic's (Error(exists), Error(io) "<verb> <path>: <reason>").
// (Views: the caller keeps path and content alive while the constructor runs.)
struct FileToWrite {
    const std::filesystem::path& path;
    std::string_view content;
    unsigned mode;
};
// check_writable, then StagedFiles with create_dirs, published.
void write_files_atomic(const std::vector<FileToWrite>& files, bool overwrite);

class StagedFiles {
public:
    StagedFiles(const std::vector<FileToWrite>& files, bool overwrite, bool create_dirs);
    StagedFiles(const StagedFiles&) = delete;
    StagedFiles& operator=(const StagedFiles&) = delete;
    ~StagedFiles();
    void sync();
    void publish();

private:
    void roll_back() noexcept;
    struct Staged {
        std::filesystem::path path;
        std::filesystem::path temp;  // its named temporary; empty while unnamed (O_TMPFILE) or once published
        int fd = -1;                 // open until published (an unnamed file's only handle) or, if named, synced
        bool published = false;      // moved into place where nothing was before
    };
    bool overwrite_;
    bool synced_ = false;
    bool done_ = false;
    std::vector<Staged> files_;
    std::vector<std::filesystem::path> made_dirs_;  // created here, outermost first
    std::vector<std::filesystem::path> dirs_;       // to fsync once at the end
};

}  // namespace minica
