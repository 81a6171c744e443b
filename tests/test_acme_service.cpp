// The ACME protocol through AcmeService::handle: a CA in a temporary
// directory, a scripted validator, JWS signed here with the library's keys.
// No sockets: every rule of the service is pinned here; the e2e suites
// show real clients agree.
#include <doctest/doctest.h>

#include <atomic>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <deque>
#include <latch>
#include <thread>
#include <mutex>
#include <string>
#include <vector>

#include "minica/acme/ari.hpp"
#include "minica/acme/jose.hpp"
#include "minica/acme/service.hpp"
#include "minica/ca_directory.hpp"
#include "minica/csr.hpp"
#include "minica/detail/ossl.hpp"
#include "minica/error.hpp"
#include "minica/key.hpp"
#include "minica/testing/ca.hpp"

using namespace minica;
using namespace minica::acme;
using nlohmann::json;
using detail::base64url_encode;

namespace {

const std::string base = "https://acme.test:14000";

// Validations wait here until the test decides their outcome.
class FakeValidator : public Validator {
public:
    struct Pending {
        ValidationTask task;
        std::function<void(ValidationResult)> done;
    };
    void submit(ValidationTask task, std::function<void(ValidationResult)> done) override {
        if (full) {  // as ThreadedValidator beyond its queue_limit: at once, in this thread
            ValidationResult r;
            r.problem = Problem::make(ProblemType::rate_limited, "too many validations in progress; retry later");
            r.no_outcome = true;
            done(r);
            return;
        }
        std::lock_guard lock(m_);
        pending_.push_back({std::move(task), std::move(done)});
    }
    std::atomic<bool> full{false};
    void shutdown() override {}
    std::size_t size() {
        std::lock_guard lock(m_);
        return pending_.size();
    }
    ValidationTask front() {
        std::lock_guard lock(m_);
        REQUIRE(!pending_.empty());
        return pending_.front().task;
    }
    // Completes the oldest validation.
    void complete(bool valid, ProblemType problem = ProblemType::incorrect_response) {
        Pending p = take_oldest();
        ValidationResult r;
        r.valid = valid;
        if (!valid) r.problem = Problem::make(problem, "scripted failure");
        r.record = json::array({{{"hostname", p.task.identifier.value}}});
        p.done(r);
    }
    // The process died: what was running never reports.
    void forget() {
        std::lock_guard lock(m_);
        pending_.clear();
    }
    // Shutting down: the oldest validation is cut short, with no outcome.
    void interrupt() {
        Pending p = take_oldest();
        ValidationResult r;
        r.problem = Problem::make(ProblemType::connection, "server shutting down");
        r.no_outcome = true;
        p.done(r);
    }

private:
    Pending take_oldest() {
        std::lock_guard lock(m_);
        REQUIRE(!pending_.empty());
        Pending p = std::move(pending_.front());
        pending_.pop_front();
        return p;
    }
    std::mutex m_;
    std::deque<Pending> pending_;
};

struct Server {
    testing::TempDir tmp;
    std::optional<CaDirectory> ca;
    FakeValidator validator;
    std::unique_ptr<AcmeService> svc;
    Time clock = now();
    ServiceOptions opts;

    explicit Server(ServiceOptions o = {}, std::vector<std::string> allowed = {}) : opts(std::move(o)) {
        InitOptions init;
        init.intermediate = true;
        init.policy.allowed_names = std::move(allowed);
        ca = CaDirectory::init(tmp / "ca", init);
        start();
    }
    // A new service over a new CaDirectory on the same files: a restart.
    void start() {
        svc.reset();
        ca = CaDirectory::open(tmp / "ca");
        ServiceOptions o = opts;
        o.base_url = base;
        o.clock = [this] { return clock; };
        svc = std::make_unique<AcmeService>(*ca, ca->authority(), validator, o);
    }
    Response get(const std::string& path, const std::string& method = "GET") {
        return svc->handle({method, path, "", ""});
    }
    std::string nonce() {
        Response r = get("/acme/new-nonce", "HEAD");
        REQUIRE(r.status == 200);
        return r.header("Replay-Nonce");
    }
};

json body(const Response& r) { return json::parse(r.body); }
std::string problem_type(const Response& r) {
    if (r.header("Content-Type") != "application/problem+json") return "(not a problem: " + std::to_string(r.status) + ")";
    return body(r).value("type", "");
}
std::string urn(const char* name) { return std::string("urn:ietf:params:acme:error:") + name; }

struct Client {
    Server& s;
    PrivateKey key;
    JwsAlg alg;
    std::string kid;  // account URL once registered

    Client(Server& server, KeyType type = KeyType::ec_p256) : s(server), key(PrivateKey::generate(type)) {
        alg = type == KeyType::ec_p384 ? JwsAlg::es384
              : type == KeyType::ed25519 ? JwsAlg::eddsa
              : (type == KeyType::rsa_2048 || type == KeyType::rsa_3072 || type == KeyType::rsa_4096) ? JwsAlg::rs256
                                                                                                    : JwsAlg::es256;
    }
    json jwk() const { return Jwk::from_key(key).to_json(); }
    std::string thumbprint() const { return Jwk::from_key(key).thumbprint(); }

