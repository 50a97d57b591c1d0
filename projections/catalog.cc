#include "projections/catalog.h"

#include "absl/strings/str_cat.h"
#include "ledger/database.h"

namespace tally::projections {

std::string SuffixFor(int version) { return absl::StrCat("_v", version); }

std::optional<LiveVersion> ReadLiveVersion(pqxx::transaction_base& txn, const std::string& name,
                                           bool lock) {
  pqxx::result row = txn.exec_params(
      absl::StrCat("SELECT version, tables_suffix FROM projection_state WHERE name = $1",
                   lock ? " FOR SHARE" : ""),
      name);
  if (row.empty()) return std::nullopt;
  return LiveVersion{row[0][0].as<int>(), row[0][1].as<std::string>()};
}

void CreateTables(pqxx::transaction_base& txn, const Projection& projection,
                  const std::string& suffix, bool primary_keys) {
  for (const auto& spec : projection.tables()) {
    const std::string table = TableName(spec, suffix);
    txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", table));
    txn.exec(CreateTableSql(spec, table, primary_keys));
    if (primary_keys) {
      for (const std::string& sql : CreateIndexSqls(spec, table)) txn.exec(sql);
    }
    txn.exec(absl::StrCat("GRANT SELECT ON ", table, " TO ", ledger::kServiceRole));
  }
}

void PointViews(pqxx::transaction_base& txn, const Projection& projection,
                const std::string& suffix) {
  for (const auto& spec : projection.tables()) {
    if (!spec.has_view) continue;
    txn.exec(absl::StrCat("DROP VIEW IF EXISTS ", spec.base));
    txn.exec(absl::StrCat("CREATE VIEW ", spec.base, " AS SELECT ", spec.view_select, " FROM ",
                          TableName(spec, suffix)));
    txn.exec(absl::StrCat("GRANT SELECT ON ", spec.base, " TO ", ledger::kServiceRole));
  }
}

void SetLive(pqxx::transaction_base& txn, const Projection& projection, const std::string& suffix,
             const std::vector<int64_t>& checkpoints) {
  txn.exec_params(
      "INSERT INTO projection_state (name, version, tables_suffix, updated_at, rebuilding) "
      "VALUES ($1, $2, $3, now(), NULL) ON CONFLICT (name) DO UPDATE SET version = $2, "
      "tables_suffix = $3, updated_at = now(), rebuilding = NULL",
      projection.name(), projection.version(), suffix);
  for (size_t p = 0; p < checkpoints.size(); ++p) {
    txn.exec_params(
        "INSERT INTO projection_checkpoints (name, partition_id, position) VALUES ($1, $2, $3) "
        "ON CONFLICT (name, partition_id) DO UPDATE SET position = $3, updated_at = now(), "
        "error = NULL, error_position = NULL",
        projection.name(), static_cast<int>(p), checkpoints[p]);
  }
  PointViews(txn, projection, suffix);
}

absl::Status EnsureInitialized(const std::string& database_url, const Projection& projection) {
  auto conn = ledger::Connect(database_url, ledger::Session::kProjector);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::work txn(**conn);
    // Serialises first starts of the same projection across runners and processes.
    txn.exec_params("SELECT pg_advisory_xact_lock(hashtext('tally.projection.init.' || $1))",
                    projection.name());
    if (auto live = ReadLiveVersion(txn, projection.name(), false); live.has_value()) {
      // Indexes added to the binary's version since its tables were made.
      if (live->version == projection.version()) {
        for (const auto& spec : projection.tables()) {
          for (const std::string& sql : CreateIndexSqls(spec, TableName(spec, live->suffix))) {
            txn.exec(sql);
          }
        }
        txn.commit();
      }
      return absl::OkStatus();
    }
    const int partitions = txn.exec("SELECT count(*) FROM ledger_heads")[0][0].as<int>();
    const std::string suffix = SuffixFor(projection.version());
    CreateTables(txn, projection, suffix);
    SetLive(txn, projection, suffix, std::vector<int64_t>(partitions, 0));
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e,
                                       absl::StrCat("initializing projection ", projection.name()));
  }
}

absl::StatusOr<std::vector<ProjectionStatus>> ReadStatus(
    const std::string& database_url, const std::vector<std::unique_ptr<Projection>>& projections) {
  auto conn = ledger::Connect(database_url, ledger::Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    std::vector<int64_t> heads;
    for (const auto& row : txn.exec("SELECT position FROM ledger_heads ORDER BY partition_id")) {
      heads.push_back(row[0].as<int64_t>());
    }
    std::vector<ProjectionStatus> out;
    for (const auto& projection : projections) {
      ProjectionStatus status;
      status.name = projection->name();
      status.binary_version = projection->version();
      pqxx::result state = txn.exec_params(
          "SELECT version, coalesce(rebuilding, '') FROM projection_state WHERE name = $1",
          status.name);
      if (!state.empty()) {
        status.live_version = state[0][0].as<int>();
        status.rebuilding = state[0][1].as<std::string>();
      }
      for (const auto& row : txn.exec_params(
               "SELECT c.partition_id, c.position, coalesce(c.error, ''), "
               "       coalesce(c.error_position, 0), "
               "       coalesce(extract(epoch FROM now() - (SELECT e.recorded_at FROM events e "
               "          WHERE e.partition_id = c.partition_id AND e.position = c.position + 1"
               "       ))::float8, 0) "
               "FROM projection_checkpoints c WHERE c.name = $1 ORDER BY c.partition_id",
               status.name)) {
        PartitionStatus p;
        p.partition = row[0].as<int>();
        p.checkpoint = row[1].as<int64_t>();
        p.error = row[2].as<std::string>();
        p.error_position = row[3].as<int64_t>();
        p.lag_seconds = row[4].as<double>();
        p.head = p.partition < static_cast<int>(heads.size()) ? heads[p.partition] : 0;
        status.partitions.push_back(p);
      }
      std::string error;
      for (const auto& p : status.partitions) {
        if (!p.error.empty()) {
          error = absl::StrCat("stopped at partition ", p.partition, " position ", p.error_position,
                               ": ", p.error);
        }
      }
      if (status.live_version == 0) {
        status.state = "not started";
      } else if (!error.empty()) {
        status.state = error;
      } else if (!status.rebuilding.empty()) {
        status.state = "live, rebuilding " + status.rebuilding;
      } else if (status.live_version != status.binary_version) {
        status.state = absl::StrCat("waiting: serving v", status.live_version,
                                    ", this binary folds v", status.binary_version,
                                    " (run `tally projections rebuild ", status.name, "`)");
      } else {
        status.state = "live";
      }
      out.push_back(std::move(status));
    }
    return out;
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading projection status");
  }
}

}  // namespace tally::projections
