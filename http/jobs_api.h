#pragma once
// The admin jobs API (seed 003's admin jobs; what a job is and what pausing, resuming and
// triggering one does: reactors/job_control.h). Keys of scope admin only: an owner key is 403
// forbidden, no key or an unknown one 401 unauthorized.
//
//   GET  /v1/admin/jobs                   {"jobs":[<job>, ...]}
//   GET  /v1/admin/jobs/<name>            <job>, or 404 job_not_found
//   POST /v1/admin/jobs/<name>/pause      {"changed":true|false,"job":<job>}
//   POST /v1/admin/jobs/<name>/resume     (the same)
//   POST /v1/admin/jobs/<name>/trigger    (the same; changed is always true)
// A POST may carry {"reason":"..."} (at most 500 bytes), kept in the event. Pause and resume
// append an event only when the state changes; every trigger appends one. The admin key's id is
// the event's actor, with the request id and remote address.
//
// <job>: {"name","type":"reactor"|"outbox"|"timer"|"poller","state":"running"|"paused",
//   "state_changed_at","state_changed_by","reason" (of the last pause or resume, when any),
//   "last_triggered_at","last_triggered_by" (when any),"lag","backlog","in_flight","parked",
//   "next_due_at", "partitions":[{"partition","checkpoint","head","lag","backlog","in_flight",
//   "parked","next_due_at","leader":{"pid","application_name"} or null,"error" (a reactor
//   stopped by a poison event)}]}. Times are RFC 3339 UTC strings, null when there is none;
//   what the numbers count is in reactors/job_status.h. Names may be percent-encoded
//   ("outbox%3Adelivery").
//
// Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/job_control.h"

namespace tally::http {

class JobsApi {
 public:
  // `jobs`: what the reactors role runs (reactors::ReactorHost::Jobs()), over `partitions`.
  JobsApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url,
          std::vector<reactors::JobSpec> jobs, int partitions);

  // `path` starts with /v1/admin/jobs.
  void Handle(const HttpRequest& request, const std::string& path, Responder respond);

 private:
  HttpResponse Command(const HttpRequest& request, const std::string& actor,
                       const reactors::JobSpec& job, const std::string& command);
  // The job's JSON (or every job's when `job` is null), or an error response.
  HttpResponse Render(const reactors::JobSpec* job, const std::string& changed);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const std::string database_url_;
  const std::vector<reactors::JobSpec> jobs_;
  const int partitions_;
  ApiKeyAuthenticator auth_;
  // Read, not started: each request folds the jobs stream's new events.
  reactors::JobControl states_;
};

}  // namespace tally::http
