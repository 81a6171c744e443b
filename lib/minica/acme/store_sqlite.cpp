// AcmeStore over the inventory's SQLite file (tables acme_* and
// certificates.account_id, made by inventory_sqlite.cpp's schema version 2).
//
// Deliberate choices:
// - The inventory's connection and mutex: a store call inside
//   Inventory::issue's `also` joins its transaction (Tx nests as a savepoint),
//   so a certificate and the order it completes commit together.
// - A single-statement write runs on its own (autocommit, or inside the
//   transaction already open); transaction() is for the caller's groups.
// - Conflicts come from the schema, not from a look-before-write: UNIQUE
//   (thumbprint, spki_sha256, kid, the partial index on replaces) and the
//   EAB binding's `WHERE used_at IS NULL` decide races between processes too.
// - Identifiers are stored as canonical JSON text, sorted:
//   [{"type":"dns","value":"a.test"}] (nlohmann's objects sort their keys).
// - Times are unix seconds. A status or type that is not one of ours is a
//   damaged row: Error(store), never a default.
#include "minica/acme/store_sqlite.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "minica/certificate.hpp"
#include "minica/detail/sqlite.hpp"
#include "minica/error.hpp"

namespace minica::acme {

namespace {

using detail::SqliteDb;
using detail::Stmt;
using detail::Tx;

std::int64_t unix_seconds(Time t) { return t.time_since_epoch().count(); }
Time from_unix(std::int64_t s) { return Time{std::chrono::seconds{s}}; }

// The names as stored are the protocol's: resources.hpp's to_string and
// parse_* (one table for both). An identifier type has no parse_* there
// (parse_identifier reads a whole identifier), so it is read here.
IdentifierType parse_identifier_type(std::string_view text) {
    if (text == "dns") return IdentifierType::dns;
    if (text == "ip") return IdentifierType::ip;
    throw Error(ErrorKind::parse, "unknown identifier type");
}

std::string identifiers_json(std::vector<Identifier> ids) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    nlohmann::json j = nlohmann::json::array();
    for (const auto& id : ids) j.push_back(id.to_json());
    return j.dump();
}

std::optional<std::string> opt_text(const Stmt& s, int i) {
    if (s.null(i)) return std::nullopt;
    return s.text(i);
}
std::optional<Time> opt_time(const Stmt& s, int i) {
    if (s.null(i)) return std::nullopt;
    return from_unix(s.integer(i));
}
void bind_opt(Stmt& s, int i, const std::optional<std::string>& v) {
    if (v) s.bind(i, *v);
    else s.bind_null(i);
}
void bind_opt(Stmt& s, int i, const std::optional<Time>& v) {
    if (v) s.bind(i, unix_seconds(*v));
    else s.bind_null(i);
}
void bind_opt(Stmt& s, int i, const std::optional<Id>& v) {
    if (v) s.bind(i, *v);
    else s.bind_null(i);
}

constexpr const char* account_columns = "id, thumbprint, spki_sha256, jwk, status, contact, eab_kid, created_at";
constexpr const char* eab_columns = "kid, hmac_key, created_at, account_id, used_at";
constexpr const char* order_columns =
    "id, account_id, status, expires, identifiers, error, cert_serial, replaces, created_at";
constexpr const char* authz_columns =
    "id, order_id, account_id, type, value, wildcard, status, expires, token, challenge, challenge_status, "
    "validated, error, record";

class SqliteStore final : public AcmeStore {
public:
    explicit SqliteStore(SqliteDb& db) : db_(db) {}

    void transaction(const std::function<void()>& fn) override {
        std::lock_guard lock(db_.mutex());
        Tx tx(db_);
        fn();
        tx.commit();
    }

    void insert_account(Account& account) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "INSERT INTO acme_accounts (thumbprint, spki_sha256, jwk, status, contact, eab_kid, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        bind_account(s, account).bind(7, unix_seconds(account.created_at));
        write(s, "this account key is another account's already");
        account.id = db_.last_insert_rowid();
    }

