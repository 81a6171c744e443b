// Where the ACME server keeps its state: accounts, External Account Binding
// keys, orders and authorizations. Internal (not installed).
//
// The store is part of the inventory (Inventory::acme()): the same SQLite
// file and connection, so an order turning valid commits in the same
// transaction as the certificate it issued (Inventory::issue's `also`
// calls into the store, which joins that transaction), and a restarted
// server finds every pending order where it was.
//
// The store keeps rows; the rules (which status follows which) are the
// service's (service.hpp, resources.hpp). Every write is durable when the
// call returns (synchronous=FULL), or, inside transaction(), when the
// outermost transaction commits. Every call is thread-safe (calls are
// serialized with the inventory's).
//
// Errors: Error(store) for a damaged row or an SQLite failure; the
// specific conflicts below are Error(exists).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minica/acme/resources.hpp"
#include "minica/types.hpp"

namespace minica::acme {

using Id = std::int64_t;  // row ids: the {id} in /acme/acct/{id}, /acme/order/{id}, /acme/authz/{id}

struct Account {
    Id id = 0;                     // assigned by insert_account
    std::string thumbprint;        // RFC 7638 of the current key, base64url: the lookup by JWK
    std::string spki_sha256;       // lower-case hex SHA-256 of the key's SubjectPublicKeyInfo DER
    std::string jwk;               // the key, canonical JSON (Jwk::canonical_json)
    AccountStatus status = AccountStatus::valid;
    std::vector<std::string> contact;  // "mailto:..." URLs
    std::optional<std::string> eab_kid;
    Time created_at{};
};

struct EabKey {
    std::string kid;
    std::string hmac_key;  // raw bytes
    Time created_at{};
    std::optional<Id> account_id;  // the account it bound (a key binds once)
    std::optional<Time> used_at;
};

struct Order {
    Id id = 0;  // assigned by insert_order
    Id account_id = 0;
    OrderStatus status = OrderStatus::pending;  // as stored; see order_status()
    Time expires{};
    std::vector<Identifier> identifiers;  // sorted, unique
    std::optional<std::string> error;     // a problem document (JSON text) once invalid
    std::optional<std::string> cert_serial;  // upper-case hex, once valid
    std::optional<std::string> replaces;     // the ARI certID "replaces" named (RFC 9773 §5)
    Time created_at{};
};

struct Authz {
    Id id = 0;  // assigned by insert_authz
    Id order_id = 0;
    Id account_id = 0;
    Identifier identifier;  // the base name (no "*."), wildcard below
    bool wildcard = false;
    AuthzStatus status = AuthzStatus::pending;  // as stored; see effective_status()
    Time expires{};
    std::string token;  // shared by its challenges
    std::optional<ChallengeType> challenge;  // the one the client answered
    ChallengeStatus challenge_status = ChallengeStatus::pending;
    std::optional<Time> validated;
    std::optional<std::string> error;   // problem document JSON text
    std::optional<std::string> record;  // validationRecord JSON text
};

class AcmeStore {
public:
    virtual ~AcmeStore() = default;

    // Runs `fn` in one write transaction (BEGIN IMMEDIATE; a savepoint when
    // one is open already, as inside Inventory::issue's `also`): every store
    // call `fn` makes joins it; it commits when `fn` returns, and nothing of
    // it stays when `fn` throws (the exception propagates).
    virtual void transaction(const std::function<void()>& fn) = 0;

    // Accounts. insert_account sets account.id; Error(exists) when the
    // thumbprint or the SPKI is another account's already.
    virtual void insert_account(Account& account) = 0;
    // Writes every field but id and created_at; Error(exists) for a key
    // another account holds (key rollover), Error(not_found) for no such id.
    virtual void update_account(const Account& account) = 0;
    virtual std::optional<Account> find_account(Id id) = 0;
    virtual std::optional<Account> find_account_by_thumbprint(std::string_view thumbprint) = 0;
    virtual std::optional<Account> find_account_by_spki(std::string_view spki_sha256) = 0;

    // EAB keys. insert_eab: Error(exists) for a kid already there.
    virtual void insert_eab(const EabKey& key) = 0;
    // Marks the key used by `account_id` at `at`; Error(exists) when it was
    // used already (two accounts racing for one key: one wins).
    virtual void bind_eab(std::string_view kid, Id account_id, Time at) = 0;
    virtual std::optional<EabKey> find_eab(std::string_view kid) = 0;
    virtual std::vector<EabKey> list_eab() = 0;
    // false when there was no such kid.
    virtual bool remove_eab(std::string_view kid) = 0;

    // Orders. insert_order sets order.id; Error(exists) when `replaces`
    // names a certificate another order (not invalid) already replaces.
    virtual void insert_order(Order& order) = 0;
    // Writes status, error, cert_serial (and replaces); Error(not_found).
    virtual void update_order(const Order& order) = 0;
    virtual std::optional<Order> find_order(Id id) = 0;
    // An account's orders, oldest first.
    virtual std::vector<Id> orders_of(Id account_id) = 0;

    // Authorizations. insert_authz sets authz.id.
    virtual void insert_authz(Authz& authz) = 0;
    // Writes status, challenge, challenge_status, validated, error, record.
    virtual void update_authz(const Authz& authz) = 0;
    virtual std::optional<Authz> find_authz(Id id) = 0;
    virtual std::vector<Authz> authzs_of(Id order_id) = 0;
    // Authorizations whose challenge is processing: what a restarted server
    // validates again.
    virtual std::vector<Authz> processing_authzs() = 0;
    // Whether `account_id` holds a valid, unexpired (at `now`) authorization
    // for this identifier as a certificate names it, "*.x" being x's
    // wildcard authorization (revocation by an account that controls every
    // name, RFC 8555 §7.6).
    virtual bool has_valid_authz(Id account_id, const Identifier& identifier, Time now) = 0;

    // The ACME account a certificate was issued to (the inventory's record
    // of it); set inside Inventory::issue's `also` at finalize.
    virtual void set_certificate_account(std::string_view serial_hex, Id account_id) = 0;
    virtual std::optional<Id> certificate_account(std::string_view serial_hex) = 0;
};

}  // namespace minica::acme

namespace minica::acme {

// A new External Account Binding key, recorded in `store`: `kid` as given
// (1..64 characters of [A-Za-z0-9_-], not starting with '-') or 16 random
// bytes in base64url, and a 256-bit HMAC key (neither starting with '-') (RFC 8555 §7.3.4: the CA hands both to the client out
// of band; `minica eab add` prints them). Error(invalid_argument) for a bad
// kid, Error(exists) for one already there.
EabKey new_eab_key(AcmeStore& store, std::optional<std::string> kid = std::nullopt);

}  // namespace minica::acme
