// GET /metrics over real HTTP on loopback, wired as `tally serve` wires it, on a real log:
// webhooks, appends and requests move their counters by exactly what was done; histograms
// have their buckets; routes are labelled by pattern, so a webhook token never appears; lag
// gauges are read from the checkpoints for every partition.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "http/router.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "tenants/tenant_directory.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/pg.h"

namespace tally::http {
namespace {

using testing::Exposition;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kWebhookRoute[] = "/webhooks/{gateway}/{token}";

struct Harness {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase(/*partitions=*/2);
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  WebhookIngestion ingestion{*store, box, registry, clock, db->url()};
  // Read afresh at every scrape, so the test sees the checkpoints it just wrote.
  MetricsEndpoint metrics{{db->url(), std::chrono::milliseconds(0)}};
  Endpoints endpoints;
  std::unique_ptr<Server> server;
  std::string token;
  std::string tenant_id;

  Harness() {
    endpoints.webhooks = &ingestion;
    endpoints.metrics = &metrics;
    ServerOptions options;
    options.port = 0;
    options.on_answered = RecordHttpRequest;
    auto started = Server::Start(
        options,
        [this](const HttpRequest& r, Responder respond) {
          RouteRequest(r, endpoints, std::move(respond));
        },
        [this](const HttpRequest& r, Responder& respond) {
          return TryRouteWithoutBlocking(r, endpoints, respond);
        });
    REQUIRE(started.ok());
    server = std::move(*started);
    auto tenant = tenants::CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    token = tenant->webhook_token;
    tenant_id = tenant->tenant_id;
    REQUIRE(tenants::ConfigureGateway(*store, box, registry, tenant_id,
                                      {"stripe", "whsec_test", "", ""})
                .ok());
  }
  ~Harness() { server->Stop(); }

  std::string ScrapeText() {
    auto reply = testing::HttpGet(server->port(), "/metrics");
    REQUIRE(reply.status == 200);
    return reply.body;
  }
  Exposition Scrape() {
    std::string error;
    auto parsed = Exposition::Parse(ScrapeText(), &error);
    INFO(error);
    REQUIRE(parsed.has_value());
    return *parsed;
  }
  int PostStripe(const std::string& token_in_url, const std::string& body,
                 const std::string& secret, const std::string& gateway = "stripe") {
    const int64_t t = absl::ToUnixSeconds(absl::Now());
    return testing::HttpPost(
               server->port(), absl::StrCat("/webhooks/", gateway, "/", token_in_url), body,
               {{"Content-Type", "application/json"},
                {"Stripe-Signature",
                 absl::StrCat("t=", t, ",v1=",
                              gateways::HmacSha256Hex(secret, absl::StrCat(t, ".", body)))}})
        .status;
  }
};

std::string StripeBody(const std::string& event_id, const std::string& pi) {
  return absl::StrCat(
      R"({"id":")", event_id, R"(","object":"event","created":1795000000,)",
      R"("data":{"object":{"id":")", pi,
      R"(","object":"payment_intent","amount":4990,"amount_received":4990,)",
      R"("currency":"brl","status":"succeeded"}},"type":"payment_intent.succeeded"})");
}

std::map<std::string, std::string> Http(const std::string& route, const std::string& status_class,
                                        const std::string& method = "POST") {
  return {{"route", route}, {"method", method}, {"status_class", status_class}};
}

