// ACME problem documents (RFC 8555 §6.7, RFC 7807): every error the ACME
// server answers with, and problem_from(), the one place a minica::Error
// becomes a problem type. Internal (not installed).
//
// Deliberate choices:
// - Every type of RFC 8555 §6.7, plus alreadyReplaced, which RFC 9773
//   (ARI) §7.4 registers for an order whose "replaces" names a certificate
//   already replaced (Boulder and Pebble answer it with 409).
// - Default statuses follow the RFC where it says one (badNonce 400 §6.5,
//   orderNotReady 403 §7.4, userActionRequired 403 §7.3.3) and Pebble/
//   Boulder elsewhere (acme/problems.go: unauthorized and
//   externalAccountRequired 403, alreadyReplaced 409, rateLimited 429),
//   so clients written against Let's Encrypt see what they expect.
// - Errors that are the server's own fault (crypto, io, store, tls,
//   passphrase) become serverInternal with a fixed detail: their messages
//   name CA files and SQL, which the server logs and never tells a client.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace minica {
class Error;
}

namespace minica::acme {

enum class ProblemType {
    account_does_not_exist,
    already_replaced,  // RFC 9773 §7.4
    already_revoked,
    bad_csr,
    bad_nonce,
    bad_public_key,
    bad_revocation_reason,
    bad_signature_algorithm,
    caa,
    compound,
    connection,
    dns,
    external_account_required,
    incorrect_response,
    invalid_contact,
    malformed,
    order_not_ready,
    rate_limited,
    rejected_identifier,
    server_internal,
    tls,
    unauthorized,
    unsupported_contact,
    unsupported_identifier,
    user_action_required,
};

// The registered name, "accountDoesNotExist".
std::string_view name(ProblemType type) noexcept;
// "urn:ietf:params:acme:error:<name>".
std::string urn(ProblemType type);
// The type a URN names, or nullopt (also for any other namespace).
std::optional<ProblemType> parse_problem_type(std::string_view urn) noexcept;
// The HTTP status a problem of this type is answered with by default.
int default_status(ProblemType type) noexcept;

// The identifier a (sub)problem is about (RFC 8555 §6.7.1).
struct ProblemIdentifier {
    std::string type;  // "dns", "ip"
    std::string value;
    friend bool operator==(const ProblemIdentifier&, const ProblemIdentifier&) = default;
};

struct Problem {
    ProblemType type = ProblemType::server_internal;
    int status = 500;
    std::string detail;
    std::optional<ProblemIdentifier> identifier;
    std::vector<Problem> subproblems;     // RFC 8555 §6.7.1 (e.g. one per rejected identifier)
    std::vector<std::string> algorithms;  // badSignatureAlgorithm: the "alg" values accepted (§6.2)

    // A problem with the type's default status.
    static Problem make(ProblemType type, std::string detail);

    // The RFC 7807 document (application/problem+json): "type", "status",
    // "detail" (when not empty), "identifier", "subproblems" and
    // "algorithms" (when set). Subproblems carry no status: only the
    // response has one.
    nlohmann::json to_json() const;
};

// What an ErrorKind::invalid_argument or ErrorKind::policy refusal means
// depends on what the server was checking when it was thrown.
enum class ProblemContext {
    request,     // the request itself (JWS, account, revocation...)
    key,         // a JWK (jose.hpp's Jwk::parse, Error(invalid_argument) "JWK: ...")
    identifier,  // an order's identifier (names.hpp parsing, Policy/Authority::check_names)
    csr,         // the CSR at finalize (CertificateRequest parse, check_request, policy)
};

// The one mapping of minica::Error to a problem (detail = e.what() unless
// the error is internal). By kind:
//   invalid_argument  malformed; badPublicKey for a key; rejectedIdentifier for an
//                     identifier; badCSR for a CSR
//   parse             malformed; badPublicKey for a key; badCSR for a CSR
//   policy            unauthorized; badPublicKey for a key; rejectedIdentifier for an
//                     identifier; badCSR for a CSR
//   verify            malformed (a JWS that does not verify is malformed, §6.2); badCSR for a CSR
//   not_found         malformed, status 404 (Pebble's "not found")
//   exists            malformed, status 409 (as Boulder answers a key already in use)
//   crypto, passphrase, io, store, tls
//                     serverInternal, 500, detail withheld
// Why policy is not rejectedIdentifier by default: that type says "the
// server will not issue for this identifier" and carries one; a policy
// refusal of anything else (a revocation the CA does not allow, say) is
// the client lacking authorization, which is unauthorized (§6.7).
Problem problem_from(const Error& e, ProblemContext context = ProblemContext::request);

}  // namespace minica::acme
