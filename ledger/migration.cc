#include "ledger/migration.h"

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/hash_chain.h"

namespace tally::ledger {
namespace {

// Any constant works; it only has to be the same in every process that migrates.
constexpr int64_t kMigrationLockKey = 0x7a11e700001;

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "  version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

struct Applied {
  std::string name;
  std::string sha256;
};

absl::flat_hash_map<int, Applied> LoadApplied(pqxx::transaction_base& txn) {
  absl::flat_hash_map<int, Applied> applied;
  for (const auto& row : txn.exec("SELECT version, name, sha256 FROM schema_migrations")) {
    applied[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return applied;
}

absl::Status CheckUnchanged(const std::vector<MigrationFile>& files,
                            const absl::flat_hash_map<int, Applied>& applied) {
  for (const auto& file : files) {
    auto it = applied.find(file.version);
    if (it == applied.end()) continue;
    if (it->second.sha256 != HexEncode(Sha256(file.sql))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", file.name, " was applied with different content (recorded sha256 ",
          it->second.sha256, "); applied migrations must never change: add a new file"));
    }
  }
  return absl::OkStatus();
}

int LatestVersion(const std::vector<MigrationFile>& files) {
  return files.empty() ? 0 : files.back().version;
}

}  // namespace

absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                const std::vector<MigrationFile>& files,
                                                int partitions) {
  auto conn = Connect(database_url, Session::kOwner);
  if (!conn.ok()) return conn.status();
  MigrationReport report;
  std::string current = "(connecting)";
  try {
    pqxx::nontransaction session(**conn);
    session.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
    session.exec(kCreateMigrationsTable);
    auto applied = LoadApplied(session);
    if (absl::Status status = CheckUnchanged(files, applied); !status.ok()) {
      session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
      return status;
    }
    session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  } catch (const std::exception& e) {
    return StatusFromException(e, "reading schema_migrations");
  }
  try {
    // Each file in its own transaction, under a transaction-level advisory lock, re-checking
    // that no other process applied it meanwhile.
    for (const auto& file : files) {
      current = file.name;
      pqxx::work txn(**conn);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      if (!txn.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", file.version)
               .empty()) {
        continue;
      }
      txn.exec(file.sql);
      txn.exec_params("INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                      file.version, file.name, HexEncode(Sha256(file.sql)));
      txn.commit();
      report.applied.push_back(file.name);
    }
    current = "ledger_heads";
    pqxx::work txn(**conn);
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    const int existing = txn.exec("SELECT count(*) FROM ledger_heads")[0][0].as<int>();
    if (existing == 0) {
      const int count = partitions > 0 ? partitions : 1;
      txn.exec_params("INSERT INTO ledger_heads (partition_id) SELECT generate_series(0, $1 - 1)",
                      count);
      report.partitions = count;
    } else if (partitions > 0 && partitions != existing) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the log already has ", existing, " partitions; it cannot be changed to ", partitions));
    } else {
      report.partitions = existing;
    }
    txn.commit();
  } catch (const std::exception& e) {
    return StatusFromException(e, absl::StrCat("applying ", current));
  }
  report.version = LatestVersion(files);
  return report;
}

absl::Status CheckSchema(const std::string& database_url, const std::vector<MigrationFile>& files) {
  auto conn = Connect(database_url, Session::kOwner);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::read_transaction txn(**conn);
    if (txn.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database has no Tally schema; this binary needs schema version ",
                       LatestVersion(files), ": run `tally migrate`"));
    }
    auto applied = LoadApplied(txn);
    if (absl::Status status = CheckUnchanged(files, applied); !status.ok()) return status;
    int database_version = 0;
    for (const auto& [version, unused] : applied)
      database_version = std::max(database_version, version);
    for (const auto& file : files) {
      if (!applied.contains(file.version)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the database schema is at version ", database_version, " but this binary needs ",
            LatestVersion(files), " (", file.name, " is not applied): run `tally migrate`"));
      }
    }
    if (database_version > LatestVersion(files)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database schema is at version ", database_version,
          ", newer than this binary knows (", LatestVersion(files), "): deploy a newer tally"));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "checking the schema version");
  }
}

}  // namespace tally::ledger
