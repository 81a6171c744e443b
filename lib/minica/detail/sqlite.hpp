// The SQLite plumbing the inventory and the ACME store share (internal, not
// installed): one connection with its mutex, prepared statements, and write
// transactions that nest as savepoints.
//
// Both stores live in one file on one connection, so an ACME order turning
// valid commits in the same transaction as the certificate it issued: the
// store's calls made inside Inventory::issue's `also` find the transaction
// open and join it as a savepoint (Tx below).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace minica::detail {

// One connection to one database file. Errors name the file:
// Error(store) "inventory <path>: <reason>".
class SqliteDb {
public:
    explicit SqliteDb(std::filesystem::path path) : path_(std::move(path)) {}
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;
    ~SqliteDb() { close_quietly(); }

    // Opens `file` (the path itself, or the temporary a new database is built
    // under); messages still name path(). Extended result codes, busy timeout.
    void open(const std::filesystem::path& file, bool create, int busy_timeout_ms);
    // Closes the connection; Error(store) if SQLite cannot (statements left open).
    void close();
    void close_quietly() noexcept;

    sqlite3* handle() const noexcept { return db_; }
    const std::filesystem::path& path() const noexcept { return path_; }
    // Serializes every call on the connection (opened SQLITE_OPEN_NOMUTEX).
    // Recursive: an issue()'s build or also may call back into the stores.
    std::recursive_mutex& mutex() const noexcept { return mutex_; }

    [[noreturn]] void fail(std::string_view reason) const;
    [[noreturn]] void fail_sqlite() const;
    void exec(const char* sql) const;
    void exec(const std::string& sql) const { exec(sql.c_str()); }
    // Rows changed by the last INSERT/UPDATE/DELETE; the last inserted rowid.
    std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
    std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
    bool in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }
    // A single integer: the first column of the first row of `sql` (a PRAGMA, a count).
    std::int64_t integer(const char* sql, std::int64_t if_none = 0) const;

    // Prepared statements are kept and reused (Stmt takes one and gives it
    // back reset): preparing was a tenth of an ACME request's CPU. At most
    // `statement_cache_size` are kept; close() finalizes them.
    sqlite3_stmt* acquire(const char* sql) const;
    void release(sqlite3_stmt* s) const noexcept;
    static constexpr std::size_t statement_cache_size = 64;

private:
    void drop_statements() const noexcept;
    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
    mutable std::recursive_mutex mutex_;
    mutable std::mutex cache_mutex_;
    mutable std::unordered_multimap<std::string, sqlite3_stmt*> idle_;  // by SQL text
};

// A prepared statement, finalized on scope exit.
class Stmt {
public:
    Stmt(const SqliteDb& db, const char* sql);
    Stmt(const SqliteDb& db, const std::string& sql) : Stmt(db, sql.c_str()) {}
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() { db_.release(s_); }

    Stmt& bind(int i, std::int64_t v);
    Stmt& bind(int i, std::string_view v);
    Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Stmt& bind_blob(int i, std::string_view v);
    Stmt& bind_null(int i);
    bool step();  // true: a row is available; Error(store) on failure
    int step_raw() { return last_rc_ = sqlite3_step(s_); }
    void reset() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }

    std::int64_t integer(int i) const { return sqlite3_column_int64(s_, i); }
    bool null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
    std::string text(int i) const;
    std::string blob(int i) const;

private:
    const SqliteDb& db_;
    sqlite3_stmt* s_ = nullptr;
    int last_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed. Inside a
// transaction already open on this connection (an issue()'s `also` calling
// back into the inventory or the ACME store) it is a savepoint of that
// transaction: its work commits with the outer one or not at all.
class Tx {
public:
    explicit Tx(const SqliteDb& db);
    Tx(const Tx&) = delete;
    Tx& operator=(const Tx&) = delete;
    ~Tx();
    void commit();

private:
    const SqliteDb& db_;
    bool nested_;
    bool done_ = false;
};

}  // namespace minica::detail
