// The one JSON reader for input the library does not trust (policy.json,
// JOSE headers and keys): nlohmann's parser with duplicate object keys
// refused, since nlohmann keeps the last one silently and two readers of the
// same text could then see two different values (a second "alg", a second
// "max_validity_days" hiding behind the first).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace minica::detail {

// Throws Error(parse) whose message is the reason alone ("duplicate key
// \"alg\"", or nlohmann's text without its "[json.exception...] " prefix):
// callers put their own context in front.
nlohmann::json parse_json(std::string_view text);

}  // namespace minica::detail
