#include "minica/acme/service.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "minica/acme/ari.hpp"
#include "minica/acme/jose.hpp"
#include "minica/csr.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/log.hpp"
#include "minica/names.hpp"
#include "minica/text.hpp"

#include <spdlog/spdlog.h>

namespace minica::acme {

namespace {

// A refusal on its way to the client: thrown by the handlers, answered by
// handle() as a problem document.
struct Refusal {
    Problem problem;
};

[[noreturn]] void refuse(ProblemType type, std::string detail) { throw Refusal{Problem::make(type, std::move(detail))}; }
[[noreturn]] void refuse(ProblemType type, int status, std::string detail) {
    Problem p = Problem::make(type, std::move(detail));
    p.status = status;
    throw Refusal{std::move(p)};
}
[[noreturn]] void not_found(std::string what) { refuse(ProblemType::malformed, 404, std::move(what) + " not found"); }

constexpr std::size_t max_identifiers = 100;
constexpr std::size_t max_contacts = 4;
constexpr const char* jose_type = "application/jose+json";

// "/acme/order/12" with prefix "/acme/order/" -> "12"; the rest must be a
// positive decimal id without leading zeros.
std::optional<Id> parse_id(std::string_view text) {
    if (text.empty() || text.size() > 18 || text[0] == '0') return std::nullopt;
    Id id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
    return id;
}

nlohmann::json parse_payload(const std::string& payload) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) refuse(ProblemType::malformed, "the JWS payload is not a JSON object");
    return j;
}

std::string identifiers_text(const std::vector<Identifier>& ids) {
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id.value;
    return out;
}


}  // namespace

std::string Response::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

struct AcmeService::Verified {
    Jws jws;
    std::optional<Account> account;  // set for a kid JWS
    Jwk key;                         // the key that signed it
    std::string target;
};

AcmeService::AcmeService(CaDirectory& ca, Authority authority, Validator& validator, ServiceOptions options)
    : ca_(ca),
      store_(ca.inventory().acme()),
      authority_(std::move(authority)),
      validator_(validator),
      options_(std::move(options)) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
    for (const auto& c : authority_.intermediates()) chain_pem_ += c.to_pem();
}

// --- plumbing -------------------------------------------------------------

void AcmeService::add_common(Response& r) {
    r.headers.emplace_back("Replay-Nonce", nonces_.issue());
    r.headers.emplace_back("Link", "<" + url("/directory") + ">;rel=\"index\"");
    r.headers.emplace_back("Cache-Control", "no-store");
}

Response AcmeService::json_response(int status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body.dump();
    add_common(r);
    return r;
}

Response AcmeService::problem_response(const Problem& p) {
    Response r;
    r.status = p.status;
    r.headers.emplace_back("Content-Type", "application/problem+json");
    r.body = p.to_json().dump();
    add_common(r);
    return r;
}

Response AcmeService::handle(const Request& request) {
    try {
        return dispatch(request);
    } catch (const Refusal& r) {
        // Why, beside the access line: an operator tells refusals apart.
        logger()->info("acme: refused {} {}: {}: {}", request.method, escape(request.target), name(r.problem.type),
                       escape(r.problem.detail));
        return problem_response(r.problem);
    } catch (const Error& e) {
        Problem p = problem_from(e);
        if (p.type == ProblemType::server_internal)
            logger()->error("acme: {} {}: {}", request.method, escape(request.target), e.what());
        else
            logger()->info("acme: refused {} {}: {}: {}", request.method, escape(request.target), name(p.type),
                           escape(p.detail));
        return problem_response(p);
    } catch (const std::exception& e) {
        logger()->error("acme: {} {}: {}", request.method, escape(request.target), e.what());
        return problem_response(Problem::make(ProblemType::server_internal, "internal error"));
    }
}