    // A signed request; `use_jwk` puts the key in the header instead of kid.
    std::string jws(const std::string& path, const std::string& payload, bool use_jwk, std::string nonce = "") {
        json h = {{"nonce", nonce.empty() ? s.nonce() : nonce}, {"url", base + path}};
        if (use_jwk || kid.empty()) h["jwk"] = jwk();
        else h["kid"] = kid;
        return sign(key.native(), alg, h, payload);
    }
    Response post(const std::string& path, const json& payload, bool use_jwk = false) {
        return s.svc->handle({"POST", path, "application/jose+json", jws(path, payload.dump(), use_jwk)});
    }
    Response post_as_get(const std::string& path) {
        return s.svc->handle({"POST", path, "application/jose+json", jws(path, "", false)});
    }
    Response raw(const std::string& path, const std::string& jws_body) {
        return s.svc->handle({"POST", path, "application/jose+json", jws_body});
    }
    Response register_account(json payload = {{"termsOfServiceAgreed", true}}) {
        Response r = post("/acme/new-account", payload, true);
        if (r.status == 201 || r.status == 200) kid = r.header("Location");
        return r;
    }
};

std::string path_of(const std::string& url) {
    REQUIRE(url.rfind(base, 0) == 0);
    return url.substr(base.size());
}

std::string csr_b64(const PrivateKey& key, const std::vector<std::string>& names, std::string cn = "") {
    SubjectAltNames sans = parse_identities(names);
    DistinguishedName dn;
    dn.common_name = cn;
    return base64url_encode(CertificateRequest::create(key, dn, sans).to_der());
}

// The same, with the key's EC point compressed in the CSR: another spelling
// of the key's SPKI.
std::string compressed_csr_b64(const PrivateKey& key, const std::vector<std::string>& names) {
    X509_REQ* req = X509_REQ_new();
    X509_REQ_set_version(req, 0);
    EVP_PKEY* pub = EVP_PKEY_dup(key.native());
    REQUIRE(EVP_PKEY_set_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") == 1);
    X509_REQ_set_pubkey(req, pub);
    EVP_PKEY_free(pub);
    std::string san;
    for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_sign(req, key.native(), EVP_sha256());
    unsigned char* buf = nullptr;
    const int n = i2d_X509_REQ(req, &buf);
    std::string der(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    X509_REQ_free(req);
    return base64url_encode(der);
}

// newOrder for `names`, every authorization validated with http-01 (or
// dns-01 for a wildcard). Returns the order URL path.
std::string ready_order(Client& c, const std::vector<std::string>& names) {
    json ids = json::array();
    for (const auto& n : names) ids.push_back({{"type", n.find(':') != std::string::npos || std::isdigit(n[0]) ? "ip" : "dns"}, {"value", n}});
    Response r = c.post("/acme/new-order", {{"identifiers", ids}});
    REQUIRE(r.status == 201);
    std::string order = path_of(r.header("Location"));
    const json o = body(r);  // (a range-for over body(r)[...] would outlive the temporary)
    for (const auto& a : o["authorizations"]) {
        json authz = body(c.post_as_get(path_of(a)));
        std::string chall = path_of(authz["challenges"][0]["url"]);
        Response cr = c.post(chall, json::object());
        REQUIRE(cr.status == 200);
        c.s.validator.complete(true);
    }
    return order;
}

// A new account's order for one name, not validated: the paths a test of
// the challenge's life needs, and the authorization as first fetched.
struct OneName {
    std::string order, authz;
    json first;
    std::string challenge(int i) const { return path_of(first["challenges"][i]["url"]); }
};

OneName order_one_name(Client& c, const std::string& name = "a.test") {
    REQUIRE(c.register_account().status == 201);
    Response r = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", name}}}}});
    REQUIRE(r.status == 201);
    OneName o;
    o.order = path_of(r.header("Location"));
    o.authz = path_of(body(r)["authorizations"][0]);
    o.first = body(c.post_as_get(o.authz));
    return o;
}

}  // namespace

TEST_CASE("directory and nonces") {
    Server s;
    Response d = s.get("/directory");
    CHECK(d.status == 200);
    json j = body(d);
    for (const char* k : {"newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"})
        CHECK(j[k].get<std::string>().rfind(base + "/acme/", 0) == 0);
    CHECK(j["meta"]["externalAccountRequired"] == false);

    Response head = s.get("/acme/new-nonce", "HEAD");
    CHECK(head.status == 200);
    CHECK(head.header("Replay-Nonce").size() == 22);
    CHECK(head.header("Cache-Control") == "no-store");
    CHECK(head.header("Link") == "<" + base + "/directory>;rel=\"index\"");
    Response get = s.get("/acme/new-nonce");
    CHECK(get.status == 204);
    CHECK(get.header("Replay-Nonce") != head.header("Replay-Nonce"));

    Response bad = s.get("/acme/new-order");
    CHECK(bad.status == 405);
    CHECK(bad.header("Allow") == "POST");
    CHECK(s.get("/nothing").status == 405);
    Client c(s);
    CHECK(c.post("/acme/nothing", json::object()).status == 404);
}

TEST_CASE("newAccount with every account algorithm; the same key finds the same account") {
    Server s;
    for (KeyType t : {KeyType::ec_p256, KeyType::ec_p384, KeyType::rsa_2048, KeyType::ed25519}) {
        CAPTURE(to_string(t));
        Client c(s, t);
        Response r = c.register_account({{"contact", {"mailto:a@example.test"}}, {"termsOfServiceAgreed", true}});
        REQUIRE(r.status == 201);
        CHECK(r.header("Location").rfind(base + "/acme/acct/", 0) == 0);
        CHECK(body(r)["status"] == "valid");
        CHECK(body(r)["contact"] == json::array({"mailto:a@example.test"}));
        Response again = c.post("/acme/new-account", {{"onlyReturnExisting", true}}, true);
        CHECK(again.status == 200);
        CHECK(again.header("Location") == r.header("Location"));
    }
    Client stranger(s);
    CHECK(problem_type(stranger.post("/acme/new-account", {{"onlyReturnExisting", true}}, true)) ==
          urn("accountDoesNotExist"));
}

TEST_CASE("the JWS checks: nonce, url, key, content type, algorithm") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);

