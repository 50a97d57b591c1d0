#pragma once
// The PostgreSQL baseline every append/ingest benchmark reports against: pgbench running a
// one-row-per-transaction INSERT of a row shaped like an events row (bigint key, stream id and
// version, idempotency key, 600-byte payload, three unique indexes), in the same database and
// the same run as the measurement.

#include <string>

#include "absl/status/statusor.h"

namespace tally::app {

struct PgbenchResult {
  double tps = 0;
  double latency_ms = 0;
};

struct PgbenchRun {
  int clients = 32;
  // Exactly one of these: transactions per client (-t) or seconds (-T).
  int64_t transactions_per_client = 0;
  int seconds = 0;
  std::string pgbench_path;  // default: PATH, then /usr/lib/postgresql/15/bin/pgbench
};

// Creates the baseline table in `url` (once) and runs pgbench against it.
absl::StatusOr<PgbenchResult> RunPgbenchInsert(const std::string& url, const PgbenchRun& run);

}  // namespace tally::app