Response AcmeService::dispatch(const Request& req) {
    const std::string& t = req.target;
    auto method_not_allowed = [&](const char* allow) {
        Problem p = Problem::make(ProblemType::malformed, req.method + " is not allowed on " + t);
        p.status = 405;
        Response r = problem_response(p);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    // The three resources read with GET (or HEAD).
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (t == "/directory") return get ? directory() : method_not_allowed("GET, HEAD");
    if (t == "/acme/new-nonce") return get ? new_nonce(req) : method_not_allowed("GET, HEAD");
    if (t.starts_with("/acme/renewal-info/"))
        return get ? renewal_info(t.substr(std::string_view("/acme/renewal-info/").size()))
                   : method_not_allowed("GET, HEAD");
    // Everything else is a POST with a JWS (§6.2); GET is not allowed on
    // resources (POST-as-GET, §6.3).
    if (req.method != "POST") return method_not_allowed("POST");
    if (t == "/acme/new-account") return new_account(verify_post(req, KeyRule::jwk));
    if (t == "/acme/new-order") return new_order(verify_post(req, KeyRule::kid));
    if (t == "/acme/revoke-cert") return revoke_cert(verify_post(req, KeyRule::either));
    if (t == "/acme/key-change") return key_change(verify_post(req, KeyRule::kid));
    auto tail = [&](std::string_view prefix) { return std::string_view(t).substr(prefix.size()); };
    // "<prefix><id>" or "<prefix><id><suffix>": the id, and whether the
    // suffix was there; 404 for anything else.
    auto id_in = [&](std::string_view prefix, std::string_view suffix, const char* what) {
        std::string_view rest = tail(prefix);
        const bool with = !suffix.empty() && rest.ends_with(suffix);
        if (with) rest.remove_suffix(suffix.size());
        auto id = parse_id(rest);
        if (!id) not_found(what + (" " + t));
        return std::pair{*id, with};
    };
    if (t.starts_with("/acme/acct/")) {
        auto [id, orders] = id_in("/acme/acct/", "/orders", "account");
        Verified v = verify_post(req, KeyRule::kid);
        return orders ? account_orders(v, id) : account(v, id);
    }
    if (t.starts_with("/acme/order/")) {
        auto [id, fin] = id_in("/acme/order/", "/finalize", "order");
        Verified v = verify_post(req, KeyRule::kid);
        return fin ? finalize(v, id) : order(v, id);
    }
    if (t.starts_with("/acme/authz/")) return authz(verify_post(req, KeyRule::kid), id_in("/acme/authz/", "", "authorization").first);
    if (t.starts_with("/acme/chall/")) {
        std::string_view rest = tail("/acme/chall/");
        auto slash = rest.find('/');
        if (slash == std::string_view::npos) not_found("challenge " + t);
        auto id = parse_id(rest.substr(0, slash));
        std::optional<ChallengeType> type;
        try {
            type = parse_challenge_type(rest.substr(slash + 1));
        } catch (const Error&) {
        }
        if (!id || !type) not_found("challenge " + t);
        return challenge(verify_post(req, KeyRule::kid), *id, *type);
    }
    if (t.starts_with("/acme/cert/")) {
        std::string serial(tail("/acme/cert/"));
        return certificate(verify_post(req, KeyRule::kid), serial);
    }
    not_found("resource " + quote(t));
}

Response AcmeService::directory() const {
    nlohmann::json meta = {{"externalAccountRequired", options_.eab_required}};
    if (options_.terms_of_service) meta["termsOfService"] = *options_.terms_of_service;
    nlohmann::json d = {
        {"newNonce", url("/acme/new-nonce")},   {"newAccount", url("/acme/new-account")},
        {"newOrder", url("/acme/new-order")},   {"revokeCert", url("/acme/revoke-cert")},
        {"keyChange", url("/acme/key-change")}, {"renewalInfo", url("/acme/renewal-info")},
        {"meta", meta},
    };
    // No nonce here: the directory is the one resource a client may cache.
    Response r;
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Cache-Control", "public, max-age=0, no-cache");
    r.body = d.dump();
    return r;
}

Response AcmeService::new_nonce(const Request& req) {
    Response r;
    r.status = req.method == "HEAD" ? 200 : 204;  // §7.2
    add_common(r);
    return r;
}

// --- the JWS checks (PLAN.md §3) -----------------------------------------

AcmeService::Verified AcmeService::verify_post(const Request& req, KeyRule rule) {
    if (req.content_type != jose_type)
        refuse(ProblemType::malformed, 415, "Content-Type must be " + std::string(jose_type));
    Jws jws;
    try {
        jws = Jws::parse(req.body);
    } catch (const Error& e) {
        throw Refusal{problem_from(e, e.kind() == ErrorKind::invalid_argument ? ProblemContext::key
                                                                               : ProblemContext::request)};
    }
    if (!jws.alg) {
        Problem p = Problem::make(ProblemType::bad_signature_algorithm,
                                  "JWS algorithm " + quote(jws.alg_name) + " is not accepted");
        p.algorithms = {"ES256", "ES384", "RS256", "EdDSA"};
        throw Refusal{std::move(p)};
    }
    if (jws.url != url(req.target))
        refuse(ProblemType::unauthorized, "the JWS url " + quote(jws.url) + " is not this request's " +
                                              quote(url(req.target)));
    std::optional<Account> account;
    std::optional<Jwk> key;
    if (jws.jwk) {
        if (rule == KeyRule::kid)
            refuse(ProblemType::malformed, "this request must be signed by an account (\"kid\"), not a \"jwk\"");
        key = *jws.jwk;
    } else {
        if (rule == KeyRule::jwk) refuse(ProblemType::malformed, "this request must carry its key as \"jwk\"");
        const std::string prefix = url("/acme/acct/");
        std::optional<Id> id;
        if (jws.kid->starts_with(prefix)) id = parse_id(std::string_view(*jws.kid).substr(prefix.size()));
        if (id) account = store_.find_account(*id);
        if (!account) refuse(ProblemType::account_does_not_exist, "no account " + quote(*jws.kid));
        if (account->status != AccountStatus::valid)
            refuse(ProblemType::unauthorized, "account " + quote(*jws.kid) + " is " +
                                                  std::string(to_string(account->status)));
        key = account_key(*account);
    }
    if (!key->fits(*jws.alg))
        refuse(ProblemType::bad_public_key, "JWS algorithm " + jws.alg_name + " does not fit the key");
    if (!verify(jws, *key)) refuse(ProblemType::malformed, "the JWS signature does not verify");
    if (!jws.nonce || !nonces_.consume(*jws.nonce))
        refuse(ProblemType::bad_nonce, "the nonce is unknown, used or expired; retry with the one in Replay-Nonce");
    return Verified{std::move(jws), std::move(account), std::move(*key), req.target};
}

Account AcmeService::current_account(Id id) {
    auto a = store_.find_account(id);
    if (!a) refuse(ProblemType::account_does_not_exist, "no account " + std::to_string(id));
    if (a->status != AccountStatus::valid)
        refuse(ProblemType::unauthorized, "account " + std::to_string(id) + " is " + std::string(to_string(a->status)));
    return *a;
}

Response AcmeService::account_response(int status, const Account& a) {
    Response r = json_response(status, account_json(a));
    r.headers.emplace_back("Location", url("/acme/acct/" + std::to_string(a.id)));
    return r;
}

OrderStatus AcmeService::current_status(const Order& o, const std::vector<Authz>& authzs) const {
    std::vector<AuthzStatus> st;
    for (const auto& a : authzs) st.push_back(effective_status(a.status, a.expires, now()));
    return order_status(o.status, o.expires, st, now());
}

Jwk AcmeService::account_key(const Account& a) {
    std::lock_guard lock(keys_mutex_);
    auto it = keys_.find(a.id);
    if (it != keys_.end() && it->second.first == a.jwk) return it->second.second;
    Jwk key = Jwk::parse(std::string_view(a.jwk));
    if (keys_.size() >= 4096) keys_.clear();  // bounded; a miss costs one parse
    keys_.insert_or_assign(a.id, std::pair<std::string, Jwk>(a.jwk, key));
    return key;
}

// --- accounts -------------------------------------------------------------

nlohmann::json AcmeService::account_json(const Account& a) const {
    nlohmann::json j = {{"status", to_string(a.status)},
                        {"contact", a.contact},
                        {"orders", url("/acme/acct/" + std::to_string(a.id) + "/orders")}};
    if (options_.terms_of_service) j["termsOfServiceAgreed"] = true;
    if (a.eab_kid) j["externalAccountBinding"] = {{"kid", *a.eab_kid}};
    return j;
}

namespace {

std::vector<std::string> check_contacts(const nlohmann::json& j) {
    if (!j.is_array()) refuse(ProblemType::malformed, "\"contact\" must be an array of URLs");
    if (j.size() > max_contacts)
        refuse(ProblemType::invalid_contact, "at most " + std::to_string(max_contacts) + " contacts");
    std::vector<std::string> out;
    for (const auto& c : j) {
        if (!c.is_string()) refuse(ProblemType::malformed, "\"contact\" must be an array of URLs");
        const std::string s = c.get<std::string>();
        if (!s.starts_with("mailto:"))
            refuse(ProblemType::unsupported_contact, "contact " + quote(s) + ": only mailto: URLs are supported");
        const std::string addr = s.substr(7);
        bool ok = false;
        try {
            ok = addr.find_first_of(",?%") == std::string::npos && parse_identity(addr).kind == NameKind::email;
        } catch (const Error&) {
        }
        if (!ok) refuse(ProblemType::invalid_contact, "contact " + quote(s) + " is not one email address");
        out.push_back(s);
    }
    return out;
}

}  // namespace

Response AcmeService::new_account(const Verified& v) {
    nlohmann::json p = parse_payload(v.jws.payload);
    const std::string thumbprint = v.key.thumbprint();
    if (auto existing = store_.find_account_by_thumbprint(thumbprint)) {
        if (existing->status != AccountStatus::valid)
            refuse(ProblemType::unauthorized, "the account of this key is " + std::string(to_string(existing->status)));
        Response r = json_response(200, account_json(*existing));
        r.headers.emplace_back("Location", url("/acme/acct/" + std::to_string(existing->id)));
        return r;
    }
    if (p.value("onlyReturnExisting", false)) refuse(ProblemType::account_does_not_exist, "no account for this key");
    if (options_.terms_of_service && !p.value("termsOfServiceAgreed", false))
        refuse(ProblemType::user_action_required, "agree to the terms of service " + *options_.terms_of_service);
    Account a;
    a.thumbprint = thumbprint;
    a.spki_sha256 = detail::sha256_hex(v.key.spki_der());
    a.jwk = v.key.to_json().dump();
    a.status = AccountStatus::valid;
    if (p.contains("contact")) a.contact = check_contacts(p["contact"]);
    a.created_at = now();

    std::optional<std::string> eab_kid;
    if (p.contains("externalAccountBinding")) {
        // RFC 8555 §7.3.4: a JWS whose payload is the account key, MACed
        // with the key the CA handed out, for this very URL.
        const auto& e = p["externalAccountBinding"];
        Jws inner;
        try {
            inner = Jws::parse(e.is_object() ? e.dump() : std::string("null"));
        } catch (const Error&) {
            // Jws::parse wants a kid or a jwk: an EAB has a kid.
            refuse(ProblemType::malformed, "externalAccountBinding is not a JWS");
        }
        if (!inner.kid || inner.nonce || inner.url != v.jws.url)
            refuse(ProblemType::malformed,
                   "externalAccountBinding: its protected header needs \"kid\" and this URL, and no nonce");
        if (inner.alg_name != "HS256" && inner.alg_name != "HS384" && inner.alg_name != "HS512")
            refuse(ProblemType::bad_signature_algorithm, "externalAccountBinding must be HS256, HS384 or HS512");
        std::optional<Jwk> bound;
        try {
            bound = Jwk::parse(std::string_view(inner.payload));
        } catch (const Error&) {
        }
        if (!bound || bound->thumbprint() != thumbprint)
            refuse(ProblemType::bad_public_key, "externalAccountBinding does not bind this account's key");
        // The MAC first: without the key, nobody learns whether a kid is bound.
        auto key = store_.find_eab(*inner.kid);
        if (!key || !hmac_verify(inner, key->hmac_key))
            refuse(ProblemType::unauthorized, "externalAccountBinding: unknown key id, or the MAC does not verify");
        if (key->used_at) refuse(ProblemType::unauthorized, "externalAccountBinding: this key id is bound already");
        eab_kid = *inner.kid;
    } else if (options_.eab_required) {
        refuse(ProblemType::external_account_required, "this server requires an external account binding");
    }
    a.eab_kid = eab_kid;
    try {
        store_.transaction([&] {
            store_.insert_account(a);
            if (eab_kid) store_.bind_eab(*eab_kid, a.id, a.created_at);
        });
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::exists) throw;
        // A racing newAccount with the same key won, or the EAB key was used meanwhile.
        if (auto existing = store_.find_account_by_thumbprint(thumbprint)) return account_response(200, *existing);
        refuse(ProblemType::unauthorized, "externalAccountBinding: the key id was used meanwhile");
    }
    logger()->info("acme: new account {} ({})", a.id, a.contact.empty() ? "no contact" : a.contact.front());
    return account_response(201, a);
}

