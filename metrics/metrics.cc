#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <iterator>

namespace tally::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

// From 0.5 ms (a batch of one on a local database) to 10 s (a stalled database or gateway).
const Histogram::BucketBoundaries kSecondsBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Powers of two up to the appender's default most events per batch (2000).
const Histogram::BucketBoundaries kBatchBuckets = {1,  2,   4,   8,   16,   32,
                                                   64, 128, 256, 512, 1024, 2048};

struct Registry {
  prometheus::Registry registry;

  Counter& appended_events = BuildCounter()
                                 .Name("tally_appended_events_total")
                                 .Help("Events written to the log (duplicates not counted).")
                                 .Register(registry)
                                 .Add({});
  Family<Counter>& append_requests =
      BuildCounter()
          .Name("tally_append_requests_total")
          .Help(
              "Append requests answered, by outcome: appended, duplicate (idempotency key "
              "seen), conflict (expected version), failed.")
          .Register(registry);
  std::array<Counter*, 4> append_outcomes = {&append_requests.Add({{"outcome", "appended"}}),
                                             &append_requests.Add({{"outcome", "duplicate"}}),
                                             &append_requests.Add({{"outcome", "conflict"}}),
                                             &append_requests.Add({{"outcome", "failed"}})};
  Histogram& append_duration =
      BuildHistogram()
          .Name("tally_append_duration_seconds")
          .Help("Per append request, from queued at the partition's appender to answered.")
          .Register(registry)
          .Add({}, kSecondsBuckets);
  Histogram& batch_requests = BuildHistogram()
                                  .Name("tally_append_batch_requests")
                                  .Help("Append requests per group-commit batch.")
                                  .Register(registry)
                                  .Add({}, kBatchBuckets);
  Histogram& batch_events = BuildHistogram()
                                .Name("tally_append_batch_events")
                                .Help("Events written per group-commit batch.")
                                .Register(registry)
                                .Add({}, kBatchBuckets);
  Histogram& commit_duration =
      BuildHistogram()
          .Name("tally_append_commit_duration_seconds")
          .Help("Per group-commit batch: plan, write and commit, re-plans included.")
          .Register(registry)
          .Add({}, kSecondsBuckets);
  Family<Counter>& webhooks =
      BuildCounter()
          .Name("tally_webhooks_total")
          .Help(
              "Gateway webhooks answered, by gateway and outcome (accepted, duplicate, or the "
              "rejection's error code).")
          .Register(registry);
  Family<Counter>& sends = BuildCounter()
                               .Name("tally_outbound_sends_total")
                               .Help(
                                   "Outbound calls made by outbox senders, by kind and outcome "
                                   "(succeeded, retry, terminal).")
                               .Register(registry);
  Family<Histogram>& send_duration = BuildHistogram()
                                         .Name("tally_outbound_send_duration_seconds")
                                         .Help("Outbound calls made by outbox senders, by kind.")
                                         .Register(registry);
  Family<Histogram>& http = BuildHistogram()
                                .Name("tally_http_request_duration_seconds")
                                .Help(
                                    "HTTP requests, from read to answered, by route pattern, "
                                    "method and status class.")
                                .Register(registry);
};

// Never destroyed: appender and sender threads may record while static destructors run.
Registry& Metrics() {
  static Registry* registry = new Registry();
  return *registry;
}

const char* OutcomeName(SendOutcome outcome) {
  switch (outcome) {
    case SendOutcome::kSucceeded:
      return "succeeded";
    case SendOutcome::kRetry:
      return "retry";
    case SendOutcome::kTerminal:
      return "terminal";
  }
  return "unknown";
}

std::string MethodLabel(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return std::string(known);
  }
  return "other";
}

std::string StatusClass(int status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status / 100) + "xx";
}

}  // namespace

void RecordAppendRequest(AppendOutcome outcome, double seconds) {
  Registry& m = Metrics();
  m.append_outcomes[static_cast<size_t>(outcome)]->Increment();
  m.append_duration.Observe(seconds);
}

void RecordAppendBatch(size_t requests, size_t events_written, double seconds) {
  Registry& m = Metrics();
  m.appended_events.Increment(static_cast<double>(events_written));
  m.batch_requests.Observe(static_cast<double>(requests));
  m.batch_events.Observe(static_cast<double>(events_written));
  m.commit_duration.Observe(seconds);
}

void RecordWebhook(std::string_view gateway, std::string_view outcome) {
  Metrics()
      .webhooks.Add({{"gateway", std::string(gateway)}, {"outcome", std::string(outcome)}})
      .Increment();
}

void RecordOutboundSend(std::string_view kind, SendOutcome outcome, double seconds) {
  Registry& m = Metrics();
  m.sends.Add({{"kind", std::string(kind)}, {"outcome", OutcomeName(outcome)}}).Increment();
  m.send_duration.Add({{"kind", std::string(kind)}}, kSecondsBuckets).Observe(seconds);
}

void RecordHttpRequest(std::string_view route, std::string_view method, int status,
                       double seconds) {
  Metrics()
      .http
      .Add({{"route", std::string(route)},
            {"method", MethodLabel(method)},
            {"status_class", StatusClass(status)}},
           kSecondsBuckets)
      .Observe(seconds);
}

std::string Exposition(const StateSnapshot& state) {
  std::vector<prometheus::MetricFamily> families = Metrics().registry.Collect();

  // The state gauges live in a registry of their own, built afresh from each snapshot, so a
  // series that is gone from the database (a removed projection) is gone from the output.
  prometheus::Registry snapshot;
  auto lag_family = [&](const std::string& name, const std::string& help) -> Family<Gauge>& {
    return BuildGauge().Name(name).Help(help).Register(snapshot);
  };
  auto& projection_events = lag_family("tally_projection_lag_events",
                                       "Events in the partition the projection has not folded.");
  auto& projection_seconds =
      lag_family("tally_projection_lag_seconds",
                 "Age of the oldest event the projection has not folded (0 when caught up).");
  auto& reactor_events = lag_family("tally_reactor_lag_events",
                                    "Events in the partition the reactor has not handled.");
  auto& reactor_seconds =
      lag_family("tally_reactor_lag_seconds",
                 "Age of the oldest event the reactor has not handled (0 when caught up).");
  auto& parked = lag_family("tally_parked_items",
                            "Items parked for an operator: outbox items that failed for good, "
                            "charge intents nobody could settle.");
  auto& up = lag_family("tally_state_query_up",
                        "1 when the lag and parked gauges could be read from the database.");
  for (const LagSample& s : state.projections) {
    const prometheus::Labels labels = {{"projection", s.name},
                                       {"partition", std::to_string(s.partition)}};
    projection_events.Add(labels).Set(static_cast<double>(s.events));
    projection_seconds.Add(labels).Set(s.seconds);
  }
  for (const LagSample& s : state.reactors) {
    const prometheus::Labels labels = {{"reactor", s.name},
                                       {"partition", std::to_string(s.partition)}};
    reactor_events.Add(labels).Set(static_cast<double>(s.events));
    reactor_seconds.Add(labels).Set(s.seconds);
  }
  for (const ParkedSample& s : state.parked) {
    parked.Add({{"queue", s.queue}, {"partition", std::to_string(s.partition)}})
        .Set(static_cast<double>(s.items));
  }
  up.Add({}).Set(state.ok ? 1 : 0);
  std::vector<prometheus::MetricFamily> gauges = snapshot.Collect();
  families.insert(families.end(), std::make_move_iterator(gauges.begin()),
                  std::make_move_iterator(gauges.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tally::metrics
