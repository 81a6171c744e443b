#include <doctest/doctest.h>

#include <set>
#include <string>

#include "minica/acme/problem.hpp"
#include "minica/error.hpp"

using namespace minica;
using namespace minica::acme;
using nlohmann::json;

namespace {

std::vector<ProblemType> all_types() {
    std::vector<ProblemType> out;
    for (int i = 0; i <= static_cast<int>(ProblemType::user_action_required); ++i)
        out.push_back(static_cast<ProblemType>(i));
    return out;
}

}  // namespace

TEST_CASE("every problem type has its own URN in the ACME namespace, read back by parse_problem_type") {
    std::set<std::string> seen;
    for (auto type : all_types()) {
        std::string u = urn(type);
        CAPTURE(u);
        CHECK(u == "urn:ietf:params:acme:error:" + std::string(name(type)));
        CHECK(seen.insert(u).second);
        CHECK(parse_problem_type(u) == type);
    }
    // RFC 8555 §6.7 lists 24 types; RFC 9773 adds alreadyReplaced.
    CHECK(seen.size() == 25);
    CHECK(urn(ProblemType::bad_csr) == "urn:ietf:params:acme:error:badCSR");
    CHECK(urn(ProblemType::already_replaced) == "urn:ietf:params:acme:error:alreadyReplaced");
    CHECK(urn(ProblemType::caa) == "urn:ietf:params:acme:error:caa");
}

TEST_CASE("parse_problem_type refuses other namespaces, unknown names and case changes") {
    CHECK_FALSE(parse_problem_type("badNonce"));
    CHECK_FALSE(parse_problem_type("urn:acme:error:badNonce"));  // the pre-RFC namespace
    CHECK_FALSE(parse_problem_type("urn:ietf:params:acme:error:badnonce"));
    CHECK_FALSE(parse_problem_type("urn:ietf:params:acme:error:"));
    CHECK_FALSE(parse_problem_type("about:blank"));
}

TEST_CASE("default statuses are the RFC's where it names one, Boulder's and Pebble's elsewhere") {
    CHECK(default_status(ProblemType::bad_nonce) == 400);             // RFC 8555 §6.5
    CHECK(default_status(ProblemType::order_not_ready) == 403);       // §7.4
    CHECK(default_status(ProblemType::user_action_required) == 403);  // §7.3.3
    CHECK(default_status(ProblemType::unauthorized) == 403);
    CHECK(default_status(ProblemType::external_account_required) == 403);
    CHECK(default_status(ProblemType::already_replaced) == 409);
    CHECK(default_status(ProblemType::rate_limited) == 429);
    CHECK(default_status(ProblemType::server_internal) == 500);
    CHECK(default_status(ProblemType::malformed) == 400);
    for (auto type : all_types()) {
        int s = default_status(type);
        CHECK((s >= 400 && s <= 599));
        CHECK(Problem::make(type, "x").status == s);
    }
}

TEST_CASE("to_json is an RFC 7807 document with identifier, subproblems and algorithms when set") {
    Problem p = Problem::make(ProblemType::malformed, "");
    CHECK(p.to_json() == json{{"type", "urn:ietf:params:acme:error:malformed"}, {"status", 400}});

    Problem rejected = Problem::make(ProblemType::rejected_identifier, "2 names refused");
    Problem sub = Problem::make(ProblemType::rejected_identifier, "outside the policy");
    sub.identifier = ProblemIdentifier{"dns", "evil.test"};
    rejected.subproblems = {sub, Problem::make(ProblemType::unsupported_identifier, "")};
    json j = rejected.to_json();
    CHECK(j["type"] == "urn:ietf:params:acme:error:rejectedIdentifier");
    CHECK(j["status"] == 400);
    CHECK(j["detail"] == "2 names refused");
    CHECK_FALSE(j.contains("identifier"));
    REQUIRE(j["subproblems"].size() == 2);
    CHECK(j["subproblems"][0] == json{{"type", "urn:ietf:params:acme:error:rejectedIdentifier"},
                                      {"detail", "outside the policy"},
                                      {"identifier", {{"type", "dns"}, {"value", "evil.test"}}}});
    CHECK(j["subproblems"][1] == json{{"type", "urn:ietf:params:acme:error:unsupportedIdentifier"}});

    Problem alg = Problem::make(ProblemType::bad_signature_algorithm, "HS256 is not an account algorithm");
    alg.algorithms = {"ES256", "ES384", "RS256", "EdDSA"};
    CHECK(alg.to_json()["algorithms"] == json{"ES256", "ES384", "RS256", "EdDSA"});
}

TEST_CASE("problem_from maps each error kind, by what was being checked") {
    struct Row {
        ErrorKind kind;
        ProblemContext context;
        ProblemType type;
        int status;
    };
    using K = ErrorKind;
    using C = ProblemContext;
    using T = ProblemType;
    const Row rows[] = {
        {K::invalid_argument, C::request, T::malformed, 400},
        {K::invalid_argument, C::key, T::bad_public_key, 400},
        {K::invalid_argument, C::identifier, T::rejected_identifier, 400},
        {K::invalid_argument, C::csr, T::bad_csr, 400},
        {K::parse, C::request, T::malformed, 400},
        {K::parse, C::key, T::bad_public_key, 400},
        {K::parse, C::identifier, T::malformed, 400},
        {K::parse, C::csr, T::bad_csr, 400},
        {K::policy, C::request, T::unauthorized, 403},
        {K::policy, C::key, T::bad_public_key, 400},
        {K::policy, C::identifier, T::rejected_identifier, 400},
        {K::policy, C::csr, T::bad_csr, 400},
        {K::verify, C::request, T::malformed, 400},
        {K::verify, C::csr, T::bad_csr, 400},
        {K::not_found, C::request, T::malformed, 404},
        {K::exists, C::request, T::malformed, 409},
        {K::crypto, C::csr, T::server_internal, 500},
        {K::passphrase, C::request, T::server_internal, 500},
        {K::io, C::request, T::server_internal, 500},
        {K::store, C::identifier, T::server_internal, 500},
        {K::tls, C::request, T::server_internal, 500},
    };
    for (const auto& r : rows) {
        std::string kind(to_string(r.kind));
        CAPTURE(kind);
        CAPTURE(static_cast<int>(r.context));
        Problem p = problem_from(Error(r.kind, "context: detail"), r.context);
        CHECK(p.type == r.type);
        CHECK(p.status == r.status);
        if (r.type == T::server_internal) CHECK(p.detail.find("context: detail") == std::string::npos);
        else CHECK(p.detail == "context: detail");
    }
    // The default context is the request.
    CHECK(problem_from(Error(K::policy, "x")).type == T::unauthorized);
}

TEST_CASE("an internal error's detail names its kind, never its message (file paths, SQL)") {
    Problem p = problem_from(Error(ErrorKind::io, "writing /srv/ca/ca-key.pem: Permission denied"));
    CHECK(p.detail.find("/srv/ca") == std::string::npos);
    CHECK(p.detail == "the server could not complete the request (I/O error)");
}