    // A nonce is good once.
    std::string n = s.nonce();
    std::string first = c.jws("/acme/new-order", json({{"identifiers", {{{"type", "dns"}, {"value", "a.test"}}}}}).dump(), false, n);
    CHECK(c.raw("/acme/new-order", first).status == 201);
    Response replay = c.raw("/acme/new-order", first);
    CHECK(replay.status == 400);
    CHECK(problem_type(replay) == urn("badNonce"));
    CHECK(!replay.header("Replay-Nonce").empty());
    // A nonce from another server life (a restart) is refused too.
    std::string old = s.nonce();
    s.start();
    CHECK(problem_type(c.raw("/acme/new-order", c.jws("/acme/new-order", "{}", false, old))) == urn("badNonce"));

    // The url must be this request's.
    CHECK(problem_type(c.raw("/acme/new-order", c.jws("/acme/new-account", "{}", false))) == urn("unauthorized"));
    // Signed by another key under this kid.
    Client other(s);
    other.kid = c.kid;
    Response forged = other.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "a.test"}}}}});
    CHECK(forged.status == 400);
    CHECK(problem_type(forged) == urn("malformed"));
    // An unknown account.
    other.kid = base + "/acme/acct/999";
    CHECK(problem_type(other.post("/acme/new-order", json::object())) == urn("accountDoesNotExist"));
    // jwk where kid is wanted, and the reverse.
    CHECK(problem_type(c.post("/acme/new-order", json::object(), true)) == urn("malformed"));
    // Content-Type.
    Response ct = s.svc->handle({"POST", "/acme/new-order", "application/json", c.jws("/acme/new-order", "{}", false)});
    CHECK(ct.status == 415);
    CHECK(problem_type(ct) == urn("malformed"));
    // An algorithm no account may use, and one that does not fit the key.
    json h = {{"nonce", s.nonce()}, {"url", base + "/acme/new-order"}, {"kid", c.kid}, {"alg", "HS256"}};
    Response hs = c.raw("/acme/new-order", hmac_sign("0123456789abcdef0123456789abcdef", "HS256", h, "{}"));
    CHECK(problem_type(hs) == urn("badSignatureAlgorithm"));
    CHECK(body(hs)["algorithms"].size() == 4);
    json h2 = {{"nonce", s.nonce()}, {"url", base + "/acme/new-order"}, {"kid", c.kid}, {"alg", "ES384"}};
    CHECK(problem_type(c.raw("/acme/new-order", sign(c.key.native(), JwsAlg::es256, h2, "{}"))) == urn("badPublicKey"));
    // Not JSON at all.
    CHECK(problem_type(c.raw("/acme/new-order", "{not json")) == urn("malformed"));
}

TEST_CASE("account update, deactivation and key change") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    const std::string acct = path_of(c.kid);

    Response up = c.post(acct, {{"contact", {"mailto:new@example.test"}}});
    CHECK(up.status == 200);
    CHECK(body(up)["contact"] == json::array({"mailto:new@example.test"}));
    CHECK(problem_type(c.post(acct, {{"contact", {"tel:+1555"}}})) == urn("unsupportedContact"));
    CHECK(problem_type(c.post(acct, {{"contact", {"mailto:not an address"}}})) == urn("invalidContact"));
    CHECK(body(c.post_as_get(acct))["contact"] == json::array({"mailto:new@example.test"}));

    // Key change: the new key signs the inner JWS; then only it works.
    PrivateKey fresh = PrivateKey::generate(KeyType::ec_p384);
    json inner_h = {{"jwk", Jwk::from_key(fresh).to_json()}, {"url", base + "/acme/key-change"}};
    std::string inner = sign(fresh.native(), JwsAlg::es384, inner_h,
                             json({{"account", c.kid}, {"oldKey", c.jwk()}}).dump());
    Response kc = c.post("/acme/key-change", json::parse(inner));
    CHECK(kc.status == 200);
    // The old key no longer is the account's (ES256 does not fit its P-384 key now).
    CHECK(problem_type(c.post_as_get(acct)) == urn("badPublicKey"));
    Client moved(s, KeyType::ec_p384);
    moved.key = fresh;
    moved.kid = c.kid;
    CHECK(moved.post_as_get(acct).status == 200);
    // A key another account holds: 409 with that account's URL.
    Client third(s);
    REQUIRE(third.register_account().status == 201);
    json taken_h = {{"jwk", third.jwk()}, {"url", base + "/acme/key-change"}};
    std::string taken = sign(third.key.native(), JwsAlg::es256, taken_h,
                             json({{"account", moved.kid}, {"oldKey", moved.jwk()}}).dump());
    Response conflict = moved.post("/acme/key-change", json::parse(taken));
    CHECK(conflict.status == 409);
    CHECK(conflict.header("Location") == third.kid);

    // Deactivation: then every request of the account is unauthorized.
    CHECK(body(moved.post(acct, {{"status", "deactivated"}}))["status"] == "deactivated");
    CHECK(problem_type(moved.post_as_get(acct)) == urn("unauthorized"));
    CHECK(problem_type(moved.post("/acme/new-account", json::object(), true)) == urn("unauthorized"));
}

