#pragma once
// Projection tables: their shape, and moving rows in and out of them.
//
// A row is a list of column values in PostgreSQL's text form (nullopt for NULL), so the same
// rows feed COPY during a rebuild and parameterized upserts during live folding, and the
// database parses them into the declared column types either way. Thread-compatible.

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tally::projections {

struct Column {
  std::string name;
  std::string type;  // SQL type, e.g. "bigint", "text", "boolean", "date"
};

struct TableSpec {
  std::string base;  // "payments": table proj_payments<suffix>, view "payments"
  std::vector<Column> columns;
  size_t key_columns = 1;         // the first key_columns columns are the primary key
  std::string constraints;        // extra table constraints, e.g. "CHECK (...)"
  bool has_view = true;           // helper tables that hold fold state have none
  std::string view_select = "*";  // the view's select list over the table
  // Secondary indexes for readers, each a column list such as "(tenant_id, paid_at)". Not part
  // of what a version computes: created with the primary key (after COPY in a rebuild), and on
  // the live tables at start when missing (EnsureInitialized), so adding one needs no rebuild.
  std::vector<std::string> indexes = {};
};

using Row = std::vector<std::optional<std::string>>;

std::string TableName(const TableSpec& spec, const std::string& suffix);

// CREATE TABLE for `spec` under `name`. Bulk loads create it without the primary key and add
// it after COPY (AddPrimaryKeySql): one sorted index build instead of a row-by-row one.
std::string CreateTableSql(const TableSpec& spec, const std::string& name, bool primary_key = true);
std::string AddPrimaryKeySql(const TableSpec& spec, const std::string& name);
// CREATE INDEX IF NOT EXISTS for each of spec.indexes on table `name` (named <name>_i<N>).
std::vector<std::string> CreateIndexSqls(const TableSpec& spec, const std::string& name);

// A row's key (its first key_columns values) as one string, for maps.
std::string KeyOf(const TableSpec& spec, const Row& row);

// The functions taking a transaction work in it and report a failed statement as a Status
// (its code from ledger::StatusFromException); `txn` is then aborted and must be rolled back.

// Rows of `table` whose keys are among `keys` (each a Row of key_columns values), by KeyOf.
absl::StatusOr<absl::flat_hash_map<std::string, Row>> LoadRows(pqxx::transaction_base& txn,
                                                               const TableSpec& spec,
                                                               const std::string& table,
                                                               const std::vector<Row>& keys);

// Inserts `rows`, replacing rows with the same key.
absl::Status UpsertRows(pqxx::transaction_base& txn, const TableSpec& spec,
                        const std::string& table, const std::vector<Row>& rows);

// Adds `rows` to `table`: on a key conflict, each non-key column named in `additive` is summed
// with the existing value; other columns are replaced.
absl::Status AddRows(pqxx::transaction_base& txn, const TableSpec& spec, const std::string& table,
                     const std::vector<Row>& rows, const std::vector<std::string>& additive);

// Deletes rows by key.
absl::Status DeleteRows(pqxx::transaction_base& txn, const TableSpec& spec,
                        const std::string& table, const std::vector<Row>& keys);

// COPY FROM STDIN in text format, for rebuilds. `conn` must be in a transaction or autocommit.
absl::Status CopyRows(PGconn* conn, const TableSpec& spec, const std::string& table,
                      const std::vector<Row>& rows);

// Text forms of common values.
std::string Bool(bool value);
std::optional<std::string> TimestampOrNull(int64_t micros);       // RFC 3339 UTC; NULL for 0
std::optional<std::string> TextOrNull(const std::string& value);  // NULL for ""

}  // namespace tally::projections