Response AcmeService::account(const Verified& v, Id id) {
    Account a = *v.account;
    if (a.id != id) refuse(ProblemType::unauthorized, "this is not the signing account's URL");
    if (!v.jws.payload.empty()) {
        nlohmann::json p = parse_payload(v.jws.payload);
        std::optional<std::vector<std::string>> contact;
        if (p.contains("contact")) contact = check_contacts(p["contact"]);
        const bool deactivate = p.contains("status");
        if (deactivate && p["status"] != "deactivated")
            refuse(ProblemType::malformed, "an account's status can only be set to \"deactivated\"");
        if (contact || deactivate) {
            // On the row as it is now, not as the JWS check read it: a key
            // change or a deactivation committed meanwhile stays.
            store_.transaction([&] {
                a = current_account(id);
                if (contact) a.contact = *contact;
                if (deactivate) a.status = AccountStatus::deactivated;
                store_.update_account(a);
            });
            logger()->info("acme: account {} updated ({})", a.id, to_string(a.status));
        }
    }
    return account_response(200, a);
}

Response AcmeService::account_orders(const Verified& v, Id id) {
    if (v.account->id != id) refuse(ProblemType::unauthorized, "this is not the signing account's orders URL");
    nlohmann::json list = nlohmann::json::array();
    for (Id o : store_.orders_of(id)) list.push_back(url("/acme/order/" + std::to_string(o)));
    return json_response(200, {{"orders", list}});
}