TEST_CASE("an order from pending to valid, with its certificate in the inventory") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    Response r = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "b.test"}},
                                                             {{"type", "dns"}, {"value", "a.test"}},
                                                             {{"type", "dns"}, {"value", "a.test"}}}}});
    REQUIRE(r.status == 201);
    json o = body(r);
    CHECK(o["status"] == "pending");
    CHECK(o["identifiers"].size() == 2);  // duplicates dropped, sorted
    CHECK(o["identifiers"][0]["value"] == "a.test");
    REQUIRE(o["authorizations"].size() == 2);
    const std::string order = path_of(r.header("Location"));
    const std::string fin = path_of(o["finalize"]);

    // Finalize before the order is ready.
    PrivateKey leaf = PrivateKey::generate();
    Response early = c.post(fin, {{"csr", csr_b64(leaf, {"a.test", "b.test"})}});
    CHECK(early.status == 403);
    CHECK(problem_type(early) == urn("orderNotReady"));

    for (const auto& a : o["authorizations"]) {
        json authz = body(c.post_as_get(path_of(a)));
        CHECK(authz["status"] == "pending");
        REQUIRE(authz["challenges"].size() == 3);
        json http = authz["challenges"][0];
        CHECK(http["type"] == "http-01");
        Response cr = c.post(path_of(http["url"]), json::object());
        CHECK(cr.status == 200);
        CHECK(body(cr)["status"] == "processing");
        CHECK(cr.await_authz.has_value());
        CHECK(std::any_of(cr.headers.begin(), cr.headers.end(), [](const auto& h) {
            return h.first == "Link" && h.second.find("rel=\"up\"") != std::string::npos;
        }));
        // The task carries the key authorization of this account's key.
        ValidationTask task = s.validator.front();
        CHECK(task.key_authorization == http["token"].get<std::string>() + "." + c.thumbprint());
        bool woke = false;
        s.svc->when_validated(*cr.await_authz, [&] { woke = true; });
        s.validator.complete(true);
        CHECK(woke);
        json view = body(s.svc->held_answer(*cr.await_authz, ChallengeType::http_01));
        CHECK(view["status"] == "valid");
        CHECK(view.contains("validated"));
        // A second POST does not validate again.
        CHECK(body(c.post(path_of(http["url"]), json::object()))["status"] == "valid");
        CHECK(s.validator.size() == 0);
        CHECK(body(c.post_as_get(path_of(a)))["status"] == "valid");
    }
    CHECK(body(c.post_as_get(order))["status"] == "ready");

    // The CSR: its names must be the order's; its key no account's; no CA:TRUE.
    CHECK(problem_type(c.post(fin, {{"csr", csr_b64(leaf, {"a.test"})}})) == urn("badCSR"));
    CHECK(problem_type(c.post(fin, {{"csr", csr_b64(leaf, {"a.test", "b.test", "c.test"})}})) == urn("badCSR"));
    CHECK(problem_type(c.post(fin, {{"csr", csr_b64(leaf, {"a.test", "b.test"}, "other.test")}})) == urn("badCSR"));
    CHECK(problem_type(c.post(fin, {{"csr", csr_b64(c.key, {"a.test", "b.test"})}})) == urn("badCSR"));
    // The account key spelled as a compressed point is still the account key.
    CHECK(problem_type(c.post(fin, {{"csr", compressed_csr_b64(c.key, {"a.test", "b.test"})}})) == urn("badCSR"));
    CHECK(problem_type(c.post(fin, {{"csr", "not base64!"}})) == urn("badCSR"));
    CHECK(problem_type(c.post(fin, {{"csr", base64url_encode("garbage")}})) == urn("badCSR"));
    CHECK(body(c.post_as_get(order))["status"] == "ready");  // nothing changed

    Response done = c.post(fin, {{"csr", csr_b64(leaf, {"b.test", "a.test"}, "a.test")}});
    REQUIRE(done.status == 200);
    CHECK(body(done)["status"] == "valid");
    const std::string cert_url = body(done)["certificate"];
    CHECK(problem_type(c.post(fin, {{"csr", csr_b64(leaf, {"a.test", "b.test"})}})) == urn("orderNotReady"));

    Response pem = c.post_as_get(path_of(cert_url));
    CHECK(pem.status == 200);
    CHECK(pem.header("Content-Type") == "application/pem-certificate-chain");
    Certificate cert = Certificate::from_pem(pem.body);
    CHECK(cert.public_key_der() == Jwk::from_key(leaf).spki_der());
    CHECK(pem.body.find("BEGIN CERTIFICATE", 10) != std::string::npos);  // the intermediate follows
    auto rec = s.ca->inventory().find(cert.serial_hex());
    REQUIRE(rec);
    CHECK(s.ca->inventory().acme().certificate_account(cert.serial_hex()).has_value());
    // Another account cannot download it.
    Client other(s);
    REQUIRE(other.register_account().status == 201);
    CHECK(other.post_as_get(path_of(cert_url)).status == 404);
    CHECK(other.post_as_get(order).status == 404);
    // The account's orders.
    json orders = body(c.post_as_get(path_of(c.kid) + "/orders"));
    CHECK(orders["orders"] == json::array({base + order}));
}

