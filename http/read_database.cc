#include "http/read_database.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

namespace tally::http {

ReadDatabase::ReadDatabase(std::string url, bool replica, size_t max_connections)
    : replica_(replica), pool_(std::move(url), ledger::Session::kService, max_connections) {}

int64_t ReadDatabase::ReplicaLagMs(pqxx::transaction_base& txn) const {
  if (!replica_) return 0;
  pqxx::row row = txn.exec1(
      "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
      "WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
      "ELSE coalesce((extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) "
      "* 1000)::bigint, 0) END");
  return std::max<int64_t>(0, row[0].as<int64_t>());
}

HttpResponse ReadDatabase::Read(const std::function<HttpResponse(pqxx::transaction_base&)>& read) {
  try {
    auto lease = pool_.Acquire();
    if (!lease.ok()) {
      spdlog::warn("read database unavailable: {}", std::string(lease.status().message()));
      return JsonError(503, "database_unavailable", "the database is unavailable; try again");
    }
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**lease);
    HttpResponse response = read(txn);
    const int64_t lag = ReplicaLagMs(txn);
    txn.commit();
    response.headers.push_back({"Tally-Read-Source", replica_ ? "replica" : "primary"});
    if (replica_) response.headers.push_back({"Tally-Replica-Lag-Ms", std::to_string(lag)});
    return response;
  } catch (const pqxx::undefined_table& e) {
    // A new database whose projections have not made their tables yet (their first start).
    spdlog::warn("read before the projections exist: {}", e.what());
    return JsonError(503, "projections_not_ready",
                     "the read models are being created; try again in a few seconds");
  } catch (const std::exception& e) {
    spdlog::warn("read failed: {}", e.what());
    return JsonError(503, "database_unavailable", "the database is unavailable; try again");
  }
}

}  // namespace tally::http