Response AcmeService::key_change(const Verified& v) {
    // §7.3.5: the payload is a JWS by the new key over {account, oldKey}.
    Jws inner;
    try {
        inner = Jws::parse(v.jws.payload);
    } catch (const Error& e) {
        throw Refusal{problem_from(e, e.kind() == ErrorKind::invalid_argument ? ProblemContext::key
                                                                               : ProblemContext::request)};
    }
    if (!inner.jwk) refuse(ProblemType::malformed, "key change: the inner JWS must carry the new key as \"jwk\"");
    if (inner.nonce) refuse(ProblemType::malformed, "key change: the inner JWS must have no nonce");
    if (inner.url != v.jws.url) refuse(ProblemType::malformed, "key change: the inner JWS url differs from the outer");
    if (!inner.alg) refuse(ProblemType::bad_signature_algorithm, "key change: algorithm " + quote(inner.alg_name));
    if (!inner.jwk->fits(*inner.alg)) refuse(ProblemType::bad_public_key, "key change: algorithm does not fit the new key");
    if (!verify(inner, *inner.jwk)) refuse(ProblemType::malformed, "key change: the inner signature does not verify");
    nlohmann::json p = parse_payload(inner.payload);
    Account a = *v.account;
    const std::string acct_url = url("/acme/acct/" + std::to_string(a.id));
    if (!p.contains("account") || p["account"] != acct_url)
        refuse(ProblemType::malformed, "key change: \"account\" must be " + acct_url);
    std::optional<Jwk> old;
    try {
        if (p.contains("oldKey")) old = Jwk::parse(p["oldKey"]);
    } catch (const Error&) {
    }
    auto check_old = [&](const Account& now) {
        if (!old || old->thumbprint() != now.thumbprint)
            refuse(ProblemType::malformed, "key change: \"oldKey\" is not the account's current key");
    };
    check_old(a);
    const std::string new_tp = inner.jwk->thumbprint();
    if (auto other = store_.find_account_by_thumbprint(new_tp)) {
        Problem pr = Problem::make(ProblemType::malformed, "key change: the new key is already an account's key");
        pr.status = 409;
        Response r = problem_response(pr);
        r.headers.emplace_back("Location", url("/acme/acct/" + std::to_string(other->id)));
        return r;
    }
    try {
        // On the row as it is now: a deactivation or another key change
        // committed meanwhile is not undone.
        store_.transaction([&] {
            a = current_account(a.id);
            check_old(a);
            a.thumbprint = new_tp;
            a.spki_sha256 = detail::sha256_hex(inner.jwk->spki_der());
            a.jwk = inner.jwk->to_json().dump();
            store_.update_account(a);
        });
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::exists) throw;
        refuse(ProblemType::malformed, 409, "key change: the new key is already an account's key");
    }
    logger()->info("acme: account {} changed its key", a.id);
    return account_response(200, a);
}

// --- orders and authorizations --------------------------------------------

nlohmann::json AcmeService::challenge_json(const Authz& a, ChallengeType type) const {
    ChallengeStatus st = ChallengeStatus::pending;
    if (a.challenge == type) st = a.challenge_status;
    nlohmann::json j = {{"type", to_string(type)},
                        {"url", url("/acme/chall/" + std::to_string(a.id) + "/" + std::string(to_string(type)))},
                        {"status", to_string(st)},
                        {"token", a.token}};
    if (a.challenge == type) {
        if (a.validated) j["validated"] = format_time(*a.validated);
        if (a.error) j["error"] = nlohmann::json::parse(*a.error, nullptr, false);
        if (a.record) j["validationRecord"] = nlohmann::json::parse(*a.record, nullptr, false);
    }
    return j;
}

nlohmann::json AcmeService::authz_json(const Authz& a) const {
    nlohmann::json challenges = nlohmann::json::array();
    for (ChallengeType t : offered_challenges(a.identifier.type, a.wildcard)) {
        // Once a challenge was answered, a valid authorization lists only
        // that one (§7.1.4: "the challenge that was used").
        if (a.status == AuthzStatus::valid && a.challenge && *a.challenge != t) continue;
        challenges.push_back(challenge_json(a, t));
    }
    nlohmann::json j = {{"identifier", a.identifier.to_json()},
                        {"status", to_string(effective_status(a.status, a.expires, now()))},
                        {"expires", format_time(a.expires)},
                        {"challenges", challenges}};
    if (a.wildcard) j["wildcard"] = true;
    return j;
}