TEST_CASE("a failed validation makes the authorization and the order invalid") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    Response r = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "a.test"}}}}});
    json authz = body(c.post_as_get(path_of(body(r)["authorizations"][0])));
    c.post(path_of(authz["challenges"][1]["url"]), json::object());  // tls-alpn-01
    s.validator.complete(false, ProblemType::connection);
    json after = body(c.post_as_get(path_of(body(r)["authorizations"][0])));
    CHECK(after["status"] == "invalid");
    CHECK(after["challenges"][1]["error"]["type"] == urn("connection"));
    json o = body(c.post_as_get(path_of(r.header("Location"))));
    CHECK(o["status"] == "invalid");
    CHECK(o["error"]["type"] == urn("connection"));
    // Another challenge of a decided authorization starts nothing.
    c.post(path_of(authz["challenges"][0]["url"]), json::object());
    CHECK(s.validator.size() == 0);
}

TEST_CASE("an authorization deactivated while its challenge is processing stays deactivated") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    Response r = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "d.test"}}}}});
    REQUIRE(r.status == 201);
    const std::string authz = path_of(body(r)["authorizations"][0]);
    const json a = body(c.post_as_get(authz));
    REQUIRE(body(c.post(path_of(a["challenges"][0]["url"]), json::object()))["status"] == "processing");
    CHECK(body(c.post(authz, {{"status", "deactivated"}}))["status"] == "deactivated");
    s.validator.complete(true);  // the validation, started before, succeeds
    const json after = body(c.post_as_get(authz));
    CHECK(after["status"] == "deactivated");
    CHECK(body(c.post_as_get(path_of(r.header("Location"))))["status"] == "invalid");
    // Nothing is left processing for a restart to validate again.
    CHECK(s.ca->inventory().acme().processing_authzs().empty());
}

// Two requests at once, many times: `prepare` makes each pair of request
// bodies (in this thread: it may use doctest), then both go to the service
// together.
template <class Prepare, class Check>
void race(int rounds, Server& s, Prepare prepare, Check check) {
    for (int i = 0; i < rounds; ++i) {
        // (Named, not a structured binding: clang 14 cannot capture those.)
        const std::pair<Request, Request> both = prepare(i);
        const Request& one = both.first;
        const Request& two = both.second;
        Response r1, r2;
        std::latch go(2);
        std::thread t([&] {
            go.arrive_and_wait();
            r1 = s.svc->handle(one);
        });
        go.arrive_and_wait();
        r2 = s.svc->handle(two);
        t.join();
        check(i, r1, r2);
    }
}

TEST_CASE("two finalize requests at once issue one certificate") {
    Server s;
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    const std::size_t before = s.ca->inventory().list().size();
    int issued = 0;
    race(
        12, s,
        [&](int i) {
            const std::string name = "f" + std::to_string(i) + ".test";
            const std::string fin = path_of(body(c.post_as_get(ready_order(c, {name})))["finalize"]);
            auto req = [&] {
                const std::string csr = csr_b64(PrivateKey::generate(), {name});
                return Request{"POST", fin, "application/jose+json", c.jws(fin, json({{"csr", csr}}).dump(), false)};
            };
            return std::pair{req(), req()};
        },
        [&](int, const Response& r1, const Response& r2) {
            const int ok = (r1.status == 200) + (r2.status == 200);
            CHECK(ok == 1);
            issued += ok;
            for (const Response* r : {&r1, &r2})
                if (r->status != 200) CHECK(problem_type(*r) == urn("orderNotReady"));
        });
    CHECK(s.ca->inventory().list().size() == before + static_cast<std::size_t>(issued));
}

