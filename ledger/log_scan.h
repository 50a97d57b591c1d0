#pragma once
// Bulk reads of the log for rebuilds and verification: every event of the given position
// ranges, in (partition, position) order, streamed through COPY ... TO STDOUT (FORMAT binary),
// the fastest way out of PostgreSQL. Metadata, keys and hashes are not read (folds do not use
// them). Also the raw-libpq pieces bulk writers need. Thread-compatible.

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ledger/database.h"
#include "ledger/event.h"

namespace tally::ledger {

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using RawConnection = std::unique_ptr<PGconn, PgConnDeleter>;

// A libpq connection in the given session role (see Connect in ledger/database.h).
absl::StatusOr<RawConnection> ConnectRaw(const std::string& url, Session session);

// Runs SQL without results; the error message on failure.
absl::Status ExecRaw(PGconn* conn, const std::string& sql);

struct ScanRange {
  int partition = 0;
  int64_t after = 0;  // exclusive
  int64_t upto = 0;   // inclusive
};

// Calls `sink` for every event in the ranges, in order; stops at the first error it returns.
absl::Status ScanLog(PGconn* conn, const std::vector<ScanRange>& ranges,
                     const std::function<absl::Status(RecordedEvent&&)>& sink);

}  // namespace tally::ledger
