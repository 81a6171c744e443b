// Text helpers the library's messages are made of, one of each, exported for
// minica's own programs so that they print names the way the library does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minica {

// Input quoted for a message: "\"" + s + "\"", with '"' and '\\' escaped and
// control characters as \xNN, so a hostile name cannot forge lines on a
// terminal or in a log. UTF-8 is kept as is.
std::string quote(std::string_view s);
// quote() without the quotes: for values printed in a list (names).
std::string escape(std::string_view s);
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");
// ASCII case-insensitive equality (DNS names, header names, hex).
bool iequals(std::string_view a, std::string_view b) noexcept;
std::string to_lower(std::string_view s);
// strerror(err) without its thread-safety trap.
std::string errno_text(int err);

}  // namespace minica