    void update_account(const Account& account) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "UPDATE acme_accounts SET thumbprint = ?1, spki_sha256 = ?2, jwk = ?3, status = ?4, "
                    "contact = ?5, eab_kid = ?6 WHERE id = ?7");
        bind_account(s, account).bind(7, account.id);
        write(s, "this account key is another account's already");
        if (db_.changes() == 0) not_found("ACME account " + std::to_string(account.id));
    }

    // ?1 to ?6: the columns an account's insert and update share.
    static Stmt& bind_account(Stmt& s, const Account& account) {
        s.bind(1, account.thumbprint)
            .bind(2, account.spki_sha256)
            .bind(3, account.jwk)
            .bind(4, to_string(account.status))
            .bind(5, nlohmann::json(account.contact).dump());
        bind_opt(s, 6, account.eab_kid);
        return s;
    }

    std::optional<Account> find_account(Id id) override {
        return one_account("id = ?1", [&](Stmt& s) { s.bind(1, id); });
    }
    std::optional<Account> find_account_by_thumbprint(std::string_view thumbprint) override {
        return one_account("thumbprint = ?1", [&](Stmt& s) { s.bind(1, thumbprint); });
    }
    std::optional<Account> find_account_by_spki(std::string_view spki_sha256) override {
        return one_account("spki_sha256 = ?1", [&](Stmt& s) { s.bind(1, spki_sha256); });
    }

    void insert_eab(const EabKey& key) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "INSERT INTO acme_eab_keys (kid, hmac_key, created_at, account_id, used_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5)");
        s.bind(1, key.kid).bind_blob(2, key.hmac_key).bind(3, unix_seconds(key.created_at));
        bind_opt(s, 4, key.account_id);
        bind_opt(s, 5, key.used_at);
        write(s, "EAB key " + key.kid + " exists already",
              "ACME account " + (key.account_id ? std::to_string(*key.account_id) : std::string()));
    }

    // The WHERE makes the binding single-use even between processes: of two
    // accounts racing for one key, the second changes no row.
    void bind_eab(std::string_view kid, Id account_id, Time at) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "UPDATE acme_eab_keys SET account_id = ?2, used_at = ?3 WHERE kid = ?1 AND used_at IS NULL");
        s.bind(1, kid).bind(2, account_id).bind(3, unix_seconds(at));
        write(s, "EAB key " + std::string(kid), "ACME account " + std::to_string(account_id));
        if (db_.changes() == 1) return;
        if (find_eab(kid)) throw Error(ErrorKind::exists, "EAB key " + std::string(kid) + " is bound already");
        not_found("EAB key " + std::string(kid));
    }

    std::optional<EabKey> find_eab(std::string_view kid) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, std::string("SELECT ") + eab_columns + " FROM acme_eab_keys WHERE kid = ?1");
        s.bind(1, kid);
        if (!s.step()) return std::nullopt;
        return read_eab(s);
    }

    std::vector<EabKey> list_eab() override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, std::string("SELECT ") + eab_columns + " FROM acme_eab_keys ORDER BY created_at, kid");
        std::vector<EabKey> out;
        while (s.step()) out.push_back(read_eab(s));
        return out;
    }

    bool remove_eab(std::string_view kid) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "DELETE FROM acme_eab_keys WHERE kid = ?1");
        s.bind(1, kid);
        write(s, "EAB key " + std::string(kid));
        return db_.changes() == 1;
    }

    void insert_order(Order& order) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "INSERT INTO acme_orders (account_id, status, expires, identifiers, error, cert_serial, replaces, "
                    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        s.bind(1, order.account_id)
            .bind(2, to_string(order.status))
            .bind(3, unix_seconds(order.expires))
            .bind(4, identifiers_json(order.identifiers))
            .bind(8, unix_seconds(order.created_at));
        bind_opt(s, 5, order.error);
        bind_opt(s, 6, order.cert_serial);
        bind_opt(s, 7, order.replaces);
        write(s, "certificate " + order.replaces.value_or("") + " is being replaced by another order already",
              "ACME account " + std::to_string(order.account_id));
        order.id = db_.last_insert_rowid();
    }

    void update_order(const Order& order) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "UPDATE acme_orders SET status = ?2, error = ?3, cert_serial = ?4, replaces = ?5 WHERE id = ?1");
        s.bind(1, order.id).bind(2, to_string(order.status));
        bind_opt(s, 3, order.error);
        bind_opt(s, 4, order.cert_serial);
        bind_opt(s, 5, order.replaces);
        write(s, "certificate " + order.replaces.value_or("") + " is being replaced by another order already");
        if (db_.changes() == 0) not_found("ACME order " + std::to_string(order.id));
    }

    std::optional<Order> find_order(Id id) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, std::string("SELECT ") + order_columns + " FROM acme_orders WHERE id = ?1");
        s.bind(1, id);
        if (!s.step()) return std::nullopt;
        return read_order(s);
    }

    std::vector<Id> orders_of(Id account_id) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "SELECT id FROM acme_orders WHERE account_id = ?1 ORDER BY id");
        s.bind(1, account_id);
        std::vector<Id> out;
        while (s.step()) out.push_back(s.integer(0));
        return out;
    }

    void insert_authz(Authz& authz) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "INSERT INTO acme_authzs (order_id, account_id, type, value, wildcard, status, expires, token, "
                    "challenge, challenge_status, validated, error, record) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
        s.bind(1, authz.order_id)
            .bind(2, authz.account_id)
            .bind(3, to_string(authz.identifier.type))
            .bind(4, authz.identifier.value)
            .bind(5, std::int64_t{authz.wildcard})
            .bind(6, to_string(authz.status))
            .bind(7, unix_seconds(authz.expires))
            .bind(8, authz.token);
        bind_challenge(s, 9, authz);
        write(s, "ACME authorization", "ACME order " + std::to_string(authz.order_id));
        authz.id = db_.last_insert_rowid();
    }

    void update_authz(const Authz& authz) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "UPDATE acme_authzs SET status = ?2, challenge = ?3, challenge_status = ?4, validated = ?5, "
                    "error = ?6, record = ?7 WHERE id = ?1");
        s.bind(1, authz.id).bind(2, to_string(authz.status));
        bind_challenge(s, 3, authz);
        write(s, "ACME authorization");
        if (db_.changes() == 0) not_found("ACME authorization " + std::to_string(authz.id));
    }

    std::optional<Authz> find_authz(Id id) override {
        auto v = authzs("id = ?1", [&](Stmt& s) { s.bind(1, id); });
        if (v.empty()) return std::nullopt;
        return std::move(v.front());
    }
    std::vector<Authz> authzs_of(Id order_id) override {
        return authzs("order_id = ?1", [&](Stmt& s) { s.bind(1, order_id); });
    }
    std::vector<Authz> processing_authzs() override {
        return authzs("challenge_status = 'processing'", [](Stmt&) {});
    }

    // Valid until `expires` (exclusive). A wildcard authorization for a.test
    // counts too: dns-01 for it proved control of the name itself.
    bool has_valid_authz(Id account_id, const Identifier& identifier, Time now) override {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "SELECT 1 FROM acme_authzs WHERE account_id = ?1 AND type = ?2 AND value = ?3 "
                    "AND wildcard = ?5 AND status = 'valid' AND expires > ?4 LIMIT 1");
        s.bind(1, account_id)
            .bind(2, to_string(identifier.type))
            .bind(3, base_name(identifier))
            .bind(4, unix_seconds(now))
            .bind(5, std::int64_t{is_wildcard(identifier)});
        return s.step();
    }

    void set_certificate_account(std::string_view serial_hex, Id account_id) override {
        const std::string serial = normalize_serial_hex(serial_hex);
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "UPDATE certificates SET account_id = ?2 WHERE serial = ?1");
        s.bind(1, serial).bind(2, account_id);
        write(s, "certificate " + serial, "ACME account " + std::to_string(account_id));
        if (db_.changes() == 0) not_found("serial " + serial);
    }

    std::optional<Id> certificate_account(std::string_view serial_hex) override {
        const std::string serial = normalize_serial_hex(serial_hex);
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, "SELECT account_id FROM certificates WHERE serial = ?1");
        s.bind(1, serial);
        if (!s.step() || s.null(0)) return std::nullopt;
        return s.integer(0);
    }

