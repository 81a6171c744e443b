// The ACME server (RFC 8555, RFC 8737, RFC 8738, RFC 9773) without its
// transport: a request in (method, path, Content-Type, body), a response
// out. Internal (not installed). acme/server.cpp puts it behind HTTPS;
// tests/test_acme_service.cpp drives it directly, with a fixed clock and a
// scripted validator, so every protocol rule is pinned without a socket.
//
// What it holds: the CA (CaDirectory: issuing through CaDirectory::issue,
// the same call as `minica sign --csr`, and revoking through
// CaDirectory::revoke), the store (the inventory's acme()), a NonceBook and
// a Validator. Thread-safe: handle() may run on several threads at once
// (the store serializes writes; the nonce book is lock-free).
//
// Resources live under the base URL (`https://host:port`):
//   /directory, /acme/new-nonce, /acme/new-account, /acme/new-order,
//   /acme/revoke-cert, /acme/key-change, /acme/renewal-info/{certID},
//   /acme/acct/{id}, /acme/acct/{id}/orders, /acme/order/{id},
//   /acme/order/{id}/finalize, /acme/authz/{id}, /acme/chall/{authz}/{type},
//   /acme/cert/{serial}.
//
// Deliberate choices (the why is beside the code):
// - The JWS checks run in a fixed order (PLAN.md §3); the nonce is consumed
//   last, so a request refused for another reason leaves the nonce unspent
//   only when it was refused before the signature was checked.
// - A `url` that does not match the request is `unauthorized` (§6.4), not
//   Pebble's `malformed`.
// - One validation attempt per authorization. The challenge POST starts
//   it and sets `await_authz`: the transport holds the answer until the
//   validation is done (when_validated) or its wait is over, then answers
//   held_answer(), so clients that poll every 5 s (lego, uacme) get a final
//   status at once. One commit per validation: the result. `processing` is
//   committed only when an answer says so before the result exists (the
//   wait ran out, or the server stops); until then it lives in memory, and
//   a validation cut short by a crash was never acknowledged (the client
//   retries the POST).
// - Finalize is synchronous: the order answers `valid` with its
//   certificate, and the order row commits with the certificate.
// - Revocation by an account: the account the certificate was issued to,
//   or one holding valid authorizations for every name (§7.6); by key: the
//   certificate's own key.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "minica/acme/jose.hpp"
#include "minica/acme/nonce.hpp"
#include "minica/acme/problem.hpp"
#include "minica/acme/resources.hpp"
#include "minica/acme/store.hpp"
#include "minica/acme/validator.hpp"
#include "minica/authority.hpp"
#include "minica/ca_directory.hpp"
#include "minica/types.hpp"

namespace minica::acme {

struct Request {
    std::string method;  // "GET", "HEAD", "POST", ...
    std::string target;  // the path, e.g. "/acme/new-order" (no query)
    std::string content_type;
    std::string body;
};

struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Set on a challenge POST while its validation runs: the transport must
    // not send this response, but wait (when_validated, bounded) and answer
    // held_answer() instead (at once, if it cannot wait).
    std::optional<Id> await_authz;
    std::optional<ChallengeType> await_type;

    // The value of a header (first match, case-insensitive name), or "".
    std::string header(std::string_view name) const;
};

struct ServiceOptions {
    std::string base_url;  // "https://localhost:14000": every URL the server hands out starts with it
    bool eab_required = false;
    std::optional<std::string> terms_of_service;  // a URL; set: newAccount must agree to it
    std::chrono::seconds order_lifetime{std::chrono::hours(24 * 7)};
    std::optional<std::chrono::days> validity;  // of certificates issued; default 90 days, or the policy's limit
    std::function<Time()> clock;                // default minica::now
    // Called after a revocation is recorded, before its answer: the server
    // re-signs and publishes the CRL there.
    std::function<void()> on_revoked;
    // The CA key's passphrase, for an encrypted ca-key.pem (asked at start).
    std::function<std::string()> ca_passphrase;
};

class AcmeService {
public:
    // `authority` is the CA's, loaded once (name constraints at newOrder and
    // the chain handed out); `validator` may be shared.
    AcmeService(CaDirectory& ca, Authority authority, Validator& validator, ServiceOptions options);
    AcmeService(const AcmeService&) = delete;
    AcmeService& operator=(const AcmeService&) = delete;

