// Policy::from_json (a CA's policy.json), then Policy::check with a few fixed
// requests. Promises: nothing but minica::Error comes out; a policy that
// parses is written back (to_json) as text that parses to the same policy.
#include <chrono>
#include <optional>

#include "common.hpp"
#include "minica/names.hpp"
#include "minica/policy.hpp"

namespace {

// Requests a CA sees: each kind of name, wildcards, IDN, v4/v6, a URI with a host and one without.
const std::vector<minica::SubjectAltNames>& requests() {
    static const std::vector<minica::SubjectAltNames> r = [] {
        std::vector<minica::SubjectAltNames> out;
        for (std::vector<std::string> names : std::vector<std::vector<std::string>>{
                 {"localhost", "127.0.0.1", "::1"},
                 {"app.example.com", "*.app.example.com"},
                 {"xn--bcher-kva.example"},
                 {"10.1.2.3", "fd00::1"},
                 {"alice@example.com"},
                 {"spiffe://example.org/ns/default/sa/web", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"},
             })
            out.push_back(minica::parse_identities(names));
        return out;
    }();
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<minica::Policy> policy;
    if (!fuzz::attempt("Policy::from_json", [&] { policy = minica::Policy::from_json(fuzz::as_text(data, size)); }))
        return 0;
    for (const auto& names : requests()) {
        for (minica::KeyType key : minica::all_key_types)
            for (minica::Profile profile : minica::leaf_profiles)
                fuzz::attempt("Policy::check", [&] { policy->check(names, key, profile, std::chrono::days{90}); });
        fuzz::attempt("Policy::check (400 days)", [&] {
            policy->check(names, minica::KeyType::ec_p256, minica::Profile::server, std::chrono::days{400});
        });
    }
    std::string text;
    fuzz::attempt("Policy::to_json", [&] { text = policy->to_json(); });
    std::optional<minica::Policy> again;
    fuzz::attempt("Policy::from_json(to_json())", [&] { again = minica::Policy::from_json(text); });
    fuzz::require(again.has_value(), "a policy's own JSON does not parse:\n" + text);
    fuzz::require(again->to_json() == text, "a policy's own JSON parses to a different policy:\n" + text);
    return 0;
}