TEST_CASE("a key change at the same time as a deactivation never undoes it") {
    Server s;
    std::vector<Id> ids;
    race(
        12, s,
        [&](int) {
            auto c = std::make_shared<Client>(s);
            REQUIRE(c->register_account().status == 201);
            ids.push_back(std::stoll(c->kid.substr(c->kid.rfind('/') + 1)));
            PrivateKey fresh = PrivateKey::generate();
            json inner_h = {{"jwk", Jwk::from_key(fresh).to_json()}, {"url", base + "/acme/key-change"}};
            const std::string inner = sign(fresh.native(), JwsAlg::es256, inner_h,
                                           json({{"account", c->kid}, {"oldKey", c->jwk()}}).dump());
            const std::string acct = path_of(c->kid);
            return std::pair{Request{"POST", "/acme/key-change", "application/jose+json", c->jws("/acme/key-change", inner, false)},
                             Request{"POST", acct, "application/jose+json",
                                     c->jws(acct, json({{"status", "deactivated"}}).dump(), false)}};
        },
        [&](int i, const Response& changed, const Response& deactivated) {
            auto a = s.ca->inventory().acme().find_account(ids[static_cast<std::size_t>(i)]);
            REQUIRE(a);
            // Either order is fine; what must not happen is a deactivation
            // answered 200 and then undone.
            if (deactivated.status == 200) {
                CHECK(a->status == AccountStatus::deactivated);
            } else {  // the key changed first: the deactivation's JWS was by the old key
                CHECK(changed.status == 200);
                CHECK(a->status == AccountStatus::valid);
            }
        });
}

TEST_CASE("revocation by an account holding every name's authorization, wildcards included") {
    Server s({}, {".test"});
    Client owner(s), other(s);
    REQUIRE(owner.register_account().status == 201);
    REQUIRE(other.register_account().status == 201);
    PrivateKey k = PrivateKey::generate();
    const std::string order = ready_order(owner, {"w.test", "*.w.test"});
    Response done = owner.post(path_of(body(owner.post_as_get(order))["finalize"]), {{"csr", csr_b64(k, {"w.test", "*.w.test"})}});
    REQUIRE(done.status == 200);
    const Certificate cert = Certificate::from_pem(owner.post_as_get(path_of(body(done)["certificate"])).body);
    const json rev = {{"certificate", base64url_encode(cert.der())}};
    CHECK(problem_type(other.post("/acme/revoke-cert", rev)) == urn("unauthorized"));
    ready_order(other, {"w.test"});  // not the wildcard's authorization
    CHECK(problem_type(other.post("/acme/revoke-cert", rev)) == urn("unauthorized"));
    ready_order(other, {"*.w.test"});
    CHECK(other.post("/acme/revoke-cert", rev).status == 200);
    CHECK(s.ca->inventory().find(cert.serial_hex())->status == CertStatus::revoked);
}

TEST_CASE("identifiers: wildcards get dns-01 only, IPs never dns-01, non-canonical and refused names") {
    Server s({}, {".test", "127.0.0.0/8"});
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    Response w = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "*.w.test"}}, {{"type", "ip"}, {"value", "127.0.0.1"}}}}});
    REQUIRE(w.status == 201);
    const json wo = body(w);
    for (const auto& a : wo["authorizations"]) {
        json authz = body(c.post_as_get(path_of(a)));
        std::vector<std::string> types;
        for (const auto& ch : authz["challenges"]) types.push_back(ch["type"]);
        if (authz["identifier"]["type"] == "dns") {
            CHECK(authz["identifier"]["value"] == "w.test");
            CHECK(authz["wildcard"] == true);
            CHECK(types == std::vector<std::string>{"dns-01"});
        } else {
            CHECK(types == std::vector<std::string>{"http-01", "tls-alpn-01"});
        }
    }
    CHECK(problem_type(c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "A.test"}}}}})) ==
          urn("rejectedIdentifier"));
    CHECK(problem_type(c.post("/acme/new-order", {{"identifiers", {{{"type", "email"}, {"value", "a@b.test"}}}}})) ==
          urn("unsupportedIdentifier"));
    Response two = c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "a.example"}},
                                                               {{"type", "dns"}, {"value", "b.example"}},
                                                               {{"type", "dns"}, {"value", "ok.test"}}}}});
    CHECK(problem_type(two) == urn("rejectedIdentifier"));
    CHECK(body(two)["subproblems"].size() == 2);
    CHECK(body(two)["subproblems"][0]["identifier"]["value"] == "a.example");
    CHECK(problem_type(c.post("/acme/new-order", {{"identifiers", json::array()}})) == urn("malformed"));
    CHECK(problem_type(c.post("/acme/new-order", {{"identifiers", {{{"type", "dns"}, {"value", "a.test"}}}},
                                                  {"notAfter", "2030-01-01T00:00:00Z"}})) == urn("malformed"));
}