private:
    [[noreturn]] void not_found(const std::string& what) const {
        throw Error(ErrorKind::not_found, what + " is not in inventory " + db_.path().string());
    }

    // Runs a write: a UNIQUE violation is Error(exists) `conflict`, a
    // missing row a foreign key names is Error(not_found) `parent`.
    void write(Stmt& s, const std::string& conflict, const std::string& parent = "a row it refers to") {
        const int rc = s.step_raw();
        if (rc == SQLITE_DONE || rc == SQLITE_ROW) return;
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) throw Error(ErrorKind::exists, conflict);
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) not_found(parent);
        db_.fail_sqlite();
    }

    [[noreturn]] void corrupt(const char* table, const std::string& key, const char* what) const {
        db_.fail(std::string("corrupt ") + table + " row " + key + " (" + what + ")");
    }

    template <class Parse>
    auto parse(Parse parse_text, const Stmt& s, int column, const char* table, const std::string& key,
               const char* what) const {
        try {
            return parse_text(s.text(column));
        } catch (const Error&) {
            corrupt(table, key, what);
        }
    }

    void bind_challenge(Stmt& s, int first, const Authz& a) {
        if (a.challenge) s.bind(first, to_string(*a.challenge));
        else s.bind_null(first);
        s.bind(first + 1, to_string(a.challenge_status));
        bind_opt(s, first + 2, a.validated);
        bind_opt(s, first + 3, a.error);
        bind_opt(s, first + 4, a.record);
    }

    template <class Bind>
    std::optional<Account> one_account(const char* where, Bind bind) {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, std::string("SELECT ") + account_columns + " FROM acme_accounts WHERE " + where);
        bind(s);
        if (!s.step()) return std::nullopt;
        Account a;
        a.id = s.integer(0);
        const std::string key = std::to_string(a.id);
        a.thumbprint = s.text(1);
        a.spki_sha256 = s.text(2);
        a.jwk = s.text(3);
        a.status = parse(parse_account_status, s, 4, "acme_accounts", key, "status");
        auto contact = nlohmann::json::parse(s.text(5), nullptr, false);
        if (!contact.is_array()) corrupt("acme_accounts", key, "contact");
        for (const auto& c : contact) {
            if (!c.is_string()) corrupt("acme_accounts", key, "contact");
            a.contact.push_back(c.get<std::string>());
        }
        a.eab_kid = opt_text(s, 6);
        a.created_at = from_unix(s.integer(7));
        return a;
    }

    EabKey read_eab(const Stmt& s) const {
        EabKey k;
        k.kid = s.text(0);
        k.hmac_key = s.blob(1);
        k.created_at = from_unix(s.integer(2));
        if (!s.null(3)) k.account_id = s.integer(3);
        k.used_at = opt_time(s, 4);
        return k;
    }

    Order read_order(const Stmt& s) const {
        Order o;
        o.id = s.integer(0);
        const std::string key = std::to_string(o.id);
        o.account_id = s.integer(1);
        o.status = parse(parse_order_status, s, 2, "acme_orders", key, "status");
        o.expires = from_unix(s.integer(3));
        auto ids = nlohmann::json::parse(s.text(4), nullptr, false);
        if (!ids.is_array()) corrupt("acme_orders", key, "identifiers");
        for (const auto& j : ids) {
            if (!j.is_object() || !j.contains("type") || !j.contains("value") || !j["type"].is_string() ||
                !j["value"].is_string())
                corrupt("acme_orders", key, "identifiers");
            std::optional<IdentifierType> type;
            try {
                type = parse_identifier_type(j["type"].get<std::string>());
            } catch (const Error&) {
            }
            if (!type) corrupt("acme_orders", key, "identifiers");
            o.identifiers.push_back(Identifier{.type = *type, .value = j["value"].get<std::string>()});
        }
        o.error = opt_text(s, 5);
        o.cert_serial = opt_text(s, 6);
        o.replaces = opt_text(s, 7);
        o.created_at = from_unix(s.integer(8));
        return o;
    }

    template <class Bind>
    std::vector<Authz> authzs(const char* where, Bind bind) {
        std::lock_guard lock(db_.mutex());
        Stmt s(db_, std::string("SELECT ") + authz_columns + " FROM acme_authzs WHERE " + where + " ORDER BY id");
        bind(s);
        std::vector<Authz> out;
        while (s.step()) {
            Authz a;
            a.id = s.integer(0);
            const std::string key = std::to_string(a.id);
            a.order_id = s.integer(1);
            a.account_id = s.integer(2);
            a.identifier.type = parse(parse_identifier_type, s, 3, "acme_authzs", key, "type");
            a.identifier.value = s.text(4);
            a.wildcard = s.integer(5) != 0;
            a.status = parse(parse_authz_status, s, 6, "acme_authzs", key, "status");
            a.expires = from_unix(s.integer(7));
            a.token = s.text(8);
            if (!s.null(9)) a.challenge = parse(parse_challenge_type, s, 9, "acme_authzs", key, "challenge");
            a.challenge_status = parse(parse_challenge_status, s, 10, "acme_authzs", key, "challenge status");
            a.validated = opt_time(s, 11);
            a.error = opt_text(s, 12);
            a.record = opt_text(s, 13);
            out.push_back(std::move(a));
        }
        return out;
    }

    SqliteDb& db_;
};

}  // namespace

}  // namespace minica::acme

namespace minica::detail {
std::unique_ptr<acme::AcmeStore> make_sqlite_acme_store(SqliteDb& db) { return std::make_unique<acme::SqliteStore>(db); }
}  // namespace minica::detail
