// Webhook ingestion over real HTTP on loopback into a real log: authentic notifications are
// recorded once and acknowledged only when durable; forgeries and bad input get the right
// status and never reach the ledger.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "http/router.h"
#include "http/server.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"
#include "tests/support/http_client.h"
#include "tests/support/pg.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Harness {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  std::unique_ptr<WebhookIngestion> ingestion =
      std::make_unique<WebhookIngestion>(*store, box, registry, clock, db->url());
  std::unique_ptr<Server> server;
  std::string token;
  std::string tenant_id;

  explicit Harness(ServerOptions options = {}) {
    options.port = 0;
    WebhookIngestion* handler = ingestion.get();
    // Wired as `tally serve` wires it: requests whose tenant is cached take the I/O thread's
    // non-blocking path, the rest (and every rejection) the worker path.
    auto started = Server::Start(
        options,
        [handler](const HttpRequest& r, Responder respond) {
          RouteRequest(r, {handler}, std::move(respond));
        },
        [handler](const HttpRequest& r, Responder& respond) {
          return TryRouteWithoutBlocking(r, {handler}, respond);
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
    REQUIRE(tenants::ConfigureGateway(*store, box, registry, tenant_id,
                                      {"pushinpay", "pp-secret", "", ""})
                .ok());
  }
  ~Harness() { server->Stop(); }

  int port() const { return server->port(); }

  std::vector<ledger::RecordedEvent> Stream(const std::string& stream) {
    auto events = store->ReadStream(tenant_id, stream);
    REQUIRE(events.ok());
    return *events;
  }

  int64_t Rejections() {
    pqxx::connection conn(db->url());
    pqxx::read_transaction txn(conn);
    return txn.exec1("SELECT count(*) FROM webhook_rejections")[0].as<int64_t>();
  }
};

std::string StripeBody(const std::string& event_id, const std::string& pi) {
  return absl::StrCat(
      R"({"id":")", event_id, R"(","object":"event","created":1795000000,)",
      R"("data":{"object":{"id":")", pi,
      R"(","object":"payment_intent","amount":4990,"amount_received":4990,)",
      R"("currency":"brl","status":"succeeded"}},"type":"payment_intent.succeeded"})");
}

std::vector<std::pair<std::string, std::string>> StripeHeaders(const std::string& body, int64_t t,
                                                               const std::string& secret) {
  return {
      {"Content-Type", "application/json"},
      {"Stripe-Signature",
       absl::StrCat("t=", t, ",v1=", gateways::HmacSha256Hex(secret, absl::StrCat(t, ".", body)))}};
}

int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

TEST_CASE(
    "a signed Stripe webhook is recorded once, and its redelivery answers 200 and writes nothing") {
  Harness h;
  const std::string body = StripeBody("evt_1", "pi_A1");
  auto first = testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                                 StripeHeaders(body, Now(), "whsec_test"));
  CHECK(first.status == 200);
  CHECK(first.body.find("\"duplicate\":false") != std::string::npos);
  auto again = testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                                 StripeHeaders(body, Now(), "whsec_test"));
  CHECK(again.status == 200);
  CHECK(again.body.find("\"duplicate\":true") != std::string::npos);

  auto events = h.Stream("payment-stripe-pi_A1");
  REQUIRE(events.size() == 1);
  pb::GatewayWebhookReceived received;
  REQUIRE(received.ParseFromString(events[0].payload));
  CHECK(received.raw_body() == body);  // verbatim
  CHECK(received.authenticity() == pb::AUTHENTICITY_SIGNED);
  CHECK(received.tenant_id() == h.tenant_id);
  CHECK(received.observation().status() == pb::OBSERVED_STATUS_PAID);
  CHECK(received.observation().amount().amount_minor() == 4990);
  CHECK(events[0].idempotency_key == "webhook:stripe:evt_1");
  CHECK(h.Rejections() == 0);
}

TEST_CASE("forgeries are refused with 401, recorded as rejections, and never reach the ledger") {
  Harness h;
  const std::string body = StripeBody("evt_2", "pi_F1");
  CHECK(testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                          StripeHeaders(body, Now(), "whsec_wrong"))
            .status == 401);
  auto stale = testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                                 StripeHeaders(body, Now() - 301, "whsec_test"));
  CHECK(stale.status == 401);
  CHECK(stale.body.find("300 s") != std::string::npos);
  CHECK(testing::HttpPost(h.port(), "/webhooks/stripe/not-a-token", body,
                          StripeHeaders(body, Now(), "whsec_test"))
            .status == 401);
  // A gateway this tenant never configured.
  CHECK(testing::HttpPost(h.port(), "/webhooks/paradise/" + h.token, "{}",
                          {{"Content-Type", "application/json"}})
            .status == 401);
  // An unsigned gateway without its secret header.
  CHECK(testing::HttpPost(h.port(), "/webhooks/pushinpay/" + h.token,
                          R"({"id":"X1","status":"paid","value":100})",
                          {{"Content-Type", "application/json"}})
            .status == 401);
  CHECK(h.Rejections() == 5);
  CHECK(h.Stream("payment-stripe-pi_F1").empty());
  CHECK(h.Stream("payment-pushinpay-x1").empty());
}

