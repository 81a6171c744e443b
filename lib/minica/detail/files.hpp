// Pieces of files.cpp the inventory shares (internal).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace minica {
namespace detail {
// Moves `tmp` to `path` unless `path` exists (even as a dangling symlink).
// Returns false when it exists; throws Error(io) on other failures. Used by
// write_file_atomic and by the inventory to publish a freshly built database.
bool publish_noreplace(const std::filesystem::path& tmp, const std::filesystem::path& path);
// lstat() succeeds.
bool path_exists(const std::filesystem::path& p);
// A short random hex string for temporary names.
std::string random_suffix();
// "<dir of path>/.<name>.tmp-<random>": where a file is made before it is
// renamed to `path` (a name that never looks like a final one).
std::filesystem::path temp_sibling(const std::filesystem::path& path);
// Error(io) "<verb> <path>: <errno text>".
[[noreturn]] void throw_io(std::string_view verb, const std::filesystem::path& path, int err);
}  // namespace detail

}  // namespace minica