TEST_CASE("revocation: by the account, by the certificate's key, reasons, twice; ARI windows") {
    int crls = 0;
    ServiceOptions o;
    o.on_revoked = [&] { ++crls; };
    Server s(o);
    Client c(s);
    REQUIRE(c.register_account().status == 201);
    PrivateKey k1 = PrivateKey::generate(), k2 = PrivateKey::generate();
    auto issue = [&](const PrivateKey& k, const std::string& name) {
        std::string order = ready_order(c, {name});
        json o = body(c.post_as_get(order));
        Response done = c.post(path_of(o["finalize"]), {{"csr", csr_b64(k, {name})}});
        INFO(done.body);
        REQUIRE(done.status == 200);
        return Certificate::from_pem(c.post_as_get(path_of(body(done)["certificate"])).body);
    };
    Certificate c1 = issue(k1, "r1.test");
    Certificate c2 = issue(k2, "r2.test");

    // ARI before revocation: a window inside the validity.
    const std::string id1 = cert_id(c1);
    Response ri = s.get("/acme/renewal-info/" + id1);
    REQUIRE(ri.status == 200);
    CHECK(ri.header("Retry-After") == "21600");
    json win = body(ri)["suggestedWindow"];
    CHECK(win["start"].get<std::string>() > format_time(c1.not_before()));
    CHECK(win["end"].get<std::string>() < format_time(c1.not_after()));
    CHECK(s.get("/acme/renewal-info/not-a-cert-id").status == 400);
    CHECK(s.get("/acme/renewal-info/" + format_cert_id(c1.key_identifier(), "7777")).status == 404);

    // replaces: once; a second order replacing the same certificate is 409.
    json rep = {{"identifiers", {{{"type", "dns"}, {"value", "r1.test"}}}}, {"replaces", id1}};
    Response first = c.post("/acme/new-order", rep);
    CHECK(first.status == 201);
    CHECK(body(first)["replaces"] == id1);
    Response second = c.post("/acme/new-order", rep);
    CHECK(second.status == 409);
    CHECK(problem_type(second) == urn("alreadyReplaced"));
    Client other(s);
    REQUIRE(other.register_account().status == 201);
    json rep2 = {{"identifiers", {{{"type", "dns"}, {"value", "r2.test"}}}}, {"replaces", cert_id(c2)}};
    CHECK(problem_type(other.post("/acme/new-order", rep2)) == urn("unauthorized"));

    // By the account that holds it; a reason a subscriber may not give.
    json rev1 = {{"certificate", base64url_encode(c1.der())}, {"reason", 1}};
    CHECK(problem_type(c.post("/acme/revoke-cert", {{"certificate", base64url_encode(c1.der())}, {"reason", 6}})) ==
          urn("badRevocationReason"));
    CHECK(problem_type(other.post("/acme/revoke-cert", rev1)) == urn("unauthorized"));
    Response ok = c.post("/acme/revoke-cert", rev1);
    CHECK(ok.status == 200);
    CHECK(crls == 1);
    CHECK(problem_type(c.post("/acme/revoke-cert", rev1)) == urn("alreadyRevoked"));
    CHECK(s.ca->inventory().find(c1.serial_hex())->status == CertStatus::revoked);
    // ARI after revocation: a window in the past.
    json past = body(s.get("/acme/renewal-info/" + id1))["suggestedWindow"];
    CHECK(past["end"].get<std::string>() < format_time(s.clock));

    // By the certificate's own key (a jwk JWS), not any other key.
    Client holder(s);
    holder.key = k2;
    json rev2 = {{"certificate", base64url_encode(c2.der())}};
    Client wrong(s);
    CHECK(problem_type(wrong.post("/acme/revoke-cert", rev2, true)) == urn("unauthorized"));
    CHECK(holder.post("/acme/revoke-cert", rev2, true).status == 200);
    CHECK(crls == 2);
    // A CSR with a key revoked for keyCompromise is refused.
    std::string order = ready_order(c, {"r3.test"});
    Response again = c.post(path_of(body(c.post_as_get(order))["finalize"]), {{"csr", csr_b64(k1, {"r3.test"})}});
    CHECK(problem_type(again) == urn("badCSR"));
}

TEST_CASE("external account binding") {
    ServiceOptions o;
    o.eab_required = true;
    Server s(o);
    CHECK(body(s.get("/directory"))["meta"]["externalAccountRequired"] == true);
    const std::string mac = "0123456789abcdef0123456789abcdef";
    EabKey k;
    k.kid = "kid-1";
    k.hmac_key = mac;
    k.created_at = s.clock;
    s.ca->inventory().acme().insert_eab(k);

    Client c(s);
    CHECK(problem_type(c.post("/acme/new-account", {{"termsOfServiceAgreed", true}}, true)) ==
          urn("externalAccountRequired"));
    auto eab = [&](const Client& who, const std::string& kid, const std::string& key) {
        json h = {{"alg", "HS256"}, {"kid", kid}, {"url", base + "/acme/new-account"}};
        return json::parse(hmac_sign(key, "HS256", h, who.jwk().dump()));
    };
    CHECK(problem_type(c.post("/acme/new-account", {{"externalAccountBinding", eab(c, "kid-1", "wrong key wrong key wrong key!!")}}, true)) ==
          urn("unauthorized"));
    CHECK(problem_type(c.post("/acme/new-account", {{"externalAccountBinding", eab(c, "kid-2", mac)}}, true)) ==
          urn("unauthorized"));
    Client other(s);
    CHECK(problem_type(c.post("/acme/new-account", {{"externalAccountBinding", eab(other, "kid-1", mac)}}, true)) ==
          urn("badPublicKey"));
    Response ok = c.post("/acme/new-account", {{"externalAccountBinding", eab(c, "kid-1", mac)}}, true);
    CHECK(ok.status == 201);
    CHECK(body(ok)["externalAccountBinding"]["kid"] == "kid-1");
    // A key binds once.
    CHECK(problem_type(other.post("/acme/new-account", {{"externalAccountBinding", eab(other, "kid-1", mac)}}, true)) ==
          urn("unauthorized"));
}

