#include "minica/acme/problem.hpp"

#include <array>

#include "minica/error.hpp"

namespace minica::acme {

namespace {

constexpr std::string_view urn_prefix = "urn:ietf:params:acme:error:";

struct TypeInfo {
    ProblemType type;
    std::string_view name;
    int status;
};

// One row per type, in enum order (checked below); statuses as the header says.
constexpr std::array types{
    TypeInfo{ProblemType::account_does_not_exist, "accountDoesNotExist", 400},
    TypeInfo{ProblemType::already_replaced, "alreadyReplaced", 409},
    TypeInfo{ProblemType::already_revoked, "alreadyRevoked", 400},
    TypeInfo{ProblemType::bad_csr, "badCSR", 400},
    TypeInfo{ProblemType::bad_nonce, "badNonce", 400},
    TypeInfo{ProblemType::bad_public_key, "badPublicKey", 400},
    TypeInfo{ProblemType::bad_revocation_reason, "badRevocationReason", 400},
    TypeInfo{ProblemType::bad_signature_algorithm, "badSignatureAlgorithm", 400},
    TypeInfo{ProblemType::caa, "caa", 403},
    TypeInfo{ProblemType::compound, "compound", 400},
    // Validation failures: the client's setup is wrong, not its request.
    TypeInfo{ProblemType::connection, "connection", 400},
    TypeInfo{ProblemType::dns, "dns", 400},
    TypeInfo{ProblemType::external_account_required, "externalAccountRequired", 403},
    TypeInfo{ProblemType::incorrect_response, "incorrectResponse", 403},
    TypeInfo{ProblemType::invalid_contact, "invalidContact", 400},
    TypeInfo{ProblemType::malformed, "malformed", 400},
    TypeInfo{ProblemType::order_not_ready, "orderNotReady", 403},
    TypeInfo{ProblemType::rate_limited, "rateLimited", 429},
    TypeInfo{ProblemType::rejected_identifier, "rejectedIdentifier", 400},
    TypeInfo{ProblemType::server_internal, "serverInternal", 500},
    TypeInfo{ProblemType::tls, "tls", 400},
    TypeInfo{ProblemType::unauthorized, "unauthorized", 403},
    TypeInfo{ProblemType::unsupported_contact, "unsupportedContact", 400},
    TypeInfo{ProblemType::unsupported_identifier, "unsupportedIdentifier", 400},
    TypeInfo{ProblemType::user_action_required, "userActionRequired", 403},
};

constexpr bool in_enum_order() {
    for (std::size_t i = 0; i < types.size(); ++i)
        if (static_cast<std::size_t>(types[i].type) != i) return false;
    return static_cast<std::size_t>(ProblemType::user_action_required) + 1 == types.size();
}
static_assert(in_enum_order(), "one row per ProblemType, in enum order");

const TypeInfo& info(ProblemType type) noexcept { return types[static_cast<std::size_t>(type)]; }

nlohmann::json identifier_json(const ProblemIdentifier& id) { return {{"type", id.type}, {"value", id.value}}; }

// A problem document without "status": what subproblems are.
nlohmann::json body(const Problem& p) {
    nlohmann::json j{{"type", urn(p.type)}};
    if (!p.detail.empty()) j["detail"] = p.detail;
    if (p.identifier) j["identifier"] = identifier_json(*p.identifier);
    if (!p.algorithms.empty()) j["algorithms"] = p.algorithms;
    if (!p.subproblems.empty()) {
        auto& subs = j["subproblems"] = nlohmann::json::array();
        for (const auto& sub : p.subproblems) subs.push_back(body(sub));
    }
    return j;
}

// The type for a refusal (invalid_argument, parse, policy, verify) by what was checked.
ProblemType refusal(ErrorKind kind, ProblemContext context) {
    switch (context) {
    case ProblemContext::csr: return ProblemType::bad_csr;
    case ProblemContext::key: return kind == ErrorKind::verify ? ProblemType::malformed : ProblemType::bad_public_key;
    case ProblemContext::identifier:
        if (kind == ErrorKind::invalid_argument || kind == ErrorKind::policy) return ProblemType::rejected_identifier;
        return ProblemType::malformed;
    case ProblemContext::request: break;
    }
    return kind == ErrorKind::policy ? ProblemType::unauthorized : ProblemType::malformed;
}

}  // namespace

std::string_view name(ProblemType type) noexcept { return info(type).name; }

std::string urn(ProblemType type) { return std::string(urn_prefix) + std::string(name(type)); }

std::optional<ProblemType> parse_problem_type(std::string_view text) noexcept {
    if (!text.starts_with(urn_prefix)) return std::nullopt;
    text.remove_prefix(urn_prefix.size());
    for (const auto& t : types)
        if (t.name == text) return t.type;
    return std::nullopt;
}

int default_status(ProblemType type) noexcept { return info(type).status; }

Problem Problem::make(ProblemType type, std::string detail) {
    Problem p;
    p.type = type;
    p.status = default_status(type);
    p.detail = std::move(detail);
    return p;
}

nlohmann::json Problem::to_json() const {
    nlohmann::json j = body(*this);
    j["status"] = status;
    return j;
}

Problem problem_from(const Error& e, ProblemContext context) {
    switch (e.kind()) {
    case ErrorKind::invalid_argument:
    case ErrorKind::parse:
    case ErrorKind::policy:
    case ErrorKind::verify: return Problem::make(refusal(e.kind(), context), e.what());
    case ErrorKind::not_found: {
        Problem p = Problem::make(ProblemType::malformed, e.what());
        p.status = 404;
        return p;
    }
    case ErrorKind::exists: {
        Problem p = Problem::make(ProblemType::malformed, e.what());
        p.status = 409;
        return p;
    }
    case ErrorKind::crypto:
    case ErrorKind::passphrase:
    case ErrorKind::io:
    case ErrorKind::store:
    case ErrorKind::tls: break;
    }
    // The message names files, SQL or OpenSSL internals: for the log, not the client.
    return Problem::make(ProblemType::server_internal,
                         "the server could not complete the request (" + std::string(to_string(e.kind())) + ")");
}

}  // namespace minica::acme
