// The SQLite AcmeStore (store.hpp) over the inventory's own connection
// (internal, not installed): inventory_sqlite.cpp makes one per inventory,
// and Inventory::acme() hands it out.
#pragma once

#include <memory>

#include "minica/acme/store.hpp"

namespace minica::detail {
class SqliteDb;
}

namespace minica::acme {

// `db` (open, schema version 2 or later) must outlive the store.
std::unique_ptr<AcmeStore> make_sqlite_store(detail::SqliteDb& db);

}  // namespace minica::acme
