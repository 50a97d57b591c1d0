#pragma once
// The PostgreSQL baseline every benchmark reports against, measured in the same database and
// the same run as the measurement: for appends and ingestion, pgbench running a
// one-row-per-transaction INSERT of a row shaped like an events row (bigint key, stream id and
// version, idempotency key, 600-byte payload, three unique indexes); for reads, pgbench running
// the benchmark's own scripts (the SELECTs the API issues).

#include <string>
#include <vector>

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

// A custom pgbench script (one transaction per run of it) and its share of the mix (-f file@w).
struct PgbenchScript {
  std::string name;
  std::string text;
  int weight = 1;
};

struct PgbenchScriptResult {
  std::string name;
  int64_t transactions = 0;
  double tps = 0;
  double p50_ms = 0;  // from pgbench's per-transaction log (-l)
  double p99_ms = 0;
};

struct PgbenchMixResult {
  double tps = 0;  // all scripts together
  double latency_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::vector<PgbenchScriptResult> scripts;  // in the order given
};

// Runs pgbench (-n, no vacuum; -j 2) with `scripts` weighted against `url`, which must already
// hold what they read; latency percentiles come from pgbench's per-transaction log.
absl::StatusOr<PgbenchMixResult> RunPgbenchScripts(const std::string& url, const PgbenchRun& run,
                                                   const std::vector<PgbenchScript>& scripts);

}  // namespace tally::app