TEST_CASE(
    "metrics: webhooks, appends and HTTP requests move their counters by exactly what was done") {
  Harness h;
  const Exposition before = h.Scrape();
  CHECK(before.Type("tally_append_duration_seconds") == "histogram");

  const std::string body = StripeBody("evt_m1", "pi_M1");
  CHECK(h.PostStripe(h.token, body, "whsec_test") == 200);           // accepted
  CHECK(h.PostStripe(h.token, body, "whsec_test") == 200);           // duplicate
  CHECK(h.PostStripe(h.token, body, "whsec_wrong") == 401);          // bad_signature
  CHECK(h.PostStripe("not-a-token", body, "whsec_test") == 401);     // unknown_url
  CHECK(h.PostStripe(h.token, body, "whsec_test", "nopay") == 404);  // unknown gateway
  // One request of three events, and one expected-version conflict.
  REQUIRE(h.store
              ->Append(testing::Request(
                  h.tenant_id, "payment-stripe-pi_M2", ledger::ExpectedVersion::NoStream(),
                  {testing::PaymentCreatedEvent("m-1"), testing::PaymentCreatedEvent("m-2"),
                   testing::PaymentCreatedEvent("m-3")}))
              .ok());
  auto conflict = h.store->Append(testing::Request(h.tenant_id, "payment-stripe-pi_M2",
                                                   ledger::ExpectedVersion::NoStream(),
                                                   {testing::PaymentCreatedEvent("m-4")}));
  REQUIRE(conflict.status().code() == absl::StatusCode::kAborted);

  const std::string text = h.ScrapeText();
  std::string error;
  const auto parsed = Exposition::Parse(text, &error);
  INFO(error);
  REQUIRE(parsed.has_value());
  const Exposition& after = *parsed;
  auto moved = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    return after.Value(name, labels) - before.Value(name, labels);
  };

  CHECK(after.Type("tally_webhooks_total") == "counter");
  CHECK(moved("tally_webhooks_total", {{"gateway", "stripe"}, {"outcome", "accepted"}}) == 1);
  CHECK(moved("tally_webhooks_total", {{"gateway", "stripe"}, {"outcome", "duplicate"}}) == 1);
  CHECK(moved("tally_webhooks_total", {{"gateway", "stripe"}, {"outcome", "bad_signature"}}) == 1);
  CHECK(moved("tally_webhooks_total", {{"gateway", "stripe"}, {"outcome", "unknown_url"}}) == 1);
  CHECK(moved("tally_webhooks_total", {{"gateway", "unknown"}, {"outcome", "unknown_gateway"}}) ==
        1);
  // The client-chosen gateway name is not a label.
  CHECK(text.find("nopay") == std::string::npos);

  // The webhook's event and the three-event request; the duplicate and the conflict wrote none.
  CHECK(moved("tally_appended_events_total", {}) == 4);
  CHECK(moved("tally_append_requests_total", {{"outcome", "appended"}}) == 2);
  CHECK(moved("tally_append_requests_total", {{"outcome", "duplicate"}}) == 1);
  CHECK(moved("tally_append_requests_total", {{"outcome", "conflict"}}) == 1);
  CHECK(moved("tally_append_requests_total", {{"outcome", "failed"}}) == 0);
  CHECK(moved("tally_append_duration_seconds_count", {}) == 4);
  CHECK(moved("tally_append_batch_events_sum", {}) == 4);
  CHECK(moved("tally_append_batch_requests_sum", {}) == 4);
  CHECK(moved("tally_append_commit_duration_seconds_count", {}) >= 1);
  for (const char* le : {"0.0005", "0.001", "0.01", "0.1", "1", "10", "+Inf"}) {
    CHECK(after.Has("tally_append_duration_seconds_bucket", {{"le", le}}));
    CHECK(after.Has("tally_append_commit_duration_seconds_bucket", {{"le", le}}));
  }
  CHECK(after.Value("tally_append_duration_seconds_bucket", {{"le", "+Inf"}}) ==
        after.Value("tally_append_duration_seconds_count"));

  // Requests by route pattern and status class; the earlier scrape counts once.
  CHECK(moved("tally_http_request_duration_seconds_count", Http(kWebhookRoute, "2xx")) == 2);
  CHECK(moved("tally_http_request_duration_seconds_count", Http(kWebhookRoute, "4xx")) == 3);
  CHECK(moved("tally_http_request_duration_seconds_count", Http("/metrics", "2xx", "GET")) == 1);
  auto inf = Http(kWebhookRoute, "4xx");
  inf["le"] = "+Inf";
  CHECK(after.Value("tally_http_request_duration_seconds_bucket", inf) ==
        after.Value("tally_http_request_duration_seconds_count", Http(kWebhookRoute, "4xx")));
  double previous = 0;
  for (const char* le : {"0.0005", "0.005", "0.05", "0.5", "5", "+Inf"}) {
    auto labels = Http(kWebhookRoute, "4xx");
    labels["le"] = le;
    REQUIRE(after.Has("tally_http_request_duration_seconds_bucket", labels));
    CHECK(after.Value("tally_http_request_duration_seconds_bucket", labels) >= previous);
    previous = after.Value("tally_http_request_duration_seconds_bucket", labels);
  }
  // Neither the webhook token nor the tenant is in any label.
  CHECK(text.find(h.token) == std::string::npos);
  CHECK(text.find("not-a-token") == std::string::npos);
  CHECK(text.find(h.tenant_id) == std::string::npos);
  for (const auto& sample : after.All("tally_http_request_duration_seconds_count")) {
    CHECK(RoutePattern(sample.labels.at("route")) == sample.labels.at("route"));
  }
}