    // Never throws for anything a client sends: a problem document.
    Response handle(const Request& request);

    // Runs `fn` once the validation of `authz` has a result (at once when
    // none is running); `fn` may run on a validator thread.
    void when_validated(Id authz, std::function<void()> fn);
    // The answer to a held challenge POST: the challenge resource as a
    // POST-as-GET would answer it (fresh nonce, Link up). A validation still
    // running is first committed as `processing`, so what the answer says
    // survives a restart (resume_validations).
    Response held_answer(Id authz, ChallengeType type);

    // A restarted server: submits again every validation left processing.
    // Returns how many.
    std::size_t resume_validations();

    // CaDirectory is not thread-safe (it loads the CA and publication.json
    // lazily): every call into it from the service holds this, and so must
    // the server's (CRL signing). Issuing is serialized by the inventory's
    // write transaction anyway.
    std::unique_lock<std::mutex> lock_ca() { return std::unique_lock(ca_mutex_); }

    const ServiceOptions& options() const noexcept { return options_; }
    NonceBook& nonces() noexcept { return nonces_; }

private:
    struct Verified;  // a JWS that passed the checks
    Response dispatch(const Request& request);
    Response directory() const;
    Response new_nonce(const Request& request);
    Response new_account(const Verified& v);
    Response account(const Verified& v, Id id);
    Response account_orders(const Verified& v, Id id);
    Response key_change(const Verified& v);
    Response new_order(const Verified& v);
    Response order(const Verified& v, Id id);
    Response finalize(const Verified& v, Id id);
    Response authz(const Verified& v, Id id);
    Response challenge(const Verified& v, Id authz_id, ChallengeType type);
    Response certificate(const Verified& v, const std::string& serial);
    Response revoke_cert(const Verified& v);
    Response renewal_info(const std::string& cert_id);

    enum class KeyRule { jwk, kid, either };
    Verified verify_post(const Request& request, KeyRule rule);
    // The account as it is now (inside a transaction: as it stays until the
    // commit), refused unless valid.
    Account current_account(Id id);
    Response account_response(int status, const Account& a);
    // The order's status now, from it and its authorizations.
    OrderStatus current_status(const Order& o, const std::vector<Authz>& authzs) const;
    Jwk account_key(const Account& a);
    void validated(Id authz_id, ChallengeType type, const ValidationResult& result);
    void start_validation(const Authz& a, ChallengeType type, const std::string& thumbprint);
    // The authorization as an answer shows it: a validation running here and
    // not yet committed is committed as `processing` first, so that what a
    // client was told survives a restart (resume_validations).
    Authz as_answered(Authz a);
    // The same without the commit, for a held answer's body (never sent).
    Authz with_running(Authz a);

    nlohmann::json account_json(const Account& a) const;
    nlohmann::json order_json(const Order& o, const std::vector<Authz>& authzs) const;
    nlohmann::json authz_json(const Authz& a) const;
    nlohmann::json challenge_json(const Authz& a, ChallengeType type) const;
    Response json_response(int status, const nlohmann::json& body);
    Response problem_response(const Problem& p);
    void add_common(Response& r);
    std::string url(std::string_view path) const { return options_.base_url + std::string(path); }
    Time now() const { return options_.clock ? options_.clock() : minica::now(); }

    CaDirectory& ca_;
    AcmeStore& store_;
    Authority authority_;
    Validator& validator_;
    ServiceOptions options_;
    NonceBook nonces_;
    std::string chain_pem_;  // the intermediates a leaf sends, PEM

    std::mutex ca_mutex_;
    // Account keys as parsed (EVP_PKEY_fromdata per request was an eighth
    // of a request's CPU): by account id, with the JWK text they came from.
    std::mutex keys_mutex_;
    std::map<Id, std::pair<std::string, Jwk>> keys_;
    // Validations running in this process (authz -> challenge), and who
    // waits for their result; a challenge POST checks both under the mutex.
    std::mutex waiters_mutex_;
    std::map<Id, ChallengeType> running_;
    std::map<Id, std::vector<std::function<void()>>> waiters_;  // authz -> callbacks
};

}  // namespace minica::acme
