// GET /metrics of a real `tally serve` (every role in one process) after real sales: charges
// created through the API and paid at the sandbox, webhooks, Telegram deliveries and Meta
// Purchases (one bot's Meta token is invalid, so its Purchases are parked). The counters equal
// what the log says happened, parked items and lag are read per partition, and every route
// label is a pattern.

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"
#include "http/router.h"
#include "tests/reactors/serve_harness.h"
#include "tests/support/exposition.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

size_t LogSize(ServeHarness& h) {
  size_t n = 0;
  for (const auto& [stream, events] : h.Streams()) n += events.size();
  return n;
}

int CountInLog(ServeHarness& h, const std::string& type) {
  int n = 0;
  for (const auto& [stream, events] : h.Streams()) n += CountOf(events, type);
  return n;
}

TEST_CASE("metrics of a real tally serve: sends by outcome, parked items, webhooks, appends, lag") {
  std::vector<BotSpec> bots(2);
  bots[0] = {"7601:AAHmetricsmeta", "991001"};
  bots[1] = {"7602:AAHmetricsbadtoken", "991002"};
  bots[1].meta_token_valid = false;  // Meta answers 190: terminal, parked
  ServeHarness h(bots);
  // Everything this process appends from here on is the serve process's.
  const size_t setup_events = LogSize(h);
  h.StartHttp("http,projections,reactors");

  std::vector<ChargeSpec> charges;
  for (int i = 0; i < 4; ++i) {
    charges.push_back({"stripe", i < 2 ? "7601" : "7602", absl::StrCat("tg:", 6001 + i)});
  }
  ServeHarness::Charged charged = h.ChargeAndPay(charges, /*threads=*/2);
  INFO((charged.errors.empty() ? std::string() : charged.errors[0]));
  REQUIRE(charged.errors.empty());
  h.WaitWebhooksAcknowledged(charged.payments);
  auto meta_settled = [&] {
    for (const auto& s : h.Status()) {
      if (s.reactor == "outbox:meta_purchase") return s.done + s.parked == 4;
    }
    return false;
  };
  h.WaitQuiet(120s, meta_settled);

  auto reply = h.Get(h.HttpUrl() + "/metrics");
  REQUIRE(reply.status == 200);
  CHECK(reply.Header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  std::string error;
  auto parsed = Exposition::Parse(reply.body, &error);
  INFO(error);
  REQUIRE(parsed.has_value());
  const Exposition& m = *parsed;

  // Outbound calls: a Telegram delivery per sale; Meta accepted one bot's Purchases and
  // refused the other's for good.
  auto sends = [&](const std::string& kind, const std::string& outcome) {
    return m.Value("tally_outbound_sends_total", {{"kind", kind}, {"outcome", outcome}});
  };
  CHECK(sends("delivery", "succeeded") == 4);
  CHECK(sends("meta_purchase", "succeeded") == 2);
  CHECK(sends("meta_purchase", "terminal") == 2);
  CHECK(sends("meta_purchase", "retry") == 0);
  CHECK(CountInLog(h, "tally.payments.v1.MetaPurchaseSucceeded") == 2);
  CHECK(m.Value("tally_outbound_send_duration_seconds_count", {{"kind", "meta_purchase"}}) == 4);
  CHECK(m.Value("tally_parked_items", {{"queue", "outbox:meta_purchase"}, {"partition", "0"}}) ==
        2);
  REQUIRE(m.Has("tally_parked_items", {{"queue", "outbox:delivery"}, {"partition", "0"}}));
  CHECK(m.Value("tally_parked_items", {{"queue", "outbox:delivery"}, {"partition", "0"}}) == 0);

  // Every webhook the log holds was counted as accepted by this process, once.
  const int webhooks = CountInLog(h, "tally.payments.v1.GatewayWebhookReceived");
  CHECK(webhooks >= 4);
  CHECK(m.Value("tally_webhooks_total", {{"gateway", "stripe"}, {"outcome", "accepted"}}) ==
        webhooks);
  CHECK(m.Value("tally_http_request_duration_seconds_count",
                {{"route", "/v1/payments"}, {"method", "POST"}, {"status_class", "2xx"}}) == 4);
  // Every event after the setup was appended by the serve process, and counted there.
  CHECK(m.Value("tally_appended_events_total") == static_cast<double>(LogSize(h) - setup_events));

  // Caught up: no lag in any projection or reactor of the partition.
  for (const char* projection : {"payments", "revenue_daily", "purchase_tracking"}) {
    const std::map<std::string, std::string> labels = {{"projection", projection},
                                                       {"partition", "0"}};
    REQUIRE(m.Has("tally_projection_lag_events", labels));
    CHECK(m.Value("tally_projection_lag_events", labels) == 0);
    CHECK(m.Value("tally_projection_lag_seconds", labels) == 0);
  }
  const auto reactor_lags = m.All("tally_reactor_lag_events");
  CHECK(reactor_lags.size() >= 4);
  for (const Sample& s : reactor_lags) {
    CAPTURE(s.labels.at("reactor"));
    CHECK(s.value == 0);
  }
  for (const Sample& s : m.All("tally_http_request_duration_seconds_count")) {
    CHECK(http::RoutePattern(s.labels.at("route")) == s.labels.at("route"));
  }
  CHECK(reply.body.find(h.tenant_id()) == std::string::npos);
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
