// The one place that guesses a name's kind (parse_identity, DESIGN §9) and
// name constraints (NameConstraints::permit/exclude/check).
//
// The whole input is one identity. Then, line by line: "+SPEC" permits and
// "-SPEC" excludes a subtree, any other line is a name for the certificate;
// the names are checked against the constraints at the end.
// Promises: nothing but minica::Error comes out; a canonical name is a fixed
// point (parsing it again gives the same kind and text).
#include <optional>

#include "common.hpp"
#include "minica/names.hpp"

namespace {

void identity(std::string_view in) {
    std::optional<minica::Identity> id;
    fuzz::attempt("parse_identity", [&] { id = minica::parse_identity(in); });
    fuzz::attempt("canonical_dns_name", [&] { (void)minica::canonical_dns_name(in, false); });
    fuzz::attempt("canonical_email", [&] { (void)minica::canonical_email(in); });
    fuzz::attempt("canonical_uri", [&] { (void)minica::canonical_uri(in); });
    if (!id) return;
    fuzz::require(id->kind != minica::NameKind::ip || (id->ip && minica::parse_ip(id->value) == id->ip),
                  "an IP identity whose text does not parse back to its address");
    std::optional<minica::Identity> again;
    fuzz::attempt("parse_identity(canonical)", [&] { again = minica::parse_identity(id->value); });
    fuzz::require(again && again->kind == id->kind && again->value == id->value,
                  "the canonical form \"" + id->value + "\" does not parse back to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = fuzz::as_text(data, size);
    identity(in);

    minica::NameConstraints nc;
    minica::SubjectAltNames names;
    std::string_view previous;
    while (!in.empty()) {
        std::size_t nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
        if (!line.empty() && line[0] == '+') {
            fuzz::attempt("NameConstraints::permit", [&] { nc.permit(line.substr(1)); });
        } else if (!line.empty() && line[0] == '-') {
            fuzz::attempt("NameConstraints::exclude", [&] { nc.exclude(line.substr(1)); });
        } else {
            identity(line);
            fuzz::attempt("SubjectAltNames::add", [&] { names.add(line); });
        }
        (void)minica::dns_within(line, previous);
        previous = line;
    }
    fuzz::attempt("SubjectAltNames printers", [&] {
        (void)names.to_string();
        (void)names.primary();
        (void)names.all();
    });
    fuzz::attempt("NameConstraints::check", [&] { nc.check(names); });
    return 0;
}