TEST_CASE("a restarted server continues: pending orders, and validations an answer called processing") {
    Server s;
    Client c(s);
    const OneName o = order_one_name(c);
    const std::string& order = o.order;
    Response cr = c.post(o.challenge(0), json::object());
    REQUIRE(cr.await_authz.has_value());
    REQUIRE(s.validator.size() == 1);
    // Running, not yet answered: nothing committed.
    CHECK(s.ca->inventory().acme().processing_authzs().empty());
    SUBCASE("the transport's wait runs out: the answer says processing, so the row does") {
        CHECK(body(s.svc->held_answer(*cr.await_authz, ChallengeType::http_01))["status"] == "processing");
    }
    SUBCASE("the client polls its authorization: it is told processing, so the row says it") {
        CHECK(body(c.post_as_get(o.authz))["challenges"][0]["status"] == "processing");
    }
    SUBCASE("the client fetches the challenge: the same") {
        CHECK(body(c.post_as_get(o.challenge(0)))["status"] == "processing");
    }
    CHECK(s.ca->inventory().acme().processing_authzs().size() == 1);
    // The process dies: its validation never reports.
    s.validator.forget();
    s.start();
    CHECK(body(c.post_as_get(order))["status"] == "pending");
    CHECK(s.svc->resume_validations() == 1);
    s.validator.complete(true);
    CHECK(body(c.post_as_get(order))["status"] == "ready");
    PrivateKey leaf = PrivateKey::generate();
    Response done = c.post(path_of(body(c.post_as_get(order))["finalize"]), {{"csr", csr_b64(leaf, {"a.test"})}});
    CHECK(body(done)["status"] == "valid");
}

TEST_CASE("a validation cut short after an answer said processing stays processing, and a restart resumes it") {
    Server s;
    Client c(s);
    const OneName o = order_one_name(c);
    Response cr = c.post(o.challenge(0), json::object());
    REQUIRE(cr.await_authz.has_value());
    // The server stops: the held POST is answered, then the validation is cut short.
    CHECK(body(s.svc->held_answer(*cr.await_authz, ChallengeType::http_01))["status"] == "processing");
    s.validator.interrupt();
    CHECK(s.ca->inventory().acme().processing_authzs().size() == 1);
    s.start();
    CHECK(s.svc->resume_validations() == 1);
    s.validator.complete(true);
    CHECK(body(c.post_as_get(o.order))["status"] == "ready");
}

TEST_CASE("a validator with a full queue: the challenge POST is rateLimited and changes nothing") {
    Server s;
    Client c(s);
    const OneName o = order_one_name(c);
    const std::string &authz = o.authz, chall = o.challenge(0);
    s.validator.full = true;
    Response refused = c.post(chall, json::object());
    CHECK(refused.status == 429);
    CHECK(problem_type(refused) == urn("rateLimited"));
    json a = body(c.post_as_get(authz));
    CHECK(a["status"] == "pending");
    CHECK(a["challenges"][0]["status"] == "pending");
    // Later, with room: the same POST starts it.
    s.validator.full = false;
    REQUIRE(c.post(chall, json::object()).await_authz.has_value());
    s.validator.complete(true);
    CHECK(body(c.post_as_get(authz))["status"] == "valid");
}

TEST_CASE("POSTs to a challenge while its validation runs start nothing; the same challenge's wait for it") {
    Server s;
    Client c(s);
    const OneName o = order_one_name(c);
    const std::string& authz = o.authz;
    const std::string http = o.challenge(0), alpn = o.challenge(1);
    REQUIRE(c.post(http, json::object()).await_authz.has_value());
    Response again = c.post(http, json::object());
    CHECK(body(again)["status"] == "processing");
    CHECK(again.await_authz.has_value());
    Response other = c.post(alpn, json::object());
    CHECK(body(other)["status"] == "pending");
    CHECK_FALSE(other.await_authz.has_value());
    CHECK(s.validator.size() == 1);
    CHECK(s.validator.front().type == ChallengeType::http_01);
    s.validator.complete(true);
    CHECK(body(s.svc->held_answer(*again.await_authz, ChallengeType::http_01))["status"] == "valid");
    CHECK(body(c.post_as_get(authz))["status"] == "valid");
}

TEST_CASE("a validation cut short before its answer leaves the authorization pending: the client's POST starts it again") {
    Server s;
    Client c(s);
    const OneName o = order_one_name(c);
    const std::string &order = o.order, &authz = o.authz, chall = o.challenge(0);
    const Response started = c.post(chall, json::object());
    REQUIRE(started.await_authz.has_value());
    REQUIRE(s.validator.size() == 1);
    SUBCASE("the process dies") {
        s.validator.forget();
        s.start();
        CHECK(s.svc->resume_validations() == 0);
    }
    SUBCASE("the validator shuts down") {
        // A callback waiting for the result is dropped, not run: the server
        // stopping answered its held POST already.
        bool ran = false;
        s.svc->when_validated(*started.await_authz, [&] { ran = true; });
        s.validator.interrupt();
        CHECK_FALSE(ran);
    }
    json a = body(c.post_as_get(authz));
    CHECK(a["status"] == "pending");
    CHECK(a["challenges"][0]["status"] == "pending");
    CHECK(s.ca->inventory().acme().processing_authzs().empty());
    c.post(chall, json::object());
    REQUIRE(s.validator.size() == 1);
    s.validator.complete(true);
    CHECK(body(c.post_as_get(order))["status"] == "ready");
}