TEST_CASE("metrics: projection and reactor lag per partition, in events and seconds") {
  Harness h;
  int64_t heads[2] = {0, 0};
  {
    pqxx::connection c(h.db->url());
    pqxx::work txn(c);
    for (const auto& row : txn.exec("SELECT partition_id, position FROM ledger_heads")) {
      heads[row[0].as<int>()] = row[1].as<int64_t>();
    }
    // A projection and a reactor that have read nothing, in both partitions.
    txn.exec(
        "INSERT INTO projection_checkpoints (name, partition_id, position) "
        "SELECT 'payments', partition_id, 0 FROM ledger_heads");
    txn.exec(
        "INSERT INTO reactor_checkpoints (name, partition_id, position) "
        "SELECT 'delivery', partition_id, 0 FROM ledger_heads");
    txn.commit();
  }
  // The tenant's setup events are in the log.
  REQUIRE(heads[0] + heads[1] > 0);

  const Exposition state = h.Scrape();
  CHECK(state.Value("tally_state_query_up") == 1);
  for (int p = 0; p < 2; ++p) {
    const std::string partition = std::to_string(p);
    CAPTURE(partition);
    const std::map<std::string, std::string> projection = {{"projection", "payments"},
                                                           {"partition", partition}};
    const std::map<std::string, std::string> reactor = {{"reactor", "delivery"},
                                                        {"partition", partition}};
    REQUIRE(state.Has("tally_projection_lag_events", projection));
    REQUIRE(state.Has("tally_reactor_lag_events", reactor));
    CHECK(state.Value("tally_projection_lag_events", projection) == heads[p]);
    CHECK(state.Value("tally_reactor_lag_events", reactor) == heads[p]);
    // Behind: the age of its first unread event; an empty partition: 0.
    CHECK((state.Value("tally_projection_lag_seconds", projection) > 0) == (heads[p] > 0));
    CHECK(state.Value("tally_projection_lag_seconds", projection) < 600);
  }

  // Caught up: 0 events and 0 seconds behind.
  testing::ExecAsOwner(h.db->url(),
                       "UPDATE projection_checkpoints c SET position = h.position "
                       "FROM ledger_heads h WHERE h.partition_id = c.partition_id");
  const Exposition caught_up = h.Scrape();
  for (int p = 0; p < 2; ++p) {
    const std::map<std::string, std::string> projection = {{"projection", "payments"},
                                                           {"partition", std::to_string(p)}};
    CHECK(caught_up.Value("tally_projection_lag_events", projection) == 0);
    CHECK(caught_up.Value("tally_projection_lag_seconds", projection) == 0);
  }
}

TEST_CASE("metrics: without the database the counters are still served, and the gauges say so") {
  MetricsEndpoint endpoint({"host=/nonexistent port=1 dbname=none connect_timeout=1"});
  HttpResponse response = endpoint.Handle({"GET", "/metrics", {}, "", ""});
  CHECK(response.status == 200);
  CHECK(response.content_type == metrics::kContentType);
  auto parsed = Exposition::Parse(response.body);
  REQUIRE(parsed.has_value());
  CHECK(parsed->Has("tally_appended_events_total"));
  CHECK(parsed->Has("tally_state_query_up"));
  CHECK(parsed->Value("tally_state_query_up") == 0);
  CHECK(parsed->All("tally_projection_lag_events").empty());
  CHECK(endpoint.Handle({"POST", "/metrics", {}, "", ""}).status == 405);
}

}  // namespace
}  // namespace tally::http