TEST_CASE("unsigned gateways: form body, lowercased ids, the secret header is not stored") {
  Harness h;
  auto reply = testing::HttpPost(
      h.port(), "/webhooks/pushinpay/" + h.token, "id=9C1B7E2A-AAAA&status=paid&value=1990",
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"X-Webhook-Secret", "pp-secret"}});
  CHECK(reply.status == 200);
  auto events = h.Stream("payment-pushinpay-9c1b7e2a-aaaa");
  REQUIRE(events.size() == 1);
  pb::GatewayWebhookReceived received;
  REQUIRE(received.ParseFromString(events[0].payload));
  CHECK(received.authenticity() == pb::AUTHENTICITY_UNVERIFIED);
  for (const auto& header : received.headers()) CHECK(header.name() != "x-webhook-secret");
  CHECK(events[0].payload.find("pp-secret") == std::string::npos);
  // Same notification again (no event id): deduplicated by the body's hash.
  CHECK(testing::HttpPost(h.port(), "/webhooks/pushinpay/" + h.token,
                          "id=9C1B7E2A-AAAA&status=paid&value=1990",
                          {{"Content-Type", "application/x-www-form-urlencoded"},
                           {"X-Webhook-Secret", "pp-secret"}})
            .status == 200);
  CHECK(h.Stream("payment-pushinpay-9c1b7e2a-aaaa").size() == 1);
}

TEST_CASE("bad input: unknown gateway 404, invalid JSON 400, wrong content type 415") {
  Harness h;
  auto unknown = testing::HttpPost(h.port(), "/webhooks/paypal/" + h.token, "{}",
                                   {{"Content-Type", "application/json"}});
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find("\"code\":\"unknown_gateway\"") != std::string::npos);
  auto bad_json =
      testing::HttpPost(h.port(), "/webhooks/pushinpay/" + h.token, "{not json",
                        {{"Content-Type", "application/json"}, {"X-Webhook-Secret", "pp-secret"}});
  CHECK(bad_json.status == 400);
  CHECK(bad_json.body.find("\"code\":\"bad_body\"") != std::string::npos);
  CHECK(testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, "hello",
                          {{"Content-Type", "text/plain"}})
            .status == 415);
  CHECK(testing::HttpGet(h.port(), "/nowhere").status == 404);
  CHECK(testing::HttpGet(h.port(), "/healthz").status == 200);
}

TEST_CASE("limits: body over 1 MiB is 413, headers over 16 KiB are 431, a slow client is cut off") {
  ServerOptions options;
  options.read_timeout = std::chrono::seconds(1);
  Harness h(options);
  auto big =
      testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, std::string((1 << 20) + 1, 'x'),
                        {{"Content-Type", "application/json"}});
  CHECK(big.status == 413);
  auto headers = testing::HttpPost(
      h.port(), "/webhooks/stripe/" + h.token, "{}",
      {{"Content-Type", "application/json"}, {"X-Padding", std::string(17 << 10, 'a')}});
  CHECK(headers.status == 431);
  // Half a request line, then silence: the server closes the connection after its timeout.
  auto [received, closed] =
      testing::RawExchange(h.port(), "POST /webhooks/stripe/x HTTP/1.1\r\n", 3000);
  CHECK(closed);
  CHECK(received.empty());
}

TEST_CASE("database unavailable: 503 so the gateway retries, recovered, the retry is recorded") {
  Harness h;
  const std::string body = StripeBody("evt_503", "pi_U1");
  const std::string db_name = h.db->name();
  // Cut the database off: no new connections, existing ones terminated.
  testing::ExecAsOwner(testing::AdminUrl(),
                       "ALTER DATABASE " + db_name + " WITH ALLOW_CONNECTIONS false");
  testing::ExecAsOwner(
      testing::AdminUrl(),
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db_name + "'");
  auto down = testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                                StripeHeaders(body, Now(), "whsec_test"));
  CHECK(down.status == 503);
  CHECK(down.body.find("\"code\":\"database_unavailable\"") != std::string::npos);

  testing::ExecAsOwner(testing::AdminUrl(),
                       "ALTER DATABASE " + db_name + " WITH ALLOW_CONNECTIONS true");
  auto retried = testing::HttpPost(h.port(), "/webhooks/stripe/" + h.token, body,
                                   StripeHeaders(body, Now(), "whsec_test"));
  CHECK(retried.status == 200);
  CHECK(h.Stream("payment-stripe-pi_U1").size() == 1);
}

}  // namespace
}  // namespace tally::http
