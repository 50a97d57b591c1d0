#pragma once
// GET /metrics: the process's metrics (metrics/metrics.h) in the Prometheus text exposition
// format, for operators' scrapers.
//
// Counters and histograms are recorded where things happen. Projection and reactor lag and
// parked items are read from the database when /metrics is read — one read transaction of three
// statements (checkpoints against ledger_heads with the oldest unfolded event's recorded_at,
// one index probe each; outbox and charge_intents counted by state) — at most once per
// `refresh` and shared by the scrapes in between, so a scrape storm costs one query. They
// describe the whole database, whichever process serves them: gauges are equal across the
// processes of one deployment, counters are per process. When the query fails the answer is
// still 200 with every counter, no lag or parked series, and tally_state_query_up 0.
//
// No authentication: /metrics is for scrapers on the listen address (bind it to a private
// interface, or filter it at the proxy), and it publishes nothing that needs a key — no tenant
// id, token or raw path in any label, only gateway, projection, reactor and outbox kind names,
// partitions, outcomes and route patterns.
//
// Handle blocks on the database (at most once per `refresh`): call it from a worker thread.
// Thread-safe.

#include <chrono>
#include <mutex>
#include <string>

#include "http/message.h"
#include "metrics/metrics.h"

namespace tally::http {

struct MetricsEndpointOptions {
  std::string database_url;
  std::chrono::milliseconds refresh{1000};
};

class MetricsEndpoint {
 public:
  explicit MetricsEndpoint(MetricsEndpointOptions options);

  // 200 text/plain exposition for GET and HEAD; 405 method_not_allowed otherwise.
  HttpResponse Handle(const HttpRequest& request);

 private:
  const MetricsEndpointOptions options_;
  std::mutex mu_;
  bool read_ = false;
  std::chrono::steady_clock::time_point read_at_;
  metrics::StateSnapshot state_;
};

}  // namespace tally::http
