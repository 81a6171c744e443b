// Text helpers the library's messages are made of, one of each, exported for
// minica's own programs so that they print names the way the library does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minica {

// `s` safe to print on a terminal or write to a log or JSON: control
// characters (C0, DEL and the C1 range U+0080-U+009F) and bytes that are not
// UTF-8 become \xNN, one per byte; valid UTF-8 is kept as is, so the result
// always is valid UTF-8. Names read from certificates go through it.
std::string printable(std::string_view s);
// Input quoted for a message: "\"" + s + "\"", with '"' and '\\' escaped and
// control characters and non-UTF-8 bytes as \xNN (printable()), so a hostile
// name cannot forge lines on a terminal or in a log.
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
