#pragma once
// The admin projections API (keys of scope admin only: other keys 403 forbidden, no key or an
// unknown one 401 unauthorized): status, rebuild and verify of the projections this binary
// folds (projections/catalog.h, projections/rebuild.h), as `tally projections ...` does.
//
//   GET  /v1/admin/projections                  {"projections":[<status>, ...]}
//   GET  /v1/admin/projections/<name>           <status>; 404 projection_not_found
//   POST /v1/admin/projections/<name>/rebuild   starts a rebuild into the binary's version on a
//        thread of its own: 202 and the run. One rebuild at a time in a process: while one runs
//        (of any projection) 409 rebuild_running with that run.
//   GET  /v1/admin/projections/<name>/rebuild   the projection's current or last run in this
//        process; 404 no_rebuild when there is none.
//   POST /v1/admin/projections/<name>/verify    folds the log into scratch tables and compares
//        them with the live ones (synchronous: it takes as long as a rebuild's read and fold):
//        {"projection","equal","checkpoints":[...],"tables":[{"table","equal","live_rows",
//        "rebuilt_rows","differing_keys":[...]}]}.
//
// <status>: {"name","binary_version","live_version","state","rebuilding" (suffix or ""),
//   "partitions":[{"partition","checkpoint","head","lag" (events),"lag_seconds"[,"error",
//   "error_position"]}]}.
// A run: {"run","projection","state":"running"|"done"|"failed","started_at","phase",
//   "events_done","events_total","events_per_second","eta_seconds" (while running),
//   "finished_at" and, once done, "report":{"suffix","events","catch_up_events",
//   "read_fold_seconds","copy_seconds","total_seconds"}, once failed "error"}. Runs live in this
//   process's memory; the rebuild itself is safe against other processes (projections/rebuild.h).
//
// Handle blocks on the database: call it from a worker thread. Thread-safe. The destructor
// waits for a running rebuild to finish (a rebuild cannot be interrupted half-way).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "projections/projection.h"
#include "projections/rebuild.h"

namespace tally::http {

class ProjectionsApi {
 public:
  ProjectionsApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url);
  ~ProjectionsApi();

  // `path` starts with /v1/admin/projections.
  void Handle(const HttpRequest& request, const std::string& path, Responder respond);

 private:
  struct RebuildRun {
    int64_t id = 0;
    std::string projection;
    std::string state;  // running | done | failed
    int64_t started_at_us = 0, finished_at_us = 0;
    projections::RebuildProgress progress;
    projections::RebuildReport report;
    std::string error;
  };

  HttpResponse Status(const projections::Projection* only);
  HttpResponse StartRebuild(const projections::Projection& projection, const std::string& actor);
  HttpResponse RebuildState(const projections::Projection& projection);
  HttpResponse Verify(const projections::Projection& projection);
  std::string RunJson() const;  // mu_ held

  const ledger::Clock& clock_;
  const std::string database_url_;
  const std::vector<std::unique_ptr<projections::Projection>> projections_;
  ApiKeyAuthenticator auth_;

  mutable std::mutex mu_;
  RebuildRun run_;  // id 0: none yet
  std::thread rebuilder_;
};

}  // namespace tally::http
