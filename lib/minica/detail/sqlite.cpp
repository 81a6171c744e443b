// detail/sqlite.hpp: the connection, statements and transactions the
// inventory and the ACME store share.
#include "minica/detail/sqlite.hpp"

#include "minica/error.hpp"

namespace minica::detail {

void SqliteDb::open(const std::filesystem::path& file, bool create, int busy_timeout_ms) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;  // our mutex serializes calls
    if (create) flags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(file.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string m = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        close_quietly();
        fail(m);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
}

void SqliteDb::close() {
    drop_statements();
    if (db_ && sqlite3_close(db_) != SQLITE_OK) fail_sqlite();
    db_ = nullptr;
}

void SqliteDb::close_quietly() noexcept {
    drop_statements();
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
}

void SqliteDb::drop_statements() const noexcept {
    std::lock_guard lock(cache_mutex_);
    for (auto& [sql, st] : idle_) sqlite3_finalize(st);
    idle_.clear();
}

sqlite3_stmt* SqliteDb::acquire(const char* sql) const {
    {
        std::lock_guard lock(cache_mutex_);
        auto it = idle_.find(sql);
        if (it != idle_.end()) {
            sqlite3_stmt* st = it->second;
            idle_.erase(it);
            return st;
        }
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
        sqlite3_finalize(st);
        fail_sqlite();
    }
    return st;
}

void SqliteDb::release(sqlite3_stmt* st) const noexcept {
    if (!st) return;
    // Reset: a statement left mid-step would hold its read transaction.
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    std::lock_guard lock(cache_mutex_);
    if (db_ && idle_.size() < statement_cache_size) {
        idle_.emplace(sqlite3_sql(st), st);
    } else {
        sqlite3_finalize(st);
    }
}

void SqliteDb::fail(std::string_view reason) const {
    throw Error(ErrorKind::store, "inventory " + path_.string() + ": " + std::string(reason));
}

void SqliteDb::fail_sqlite() const { fail(db_ ? sqlite3_errmsg(db_) : "cannot open"); }

void SqliteDb::exec(const char* sql) const {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : sqlite3_errmsg(db_);
        sqlite3_free(msg);
        fail(m);
    }
}

std::int64_t SqliteDb::integer(const char* sql, std::int64_t if_none) const {
    Stmt s(*this, sql);
    return s.step() ? s.integer(0) : if_none;
}

Stmt::Stmt(const SqliteDb& db, const char* sql) : db_(db), s_(db.acquire(sql)) {}
Stmt& Stmt::bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(s_, i, v) != SQLITE_OK) db_.fail_sqlite();
    return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
    if (sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        db_.fail_sqlite();
    return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
    if (sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        db_.fail_sqlite();
    return *this;
}
Stmt& Stmt::bind_null(int i) {
    if (sqlite3_bind_null(s_, i) != SQLITE_OK) db_.fail_sqlite();
    return *this;
}
bool Stmt::step() {
    last_rc_ = sqlite3_step(s_);
    if (last_rc_ == SQLITE_ROW) return true;
    if (last_rc_ == SQLITE_DONE) return false;
    db_.fail_sqlite();
}
std::string Stmt::text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string();
}
std::string Stmt::blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string();
}

Tx::Tx(const SqliteDb& db) : db_(db), nested_(db.in_transaction()) {
    db_.exec(nested_ ? "SAVEPOINT nested" : "BEGIN IMMEDIATE");
}

Tx::~Tx() {
    if (done_) return;
    const char* undo = nested_ ? "ROLLBACK TO nested; RELEASE nested" : "ROLLBACK";
    sqlite3_exec(db_.handle(), undo, nullptr, nullptr, nullptr);
}

void Tx::commit() {
    db_.exec(nested_ ? "RELEASE nested" : "COMMIT");
    done_ = true;
}

}  // namespace minica::detail
