#pragma once
// GET /readyz: whether this process should be sent traffic (GET /healthz only says it is up).
//
// Ready (200 {"status":"ready","projection_lag":N}) when the database answers, its schema is
// exactly the one this binary was built for (every migration applied, none changed), and the
// projections are at most `max_projection_lag` events behind the log in every partition
// (N: the largest lag, in events). Otherwise 503 {"error":{"code","message"}} with the first
// reason: database_unavailable, schema_not_current (the message says to run `tally migrate`),
// projections_lagging (which projection, which partition, by how much), projection_stopped (a
// projection halted on an event it cannot fold). The answer is computed at most once per second
// and shared by the requests of that second, so a probe storm costs one check.
//
// Check blocks on the database: call it from a worker thread. Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "http/message.h"
#include "ledger/migration.h"

namespace tally::http {

struct ReadinessOptions {
  std::string database_url;
  std::vector<ledger::MigrationFile> migrations;  // what this binary expects
  int64_t max_projection_lag = 10'000;
};

class Readiness {
 public:
  explicit Readiness(ReadinessOptions options);
  HttpResponse Check();

 private:
  HttpResponse Compute();

  const ReadinessOptions options_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point computed_at_;
  bool computed_ = false;
  HttpResponse last_;
};

}  // namespace tally::http
