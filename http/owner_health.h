#pragma once
// GET /v1/health: the dashboard's health strip, for owner keys (an admin key is admitted too).
//
//   200 {"projection_lag":N,"projection_lag_seconds":S,"projections_stopped":["payments",...],
//        "reactor_lag":N,"parked":N}
// projection_lag: events the projections are behind the log (the largest over projections and
// partitions; projection_lag_seconds: the age of the oldest event not yet folded), from
// projections/catalog.h ReadStatus. reactor_lag: the same for the reactors' jobs; parked: items
// parked over every job (reactors/job_status.h). These are the system's figures, shared by every
// tenant (nothing in them is one tenant's). Computed at most once a second; 503
// database_unavailable when the database does not answer.
//
// Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/server.h"
#include "projections/projection.h"
#include "reactors/job_control.h"

namespace tally::http {

class OwnerHealth {
 public:
  // `jobs`: what the reactors role runs (reactors::ReactorHost::Jobs()), over `partitions`.
  OwnerHealth(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url,
              std::vector<reactors::JobSpec> jobs, int partitions);

  void Handle(const HttpRequest& request, Responder respond);

 private:
  HttpResponse Compute();

  const std::string database_url_;
  const std::vector<reactors::JobSpec> jobs_;
  const int partitions_;
  const std::vector<std::unique_ptr<projections::Projection>> projections_;
  ApiKeyAuthenticator auth_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point computed_at_;
  bool computed_ = false;
  HttpResponse last_;
};

}  // namespace tally::http
