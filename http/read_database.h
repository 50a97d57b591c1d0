#pragma once
// Where the read API (and the audit API, the dashboard) read: the primary, or with
// `tally serve --read-database URL` a hot standby — a PostgreSQL streaming replica — so reads
// never compete with appends for the primary. Writes always go to the primary.
//
// Reads run in read-only REPEATABLE READ transactions on pooled service-role connections, so one
// answer is one snapshot. On a replica, every answer carries its replay lag:
// `Tally-Read-Source: replica` and `Tally-Replica-Lag-Ms: N` (0 when the replica has replayed
// all the WAL it received; otherwise the age of the last replayed transaction), measured in the
// answer's own transaction; on the primary, `Tally-Read-Source: primary`. Thread-safe.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "http/message.h"
#include "ledger/connection_pool.h"

namespace pqxx {
class transaction_base;
}

namespace tally::http {

class ReadDatabase {
 public:
  // `replica`: `url` names a hot standby.
  ReadDatabase(std::string url, bool replica, size_t max_connections = 16);

  bool replica() const { return replica_; }

  // Runs `read` in one read-only snapshot and adds the source headers to its answer. A database
  // error is 503 database_unavailable (logged, not shown); a view that does not exist yet (the
  // projections' first start on a new database) is 503 projections_not_ready; `read` may return
  // any response.
  HttpResponse Read(const std::function<HttpResponse(pqxx::transaction_base&)>& read);

  // The replica's replay lag in milliseconds (0 on the primary), in `txn`.
  int64_t ReplicaLagMs(pqxx::transaction_base& txn) const;

 private:
  const bool replica_;
  ledger::ConnectionPool pool_;
};

}  // namespace tally::http
