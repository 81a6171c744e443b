#include "minica/detail/json.hpp"

#include <set>
#include <string>
#include <vector>

#include "minica/error.hpp"
#include "minica/text.hpp"

namespace minica::detail {

namespace {

struct DuplicateKey {
    std::string key;
};

// nlohmann's messages start with "[json.exception.parse_error.101] "; drop it.
std::string strip_json_prefix(std::string_view what) {
    if (!what.empty() && what.front() == '[') {
        auto close = what.find("] ");
        if (close != std::string_view::npos) what.remove_prefix(close + 2);
    }
    return std::string(what);
}

}  // namespace

nlohmann::json parse_json(std::string_view text) {
    // One set of keys per open object; the parser's callback sees each key
    // before its value.
    std::vector<std::set<std::string>> seen;
    auto cb = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        switch (event) {
            case nlohmann::json::parse_event_t::object_start: seen.emplace_back(); break;
            case nlohmann::json::parse_event_t::object_end:
                if (!seen.empty()) seen.pop_back();
                break;
            case nlohmann::json::parse_event_t::key:
                if (!seen.empty() && !seen.back().insert(parsed.get<std::string>()).second)
                    throw DuplicateKey{parsed.get<std::string>()};
                break;
            default: break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), cb);
    } catch (const DuplicateKey& d) {
        throw Error(ErrorKind::parse, "duplicate key " + quote(d.key));
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::parse, strip_json_prefix(e.what()));
    }
}

}  // namespace minica::detail