nlohmann::json AcmeService::order_json(const Order& o, const std::vector<Authz>& authzs) const {
    nlohmann::json urls = nlohmann::json::array();
    for (const auto& a : authzs) urls.push_back(url("/acme/authz/" + std::to_string(a.id)));
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& id : o.identifiers) ids.push_back(id.to_json());
    const OrderStatus status = current_status(o, authzs);
    nlohmann::json j = {{"status", to_string(status)},
                        {"expires", format_time(o.expires)},
                        {"identifiers", ids},
                        {"authorizations", urls},
                        {"finalize", url("/acme/order/" + std::to_string(o.id) + "/finalize")}};
    if (o.cert_serial) j["certificate"] = url("/acme/cert/" + *o.cert_serial);
    if (o.replaces) j["replaces"] = *o.replaces;
    if (o.error) {
        j["error"] = nlohmann::json::parse(*o.error, nullptr, false);
    } else if (status == OrderStatus::invalid) {
        for (const auto& a : authzs)
            if (a.error) {
                j["error"] = nlohmann::json::parse(*a.error, nullptr, false);
                break;
            }
    }
    return j;
}

Response AcmeService::new_order(const Verified& v) {
    nlohmann::json p = parse_payload(v.jws.payload);
    const Account& acct = *v.account;
    if (p.contains("notBefore") || p.contains("notAfter"))
        refuse(ProblemType::malformed, "notBefore and notAfter are not supported: the CA's policy sets the validity");
    if (!p.contains("identifiers") || !p["identifiers"].is_array() || p["identifiers"].empty())
        refuse(ProblemType::malformed, "an order needs a non-empty \"identifiers\" array");
    if (p["identifiers"].size() > max_identifiers)
        refuse(ProblemType::rejected_identifier, "at most " + std::to_string(max_identifiers) + " identifiers per order");
    std::set<Identifier> ids;
    std::vector<Problem> sub;
    const Policy policy = [&] {
        auto lock = lock_ca();
        return ca_.policy();
    }();
    for (const auto& j : p["identifiers"]) {
        Identifier id;
        try {
            id = parse_identifier(j);
        } catch (const Error& e) {
            const std::string type = j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
            Problem s = Problem::make(type == "dns" || type == "ip" ? ProblemType::rejected_identifier
                                                                    : ProblemType::unsupported_identifier,
                                      e.what());
            if (j.is_object() && j.contains("value") && j["value"].is_string())
                s.identifier = ProblemIdentifier{type, j["value"].get<std::string>()};
            sub.push_back(std::move(s));
            continue;
        }
        // The CA's policy and name constraints, per name, so the client
        // learns every name refused at once (§6.7.1 subproblems).
        try {
            SubjectAltNames sans;
            sans.add(id.value);
            policy.check_names(sans);
            authority_.check_names(sans);
        } catch (const Error& e) {
            Problem s = problem_from(e, ProblemContext::identifier);
            s.identifier = ProblemIdentifier{std::string(to_string(id.type)), id.value};
            sub.push_back(std::move(s));
            continue;
        }
        ids.insert(std::move(id));
    }
    if (!sub.empty()) {
        const bool unsupported = std::all_of(sub.begin(), sub.end(), [](const Problem& s) {
            return s.type == ProblemType::unsupported_identifier;
        });
        Problem pr = Problem::make(sub.size() == 1 ? sub.front().type
                                   : unsupported   ? ProblemType::unsupported_identifier
                                                   : ProblemType::rejected_identifier,
                                   sub.size() == 1 ? sub.front().detail
                                                   : std::to_string(sub.size()) + " identifiers refused");
        if (sub.size() > 1) pr.subproblems = std::move(sub);
        else pr.identifier = sub.front().identifier;
        throw Refusal{std::move(pr)};
    }

    Order o;
    o.account_id = acct.id;
    o.status = OrderStatus::pending;
    o.created_at = now();
    o.expires = o.created_at + options_.order_lifetime;
    o.identifiers.assign(ids.begin(), ids.end());

    if (p.contains("replaces")) {
        // RFC 9773 §5: the certificate this order replaces, by certID.
        if (!p["replaces"].is_string()) refuse(ProblemType::malformed, "\"replaces\" must be a certID string");
        CertId cid;
        try {
            cid = parse_cert_id(p["replaces"].get<std::string>());
        } catch (const Error& e) {
            refuse(ProblemType::malformed, e.what());
        }
        if (cid.key_identifier != authority_.certificate().key_identifier())
            refuse(ProblemType::malformed, "\"replaces\" names a certificate of another CA");
        auto rec = ca_.inventory().find(cid.serial_hex);
        if (!rec) refuse(ProblemType::malformed, "\"replaces\" names no certificate this CA issued");
        if (store_.certificate_account(rec->serial_hex) != acct.id)
            refuse(ProblemType::unauthorized, "\"replaces\" names a certificate of another account");
        bool shares = false;
        for (const auto& n : rec->names)
            for (const auto& id : o.identifiers) shares = shares || n == id.value;
        if (!shares) refuse(ProblemType::malformed, "\"replaces\" names a certificate with none of these identifiers");
        o.replaces = p["replaces"].get<std::string>();
    }

    std::vector<Authz> authzs;
    try {
        store_.transaction([&] {
            store_.insert_order(o);
            for (const auto& id : o.identifiers) {
                Authz a;
                a.order_id = o.id;
                a.account_id = acct.id;
                a.wildcard = is_wildcard(id);
                a.identifier = {id.type, base_name(id)};
                a.status = AuthzStatus::pending;
                a.expires = o.expires;
                a.token = new_token();
                store_.insert_authz(a);
                authzs.push_back(std::move(a));
            }
        });
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::exists && o.replaces)
            refuse(ProblemType::already_replaced, "the certificate " + *o.replaces + " is already replaced by another order");
        throw;
    }
    logger()->info("acme: account {} order {} for {}", acct.id, o.id, identifiers_text(o.identifiers));
    Response r = json_response(201, order_json(o, authzs));
    r.headers.emplace_back("Location", url("/acme/order/" + std::to_string(o.id)));
    return r;
}

