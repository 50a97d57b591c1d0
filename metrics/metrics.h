#pragma once
// Tally's Prometheus metrics: one process-wide prometheus::Registry (prometheus-cpp) that the
// code paths below record into through the small functions of this header, and Exposition(),
// which renders it in the text exposition format (0.0.4) with prometheus::TextSerializer for
// GET /metrics (http/metrics_endpoint.h). prometheus-cpp stays out of this header, so including
// it costs nothing; every function is thread-safe and cheap (atomics, and a mutex-guarded label
// lookup for labelled series).
//
// A process-wide registry, against the house rule of no globals: a metric is recorded deep in
// code (the appender's writer thread, an outbox sender) that would otherwise need a registry
// threaded through every constructor on the way, and a process has exactly one /metrics. Tests
// that check counters read them through Exposition() and compare before and after.
//
// Labels never carry a tenant id, a token or a raw URL path: cardinality stays bounded and one
// tenant's activity is not published under its name. Recorded here, by where they happen:
//
//   ledger/partition_appender.cc (group commit; every append goes through it)
//     tally_appended_events_total                   counter   events written (duplicates not)
//     tally_append_requests_total{outcome}          counter   appended|duplicate|conflict|failed
//     tally_append_duration_seconds                 histogram per request: queued -> answered
//     tally_append_batch_requests                   histogram requests per group commit
//     tally_append_batch_events                     histogram events per group commit
//     tally_append_commit_duration_seconds          histogram per batch: plan, write, commit
//   http/webhook_ingestion.cc
//     tally_webhooks_total{gateway,outcome}         counter   accepted|duplicate, or the
//     rejection's
//                                                             stable error code (bad_signature,
//                                                             unknown_url, bad_body, ...);
//                                                             gateway "unknown" for an unknown one
//   reactors/outbox.cc (every outbound call: Telegram messages, Meta CAPI, ...)
//     tally_outbound_sends_total{kind,outcome}      counter   kind = outbox kind (delivery,
//                                                             meta_purchase, welcome, ...);
//                                                             succeeded|retry|terminal
//     tally_outbound_send_duration_seconds{kind}    histogram the call alone
//   http/server.cc via http/router.h RecordHttpRequest (every request handed to the router)
//     tally_http_request_duration_seconds{route,method,status_class}
//                                                   histogram route = the route's pattern
//                                                             ("/webhooks/{gateway}/{token}"),
//                                                             status_class = 2xx..5xx
//   computed from the database when /metrics is read (StateSnapshot; see metrics_endpoint.h)
//     tally_projection_lag_events{projection,partition}  gauge  head - checkpoint
//     tally_projection_lag_seconds{projection,partition} gauge  age of the oldest unfolded event
//     tally_reactor_lag_events{reactor,partition}        gauge
//     tally_reactor_lag_seconds{reactor,partition}       gauge
//     tally_parked_items{queue,partition}                gauge  outbox:<kind> items parked,
//                                                              charge_intents unresolved
//     tally_state_query_up                               gauge  1 when the last query worked
//
// Rejections: a refused webhook is tally_webhooks_total with its rejection code as outcome, an
// expected-version conflict is tally_append_requests_total{outcome="conflict"}, and every
// other refused request shows in tally_http_request_duration_seconds_count by status class.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tally::metrics {

enum class AppendOutcome { kAppended, kDuplicate, kConflict, kFailed };

// One append request answered, `seconds` after it was queued.
void RecordAppendRequest(AppendOutcome outcome, double seconds);
// One group-commit batch: its requests, the events it wrote, and how long it took to plan,
// write and commit (re-plans included).
void RecordAppendBatch(size_t requests, size_t events_written, double seconds);

// One webhook answered: `gateway` must be a known gateway's name (else pass "unknown").
void RecordWebhook(std::string_view gateway, std::string_view outcome);

enum class SendOutcome { kSucceeded, kRetry, kTerminal };
// One outbound call of an outbox kind, and how long the call took.
void RecordOutboundSend(std::string_view kind, SendOutcome outcome, double seconds);

// One HTTP request answered with `status`, `seconds` after it was read. `route` is a pattern
// from a fixed set, never a raw path; a method outside GET, HEAD, POST, PUT, PATCH, DELETE and
// OPTIONS is counted as "other".
void RecordHttpRequest(std::string_view route, std::string_view method, int status, double seconds);

// What the database says at scrape time.
struct LagSample {
  std::string name;  // projection or reactor
  int partition = 0;
  int64_t events = 0;
  double seconds = 0;
};
struct ParkedSample {
  std::string queue;  // "outbox:<kind>", "charge_intents"
  int partition = 0;
  int64_t items = 0;
};
struct StateSnapshot {
  bool ok = false;  // false: the query failed; the vectors are empty
  std::vector<LagSample> projections;
  std::vector<LagSample> reactors;
  std::vector<ParkedSample> parked;
};

// The text exposition of every metric above: the registry's, then `state` as gauges.
std::string Exposition(const StateSnapshot& state);

inline constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tally::metrics
