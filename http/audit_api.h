#pragma once
// The audit API, for keys of scope auditor (tenants/tenant_directory.h): a tenant-bound auditor
// key sees its tenant only, an all-tenant one (a system key) every tenant. Any other key is 403
// forbidden, no key or an unknown one 401 unauthorized. Read-only: nothing here appends.
// Another tenant's stream or tenant is 404, exactly as one that does not exist.
//
//   GET /v1/audit/streams/<stream>   {"stream_id","events":[<event>, ...]} in version order;
//       404 stream_not_found. <event> is ledger::EventToJson (payload and metadata as JSON,
//       prev_hash and hash). The stream may be percent-encoded.
//   GET /v1/audit/events?partition=P&after=N&limit=L
//       application/x-ndjson: one <event> per line, the partition's events with position > N
//       (default 0) in position order, at most L (default 1000, at most 10000) scanned. A
//       tenant-bound key gets its tenant's events only, and its partition by default; an
//       all-tenant key must name the partition. The page is built in memory (L bounds it) and
//       sent whole. Header Tally-Next-After: the position to pass as `after` for the next page
//       (the last one scanned, which a tenant-bound page may have left out); Tally-End: "true"
//       when fewer than L events were left, i.e. the page reached the partition's head.
//   GET /v1/audit/as-of?time=T&view=payments|revenue[&tenant=X]
//       projections/as_of.h's JSON: the view as of T (RFC 3339). A tenant-bound key gets its
//       tenant (tenant= may only name it); an all-tenant key every tenant or tenant=X.
//   POST /v1/audit/verify  starts a verification of every partition's hash chain
//       (ledger/auditor.h) on a thread of its own, unless one is running: 202 and the run.
//   GET /v1/audit/verify   the current or last run (200), or, when this process has run none,
//       starts one (202). A run: {"run","state":"running"|"done"|"failed","started_at",
//       "verified","total" (events: verified so far, in the log when the run started)}, once
//       done with "finished_at" and "partitions":[{"partition","verified","head_position",
//       "head_hash","ok"[,"bad_position","problem"]}], once failed with "error". A tenant-bound
//       key sees its tenant's partition only (the chain is the partition's, other tenants'
//       events included: it is verified whole). The run lives in this process's memory.
// Bad query parameters are 400 invalid_parameter naming the parameter.
//
// Handle blocks on the database: call it from a worker thread. Thread-safe. The destructor
// cancels a running verification and waits for its thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/server.h"
#include "ledger/auditor.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "tenants/stream_tenants.h"

namespace tally::http {

class AuditApi {
 public:
  AuditApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url);
  ~AuditApi();

  // `path` starts with /v1/audit/.
  void Handle(const HttpRequest& request, const std::string& path, Responder respond);

 private:
  struct VerifyRun {
    int64_t id = 0;
    std::string state;  // running | done | failed
    int64_t started_at_us = 0, finished_at_us = 0;
    int64_t total = 0;
    std::vector<int64_t> done;  // per partition, while running
    std::vector<ledger::PartitionVerification> partitions;
    std::vector<int64_t> heads;
    std::string error;
  };

  HttpResponse Stream(const tenants::ApiPrincipal& who, const std::string& stream);
  HttpResponse Events(const tenants::ApiPrincipal& who, const std::string& target);
  HttpResponse AsOf(const tenants::ApiPrincipal& who, const std::string& target);
  HttpResponse Verify(const tenants::ApiPrincipal& who, bool start);
  // The run as JSON; mu_ held.
  std::string VerifyJson(const tenants::ApiPrincipal& who) const;
  void RunVerify(int64_t id);
  // The stream's tenant, through the shared cache.
  absl::StatusOr<std::string> TenantOf(const ledger::RecordedEvent& event);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const std::string database_url_;
  ApiKeyAuthenticator auth_;

  std::mutex tenants_mu_;
  std::unique_ptr<tenants::StreamTenants> stream_tenants_;  // guarded by tenants_mu_
  int64_t tenants_lookups_ = 0;                             // guarded by tenants_mu_

  std::mutex mu_;
  VerifyRun run_;  // id 0: none yet
  std::thread verifier_;
  std::atomic<bool> cancel_{false};
};

}  // namespace tally::http