Response AcmeService::order(const Verified& v, Id id) {
    auto o = store_.find_order(id);
    if (!o || o->account_id != v.account->id) not_found("order " + std::to_string(id));
    Response r = json_response(200, order_json(*o, store_.authzs_of(id)));
    r.headers.emplace_back("Location", url("/acme/order/" + std::to_string(id)));
    return r;
}

Response AcmeService::authz(const Verified& v, Id id) {
    auto a = store_.find_authz(id);
    if (!a || a->account_id != v.account->id) not_found("authorization " + std::to_string(id));
    if (!v.jws.payload.empty()) {
        nlohmann::json p = parse_payload(v.jws.payload);
        if (p.contains("status")) {
            if (p["status"] != "deactivated")
                refuse(ProblemType::malformed, "an authorization's status can only be set to \"deactivated\"");
            // On the row as it is now: a validation's result committed
            // meanwhile is not undone.
            store_.transaction([&] {
                a = store_.find_authz(id);
                const AuthzStatus st = effective_status(a->status, a->expires, now());
                if (st != AuthzStatus::pending && st != AuthzStatus::valid)
                    refuse(ProblemType::malformed, "the authorization is " + std::string(to_string(st)));
                a->status = AuthzStatus::deactivated;
                store_.update_authz(*a);
            });
        }
    }
    return json_response(200, authz_json(as_answered(*a)));
}

Response AcmeService::challenge(const Verified& v, Id authz_id, ChallengeType type) {
    auto a = store_.find_authz(authz_id);
    if (!a || a->account_id != v.account->id) not_found("challenge");
    const auto offered = offered_challenges(a->identifier.type, a->wildcard);
    if (std::find(offered.begin(), offered.end(), type) == offered.end()) not_found("challenge");
    bool running = false, start = false;
    if (!v.jws.payload.empty()) {
        parse_payload(v.jws.payload);  // "{}" (§7.5.1); its members are ignored
        // Checked on the row as it is now and on what runs here, under the
        // mutex validated() takes after its commit: of two POSTs at once, one
        // starts the validation.
        std::lock_guard lock(waiters_mutex_);
        a = store_.find_authz(authz_id);
        if (!a) not_found("challenge");
        auto it = running_.find(a->id);
        // A POST to this challenge while it runs waits for it too; one to
        // another challenge of the authorization answers at once.
        running = it != running_.end() && it->second == type;
        if (it == running_.end() && effective_status(a->status, a->expires, now()) == AuthzStatus::pending &&
            !a->challenge) {
            running_.emplace(a->id, type);
            running = start = true;
        }
    }
    if (start) {
        start_validation(*a, type, v.account->thumbprint);
        // Not taken (the validator's queue is full, or it is stopping):
        // nothing changed, and the client is told to come back.
        std::lock_guard lock(waiters_mutex_);
        if (!running_.count(a->id)) {
            a = store_.find_authz(authz_id);
            if (a && !a->challenge)
                refuse(ProblemType::rate_limited, "too many validations in progress; retry later");
        }
    }
    // Held (never sent as is: the transport answers held_answer()), its body
    // says what the validation is; any other answer commits what it shows.
    Response r = json_response(200, challenge_json(running ? with_running(*a) : as_answered(*a), type));
    r.headers.emplace_back("Link", "<" + url("/acme/authz/" + std::to_string(a->id)) + ">;rel=\"up\"");
    if (running) {
        r.await_authz = a->id;
        r.await_type = type;
    }
    return r;
}

void AcmeService::start_validation(const Authz& a, ChallengeType type, const std::string& thumbprint) {
    // The caller put a.id in running_: if nothing starts (an exception
    // before `done` is handed over), it comes out again.
    try {
        ValidationTask task{a.id, a.identifier, type, a.token, key_authorization(a.token, thumbprint)};
        logger()->info("acme: validating {} {} for authorization {}", to_string(type), a.identifier.value, a.id);
        // Called without waiters_mutex_: `done` may run at once, in this
        // thread (a validator shutting down or full).
        validator_.submit(std::move(task), [this, id = a.id, type](ValidationResult res) {
            if (res.no_outcome) {
                // No outcome: the row stays as it is (pending: the client
                // retries the POST it got no answer to; processing: a restart
                // resumes). The server stopping has answered its held POSTs
                // already: their callbacks are dropped here, not run (they
                // would post to an io_context that no longer runs, and the
                // sessions they hold would outlive the server).
                std::vector<std::function<void()>> dropped;
                {
                    std::lock_guard lock(waiters_mutex_);
                    running_.erase(id);
                    if (auto it = waiters_.find(id); it != waiters_.end()) {
                        dropped = std::move(it->second);
                        waiters_.erase(it);
                    }
                }
                return;
            }
            validated(id, type, res);
        });
    } catch (...) {
        std::lock_guard lock(waiters_mutex_);
        running_.erase(a.id);
        throw;
    }
}

Authz AcmeService::as_answered(Authz a) {
    if (a.challenge) return a;
    std::optional<ChallengeType> running;
    {
        std::lock_guard lock(waiters_mutex_);
        if (auto it = running_.find(a.id); it != running_.end()) running = it->second;
    }
    if (!running) return a;
    // Not under the mutex (a commit waits for the disk, and maybe for another
    // process): validated() may record the result meanwhile, and then the
    // row has its challenge and nothing is written here.
    store_.transaction([&] {
        auto now_row = store_.find_authz(a.id);
        if (!now_row) return;
        if (!now_row->challenge) {
            now_row->challenge = *running;
            now_row->challenge_status = ChallengeStatus::processing;
            store_.update_authz(*now_row);
        }
        a = std::move(*now_row);
    });
    return a;
}

Authz AcmeService::with_running(Authz a) {
    if (a.challenge) return a;
    std::lock_guard lock(waiters_mutex_);
    if (auto it = running_.find(a.id); it != running_.end()) {
        a.challenge = it->second;
        a.challenge_status = ChallengeStatus::processing;
    }
    return a;
}

