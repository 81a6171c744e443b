// The SQLite AcmeStore (store.hpp) over the inventory's own connection
// (internal, not installed): inventory_sqlite.cpp makes one per inventory,
// and Inventory::acme() hands it out.
#pragma once

#include <memory>

#include "minica/acme/store.hpp"

namespace minica::detail {
class SqliteDb;

// `db` (open, schema version 2 or later) must outlive the store. In
// minica::detail, as it takes one of its types: libminica.so exports no
// minica::detail (libminica.map; tests/e2e_packaging.py checks).
std::unique_ptr<acme::AcmeStore> make_sqlite_acme_store(SqliteDb& db);

}  // namespace minica::detail