void AcmeService::validated(Id authz_id, ChallengeType type, const ValidationResult& result) {
    try {
        store_.transaction([&] {
            auto a = store_.find_authz(authz_id);
            // Recorded once: on the challenge left processing (an answer said
            // so, or a restart resumed it), or on a row that has none yet.
            if (!a || (a->challenge && (*a->challenge != type || a->challenge_status != ChallengeStatus::processing)))
                return;
            a->challenge = type;
            a->challenge_status = result.valid ? ChallengeStatus::valid : ChallengeStatus::invalid;
            // The challenge's result is recorded; the authorization takes it
            // only while pending (one deactivated meanwhile stays so, §7.5.2).
            if (a->status == AuthzStatus::pending) a->status = result.valid ? AuthzStatus::valid : AuthzStatus::invalid;
            a->validated = now();
            a->record = result.record.dump();
            if (!result.valid) {
                Problem p = result.problem.value_or(Problem::make(ProblemType::unauthorized, "validation failed"));
                a->error = p.to_json().dump();
            }
            store_.update_authz(*a);
            logger()->info("acme: authorization {} ({}) is {}{}", a->id, a->identifier.value, to_string(a->status),
                           result.valid || !result.problem ? "" : ": " + result.problem->detail);
        });
    } catch (const std::exception& e) {
        // Not recorded: a row left processing is validated again at restart;
        // one still pending takes the client's next POST.
        try {
            logger()->error("acme: recording the validation of authorization {}: {}", authz_id, e.what());
        } catch (...) {  // running_ must still lose the entry below
        }
    }
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard lock(waiters_mutex_);
        running_.erase(authz_id);
        auto it = waiters_.find(authz_id);
        if (it != waiters_.end()) {
            fns = std::move(it->second);
            waiters_.erase(it);
        }
    }
    for (auto& fn : fns) fn();
}

void AcmeService::when_validated(Id authz_id, std::function<void()> fn) {
    {
        std::lock_guard lock(waiters_mutex_);
        if (running_.count(authz_id)) {
            waiters_[authz_id].push_back(std::move(fn));
            return;
        }
    }
    fn();
}

Response AcmeService::held_answer(Id authz_id, ChallengeType type) {
    try {
        auto a = store_.find_authz(authz_id);
        if (!a) not_found("challenge");
        Response r = json_response(200, challenge_json(as_answered(*a), type));
        r.headers.emplace_back("Link", "<" + url("/acme/authz/" + std::to_string(a->id)) + ">;rel=\"up\"");
        return r;
    } catch (const Refusal& r) {
        return problem_response(r.problem);
    } catch (const Error& e) {
        return problem_response(problem_from(e));
    }
}

std::size_t AcmeService::resume_validations() {
    std::size_t n = 0;
    for (const Authz& a : store_.processing_authzs()) {
        auto acct = store_.find_account(a.account_id);
        if (!acct || !a.challenge) continue;
        {
            std::lock_guard lock(waiters_mutex_);
            if (!running_.emplace(a.id, *a.challenge).second) continue;
        }
        start_validation(a, *a.challenge, acct->thumbprint);
        ++n;
    }
    if (n) logger()->info("acme: resumed {} validation(s) left processing", n);
    return n;
}

// --- finalize, certificates, revocation -----------------------------------

Response AcmeService::finalize(const Verified& v, Id id) {
    auto o = store_.find_order(id);
    if (!o || o->account_id != v.account->id) not_found("order " + std::to_string(id));
    auto authzs = store_.authzs_of(id);
    auto check_ready = [&] {
        const OrderStatus status = current_status(*o, authzs);
        if (status != OrderStatus::ready)
            refuse(ProblemType::order_not_ready, "the order is " + std::string(to_string(status)) + ", not ready");
    };
    check_ready();
    nlohmann::json p = parse_payload(v.jws.payload);
    if (!p.contains("csr") || !p["csr"].is_string()) refuse(ProblemType::malformed, "finalize needs a \"csr\"");
    auto der = detail::base64url_decode(p["csr"].get<std::string>());
    if (!der) refuse(ProblemType::bad_csr, "the CSR is not base64url");
    std::optional<CertificateRequest> csr;
    try {
        csr = CertificateRequest::parse(*der, "the CSR");
        check_request(*csr, Profile::server);
    } catch (const Error& e) {
        throw Refusal{problem_from(e, ProblemContext::csr)};
    }
    const std::string spki = csr->public_key_der();
    if (store_.find_account_by_spki(detail::sha256_hex(spki)))
        refuse(ProblemType::bad_csr, "the CSR's key is an ACME account key");
    // The names: exactly the order's (§7.4), the CN (if any) among them.
    std::set<std::string> want, got;
    for (const auto& i : o->identifiers) want.insert(i.value);
    const SubjectAltNames names = csr->names();
    for (const auto& n : names.dns) got.insert(n);
    for (const auto& n : names.ip) got.insert(n.to_string());
    if (!names.email.empty() || !names.uri.empty())
        refuse(ProblemType::bad_csr, "the CSR asks for email or URI names, which an order cannot hold");
    const std::string cn = csr->common_name();
    if (!cn.empty() && !got.count(cn)) refuse(ProblemType::bad_csr, "the CSR's common name " + quote(cn) + " is not one of its names");
    if (got != want)
        refuse(ProblemType::bad_csr, "the CSR's names (" + join(std::vector<std::string>(got.begin(), got.end())) +
                                         ") are not the order's (" + identifiers_text(o->identifiers) + ")");
    IssueRequest req;
    req.csr = std::move(csr);
    req.profile = Profile::server;
    // ACME certificates are short-lived: 90 days unless told (Let's
    // Encrypt's), never past the policy's limit.
    const std::chrono::days acme_default{90};
    req.ca_passphrase = options_.ca_passphrase;
    const Id account_id = v.account->id;
    req.also = [&](Inventory&, const Certificate& cert) {
        // Inside the issuing transaction, on the order as it is now: of two
        // finalize requests at once, the second finds it valid and rolls
        // its certificate back.
        o = store_.find_order(id);
        if (!o) not_found("order " + std::to_string(id));
        authzs = store_.authzs_of(id);
        check_ready();
        // Commits with the certificate: an order is valid exactly when its
        // certificate is recorded.
        o->status = OrderStatus::valid;
        o->cert_serial = cert.serial_hex();
        store_.update_order(*o);
        store_.set_certificate_account(cert.serial_hex(), account_id);
    };
    try {
        auto lock = lock_ca();
        req.validity = options_.validity.value_or(std::min(acme_default, ca_.policy().max_validity));
        Issued issued = ca_.issue(req);
        logger()->info("acme: order {} issued {} for {}", o->id, issued.certificate.serial_hex(),
                       identifiers_text(o->identifiers));
    } catch (const Error& e) {
        Problem p = problem_from(e, ProblemContext::csr);
        if (p.type == ProblemType::server_internal) throw;  // handle() logs it with its cause
        throw Refusal{std::move(p)};
    }
    Response r = json_response(200, order_json(*o, authzs));
    r.headers.emplace_back("Location", url("/acme/order/" + std::to_string(o->id)));
    return r;
}

Response AcmeService::certificate(const Verified& v, const std::string& serial) {
    std::optional<InventoryRecord> rec;
    try {
        rec = ca_.inventory().find(serial);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::invalid_argument && e.kind() != ErrorKind::parse) throw;
    }
    if (!rec || store_.certificate_account(rec->serial_hex) != v.account->id) not_found("certificate " + quote(serial));
    Response r;
    r.status = 200;
    r.headers.emplace_back("Content-Type", "application/pem-certificate-chain");
    r.body = rec->pem + chain_pem_;
    add_common(r);
    return r;
}

Response AcmeService::revoke_cert(const Verified& v) {
    nlohmann::json p = parse_payload(v.jws.payload);
    if (!p.contains("certificate") || !p["certificate"].is_string())
        refuse(ProblemType::malformed, "revokeCert needs a \"certificate\"");
    auto der = detail::base64url_decode(p["certificate"].get<std::string>());
    if (!der) refuse(ProblemType::malformed, "the certificate is not base64url");
    std::optional<Certificate> cert;
    try {
        cert = Certificate::from_der(*der, "the certificate");
    } catch (const Error& e) {
        refuse(ProblemType::malformed, e.what());
    }
    int reason = 0;
    if (p.contains("reason")) {
        if (!p["reason"].is_number_integer()) refuse(ProblemType::bad_revocation_reason, "\"reason\" must be an integer");
        reason = p["reason"].get<int>();
    }
    // §7.6: the reasons a subscriber may give (RFC 5280 §5.3.1, without
    // certificateHold, removeFromCRL, privilegeWithdrawn and aACompromise).
    if (reason != 0 && reason != 1 && reason != 3 && reason != 4 && reason != 5)
        refuse(ProblemType::bad_revocation_reason, "revocation reason " + std::to_string(reason) +
                                                       " is not allowed (0, 1, 3, 4 or 5 are)");
    auto rec = ca_.inventory().find(cert->serial_hex());
    if (!rec || rec->fingerprint_sha256 != cert->fingerprint_sha256())
        not_found("certificate " + cert->serial_hex() + " of this CA");
    if (v.account) {
        bool allowed = store_.certificate_account(rec->serial_hex) == v.account->id;
        if (!allowed) {
            allowed = !rec->names.empty();
            const SubjectAltNames sans = cert->names();
            // "*.x" needs x's wildcard authorization (the store's rule).
            for (const auto& n : sans.dns) allowed = allowed && store_.has_valid_authz(v.account->id, {IdentifierType::dns, n}, now());
            for (const auto& n : sans.ip)
                allowed = allowed && store_.has_valid_authz(v.account->id, {IdentifierType::ip, n.to_string()}, now());
            if (!sans.email.empty() || !sans.uri.empty()) allowed = false;
        }
        if (!allowed) refuse(ProblemType::unauthorized, "this account may not revoke certificate " + rec->serial_hex);
    } else if (v.key.spki_der() != cert->public_key_der()) {
        refuse(ProblemType::unauthorized, "the JWS key is not the certificate's key");
    }
    if (rec->status == CertStatus::revoked) refuse(ProblemType::already_revoked, "certificate " + rec->serial_hex + " is already revoked");
    try {
        auto lock = lock_ca();
        ca_.revoke(rec->serial_hex, static_cast<RevocationReason>(reason), options_.ca_passphrase);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::policy) refuse(ProblemType::already_revoked, e.what());
        throw;
    }
    logger()->info("acme: revoked {} (reason {})", rec->serial_hex, reason);
    if (options_.on_revoked) options_.on_revoked();
    Response r;
    r.status = 200;
    add_common(r);
    return r;
}

Response AcmeService::renewal_info(const std::string& text) {
    CertId cid;
    try {
        cid = parse_cert_id(text);
    } catch (const Error& e) {
        refuse(ProblemType::malformed, e.what());
    }
    if (cid.key_identifier != authority_.certificate().key_identifier()) not_found("certificate " + quote(text));
    auto rec = ca_.inventory().find(cid.serial_hex);
    if (!rec) not_found("certificate " + quote(text));
    const RenewalWindow w = suggested_window(rec->not_before, rec->not_after, rec->status == CertStatus::revoked, now());
    Response r;
    r.status = 200;
    r.headers.emplace_back("Content-Type", "application/json");
    r.headers.emplace_back("Retry-After", "21600");
    r.body = to_json(w).dump();
    return r;
}

}  // namespace minica::acme
