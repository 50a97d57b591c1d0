// End to end through the sandbox simulators, over real loopback HTTP into a real log:
// POST /v1/payments creates the charge at the (simulated) gateway and records PaymentCreated;
// paying it makes the simulator post its webhook to Tally, which records it in the same stream.
// Also: idempotent retries, every bad-input class of the charge API, duplicated and reordered
// webhooks, and a webhook that lands before the create call has returned.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/router.h"
#include "http/server.h"
#include "projections/payment_fold.h"
#include "sandbox/sandbox.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/sandbox_control.h"

namespace tally::http {
namespace {

using namespace std::chrono_literals;
namespace pb = payments::v1;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kGateways[] = {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"};

// Tally (webhooks + charges) and the sandbox, wired as in production: the tenant's gateway
// accounts point at the sandbox's base URLs, and the sandbox posts webhooks to Tally.
struct Harness {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  HttpClient client;
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<WebhookIngestion> webhooks;
  std::unique_ptr<ChargeApi> charges;
  Endpoints endpoints;
  std::unique_ptr<Server> server;
  std::string tenant_id, token, api_key;

  // `wrap` lets a test interpose on the gateway calls (still made over HTTP to the sandbox).
  explicit Harness(std::function<gateways::Transport(gateways::Transport)> wrap = nullptr,
                   std::chrono::milliseconds gateway_timeout = 3000ms) {
    auto s = sandbox::Sandbox::Start({});
    REQUIRE(s.ok());
    sandbox = std::move(*s);
    ServerOptions options;
    options.port = 0;
    auto started = Server::Start(options, [this](const HttpRequest& r, Responder respond) {
      RouteRequest(r, endpoints, std::move(respond));
    });
    REQUIRE(started.ok());
    server = std::move(*started);
    gateways::Transport transport = GatewayTransport(client, gateway_timeout);
    if (wrap) transport = wrap(transport);
    webhooks = std::make_unique<WebhookIngestion>(*store, box, registry, clock, db->url());
    charges =
        std::make_unique<ChargeApi>(*store, box, registry, clock, transport,
                                    ChargeApiOptions{TallyUrl(""), gateway_timeout.count() * 1000});
    endpoints = {webhooks.get(), charges.get(), nullptr};

    auto tenant = tenants::CreateTenant(*store, box, "Loja da Ana", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    token = tenant->webhook_token;
    api_key = tenant->api_key;
    // The bot and product the charges name (Body below).
    REQUIRE(tenants::RegisterBot(*store, box, tenant_id, "777:AAHchargesbot", "loja_bot").ok());
    tenants::ProductSettings product;
    product.bot_id = "777";
    product.product_id = "vip";
    product.name = "Mentoria VIP";
    product.price_minor = 1990;
    product.deliver_url = "https://cursos.example.com/vip";
    REQUIRE(tenants::ConfigureProduct(*store, tenant_id, product).ok());
    for (const std::string gateway : kGateways) {
      const std::string key = "key-" + gateway;
      const std::string secret = "secret-" + gateway;
      REQUIRE(tenants::ConfigureGateway(*store, box, registry, tenant_id,
                                        {gateway, secret, key, sandbox->BaseUrl(gateway)})
                  .ok());
      testing::SandboxAccount(client, *sandbox, gateway, key, secret,
                              TallyUrl("/webhooks/stripe/" + token));
    }
  }
  ~Harness() {
    sandbox->Stop();
    server->Stop();
  }

  std::string TallyUrl(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", server->port(), path);
  }
  ClientResponse Control(const std::string& path, const std::string& body) {
    return testing::SandboxPost(client, *sandbox, path, body);
  }
  ClientResponse CreatePayment(const std::string& body, const std::string& idempotency_key = "",
                               const std::string& key = "") {
    ClientRequest request{"POST",
                          TallyUrl("/v1/payments"),
                          {{"Content-Type", "application/json"},
                           {"Authorization", "Bearer " + (key.empty() ? api_key : key)}},
                          body,
                          10000ms};
    if (!idempotency_key.empty()) request.headers.emplace_back("Idempotency-Key", idempotency_key);
    auto r = client.Send(request);
    REQUIRE(r.ok());
    return *r;
  }
  std::vector<ledger::RecordedEvent> Stream(const std::string& stream) {
    auto events = store->ReadStream(tenant_id, stream);
    REQUIRE(events.ok());
    return *events;
  }
  // Waits, bounded, until `stream` holds `count` events (webhooks arrive asynchronously).
  std::vector<ledger::RecordedEvent> WaitForEvents(const std::string& stream, size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto events = Stream(stream);
      if (events.size() >= count || std::chrono::steady_clock::now() > deadline) return events;
      std::this_thread::sleep_for(10ms);
    }
  }
  void Drain() { testing::SandboxDrain(*sandbox); }
};

std::string Body(const std::string& gateway, int64_t amount = 1990) {
  return absl::StrCat(R"({"gateway":")", gateway, R"(","amount_minor":)", amount,
                      R"(,"currency":"BRL","description":"Mentoria VIP","bot_id":"777",)",
                      R"("customer":{"id":"tg:42","name":"Ana","email":"ana@example.com"},)",
                      R"("product_id":"vip","tracking":{"utm_source":"fb","fbp":"fb.1.1.1"}})");
}

struct Created {
  std::string payment_id, transaction_id, stream, pix;
};

Created Parse(const ClientResponse& response) {
  auto f = gateways::PayloadFields::ParseJson(response.body);
  REQUIRE(f.ok());
  return {f->Text("payment_id"), f->Text("gateway_transaction_id"), f->Text("stream"),
          f->Text("pix_copy_paste")};
}

projections::PaymentState Fold(const std::vector<ledger::RecordedEvent>& events) {
  projections::PaymentState state;
  for (const auto& e : events) REQUIRE(projections::ApplyPaymentEvent(state, e).ok());
  return state;
}

std::string ErrorCode(const ClientResponse& response) {
  auto f = gateways::PayloadFields::ParseJson(response.body);
  return f.ok() ? f->Text("error.code") : "";
}

TEST_CASE("each gateway: create a charge, pay it, and its webhook lands in the payment's stream") {
  Harness h;
  for (const std::string gateway : kGateways) {
    CAPTURE(gateway);
    auto response = h.CreatePayment(Body(gateway));
    REQUIRE(response.status == 201);
    const Created c = Parse(response);
    CHECK(c.pix.rfind("000201", 0) == 0);
    CHECK(c.stream == "payment-" + gateway + "-" + c.transaction_id);
    auto events = h.Stream(c.stream);
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == "tally.payments.v1.PaymentCreated");
    pb::PaymentCreated created;
    REQUIRE(created.ParseFromString(events[0].payload));
    CHECK(created.payment_id() == c.payment_id);
    CHECK(created.tenant_id() == h.tenant_id);
    CHECK(created.amount().amount_minor() == 1990);
    CHECK(created.pix_copy_paste() == c.pix);
    CHECK(created.tracking().fbp() == "fb.1.1.1");

    CHECK(h.Control(absl::StrCat("/sandbox/charges/", gateway, "/", c.transaction_id, "/pay"), "{}")
              .status == 200);
    events = h.WaitForEvents(c.stream, 2);
    REQUIRE(events.size() == 2);
    CHECK(events[1].type == "tally.payments.v1.GatewayWebhookReceived");
    const projections::PaymentState state = Fold(events);
    CHECK(state.payment_id == c.payment_id);
    if (gateway == "mercadopago") {
      // Its webhook only says "look": the status stays pending until a poll.
      CHECK(state.status == projections::PaymentStatus::kPending);
    } else {
      CHECK(state.status == projections::PaymentStatus::kPaid);
      // Signed Stripe confirms; the unsigned gateways wait for a poll before delivery.
      CHECK(state.paid_confirmed == (gateway == "stripe"));
    }
  }
  h.Drain();
  CHECK(h.sandbox->stats().webhooks_failed_attempts == 0);
}

TEST_CASE("Idempotency-Key: a retry returns the same payment, another body with it is refused") {
  Harness h;
  auto first = h.CreatePayment(Body("pushinpay"), "order-1001");
  REQUIRE(first.status == 201);
  auto retry = h.CreatePayment(Body("pushinpay"), "order-1001");
  CHECK(retry.status == 200);
  CHECK(retry.Header("idempotent-replayed") == "true");
  CHECK(Parse(retry).payment_id == Parse(first).payment_id);
  CHECK(Parse(retry).pix == Parse(first).pix);
  auto other = h.CreatePayment(Body("pushinpay", 2990), "order-1001");
  CHECK(other.status == 422);
  CHECK(ErrorCode(other) == "idempotency_key_reused");
  auto fresh = h.CreatePayment(Body("pushinpay"), "order-1002");
  CHECK(fresh.status == 201);
  CHECK(Parse(fresh).payment_id != Parse(first).payment_id);
  // Without the header every call is a new payment.
  CHECK(Parse(h.CreatePayment(Body("pushinpay"))).payment_id !=
        Parse(h.CreatePayment(Body("pushinpay"))).payment_id);
}

// How many charges the simulator holds with Tally's `reference`.
int ChargesAtGateway(Harness& h, const std::string& reference) {
  auto r = h.client.Send({"GET", h.sandbox->BaseUrl("sandbox") + "/charges", {}, "", 5000ms});
  REQUIRE(r.ok());
  int n = 0;
  const std::string needle = absl::StrCat(R"("reference":")", reference, R"(")");
  for (size_t at = r->body.find(needle); at != std::string::npos;
       at = r->body.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("concurrent retries with one Idempotency-Key record one payment") {
  Harness h;
  for (const std::string gateway : {"stripe", "paradise"}) {
    CAPTURE(gateway);
    const std::string key = "order-race-" + gateway;
    std::vector<ClientResponse> answers(6);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < answers.size(); ++i) {
      threads.emplace_back([&, i] {
        HttpClient own;
        auto r = own.Send({"POST",
                           h.TallyUrl("/v1/payments"),
                           {{"Content-Type", "application/json"},
                            {"Authorization", "Bearer " + h.api_key},
                            {"Idempotency-Key", key}},
                           Body(gateway),
                           10000ms});
        REQUIRE(r.ok());
        answers[i] = *r;
      });
    }
    for (auto& t : threads) t.join();
    // One creates; the others are replays of it, or — while it is still waiting for the
    // gateway — 409 charge_in_doubt (retry later), never a second charge at the gateway.
    std::set<std::string> payment_ids;
    int created = 0;
    for (const auto& a : answers) {
      if (a.status == 409) {
        CHECK(ErrorCode(a) == "charge_in_doubt");
        continue;
      }
      CHECK((a.status == 201 || a.status == 200));
      created += a.status == 201;
      payment_ids.insert(Parse(a).payment_id);
    }
    CHECK(created == 1);
    REQUIRE(payment_ids.size() == 1);
    CHECK(ChargesAtGateway(h, *payment_ids.begin()) == 1);
    int recorded = 0;
    for (const auto& e : testing::AllEvents(h.db->url())) {
      if (e.type != "tally.payments.v1.PaymentCreated") continue;
      pb::PaymentCreated p;
      REQUIRE(p.ParseFromString(e.payload));
      recorded += p.payment_id() == *payment_ids.begin();
    }
    CHECK(recorded == 1);
  }
}

TEST_CASE("charge API: every bad-input class gets its status and stable code") {
  Harness h;
  auto no_auth = h.client.Send({"POST",
                                h.TallyUrl("/v1/payments"),
                                {{"Content-Type", "application/json"}},
                                Body("stripe"),
                                3000ms});
  REQUIRE(no_auth.ok());
  CHECK(no_auth->status == 401);
  CHECK(h.CreatePayment(Body("stripe"), "", "tly_not-a-key").status == 401);
  auto wrong_type =
      h.client.Send({"POST",
                     h.TallyUrl("/v1/payments"),
                     {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + h.api_key}},
                     Body("stripe"),
                     3000ms});
  REQUIRE(wrong_type.ok());
  CHECK(wrong_type->status == 415);
  auto bad_json = h.CreatePayment("{\"gateway\": ");
  CHECK(bad_json.status == 400);
  CHECK(ErrorCode(bad_json) == "invalid_json");
  auto no_amount = h.CreatePayment(R"({"gateway":"stripe"})");
  CHECK(no_amount.status == 400);
  CHECK(ErrorCode(no_amount) == "invalid_request");
  CHECK(no_amount.body.find("amount_minor") != std::string::npos);
  CHECK(h.CreatePayment(Body("stripe", -5)).status == 400);
  CHECK(h.CreatePayment(R"({"gateway":"stripe","amount_minor":"19.90"})").status == 400);
  CHECK(ErrorCode(h.CreatePayment(Body("paypal"))) == "invalid_request");
  CHECK(h.CreatePayment(R"({"gateway":"pushinpay","amount_minor":100,"currency":"USD"})").status ==
        400);
  CHECK(h.CreatePayment(Body("stripe"), std::string(201, 'k')).status == 400);
  auto long_field = h.CreatePayment(absl::StrCat(
      R"({"gateway":"stripe","amount_minor":100,"description":")", std::string(300, 'x'), "\"}"));
  CHECK(long_field.status == 400);
  CHECK(long_field.body.find("description") != std::string::npos);
  CHECK(h.Stream("tenant-" + h.tenant_id).size() == 7);  // created, key, 5 gateways: no more
}

TEST_CASE("charge API: gateway failures map to 422/502/504 and record nothing") {
  // A "gateway" that answers too late.
  ServerOptions slow_options;
  slow_options.port = 0;
  std::vector<std::thread> late;
  std::mutex late_mu;
  auto slow = Server::Start(slow_options, [&](const HttpRequest&, Responder respond) {
    std::lock_guard lock(late_mu);
    late.emplace_back([respond] {
      std::this_thread::sleep_for(1500ms);
      respond({200, "application/json", "{}"});
    });
  });
  REQUIRE(slow.ok());
  {
    Harness h(nullptr, 300ms);
    REQUIRE(
        tenants::ConfigureGateway(*h.store, h.box, h.registry, h.tenant_id,
                                  {"paradise", "", "key-paradise",
                                   absl::StrCat("http://127.0.0.1:", (*slow)->port(), "/paradise")})
            .ok());
    auto timeout = h.CreatePayment(Body("paradise"), "slow-1");
    CHECK(timeout.status == 504);
    CHECK(ErrorCode(timeout) == "gateway_timeout");

    REQUIRE(tenants::ConfigureGateway(*h.store, h.box, h.registry, h.tenant_id,
                                      {"atomopay", "", "wrong-key", h.sandbox->BaseUrl("atomopay")})
                .ok());
    auto refused = h.CreatePayment(Body("atomopay"), "refused-1");
    CHECK(refused.status == 502);
    CHECK(ErrorCode(refused) == "gateway_credentials_rejected");
    // A refusal (4xx) settles its intent: nothing was created, so a retry with the key is not
    // in doubt and calls again at once (refused again here). The timed-out one is in doubt:
    // it is looked up by reference, never created again (the look-up times out too here).
    auto refused_again = h.CreatePayment(Body("atomopay"), "refused-1");
    CHECK(ErrorCode(refused_again) == "gateway_credentials_rejected");
    auto timeout_again = h.CreatePayment(Body("paradise"), "slow-1");
    CHECK(ErrorCode(timeout_again) == "gateway_timeout");
    int intents = 0, refusals = 0;
    for (const auto& e : testing::AllEvents(h.db->url())) {
      intents += e.type == "tally.payments.v1.ChargeRequested";
      if (e.type != "tally.payments.v1.ChargeUnresolved") continue;
      payments::v1::ChargeUnresolved u;
      REQUIRE(u.ParseFromString(e.payload));
      CHECK(u.reason() == payments::v1::ChargeUnresolved::REASON_NOT_AT_GATEWAY);
      CHECK(u.gateway() == "atomopay");
      ++refusals;
    }
    CHECK(intents == 3);  // slow-1, and refused-1 twice (attempts 1 and 2)
    CHECK(refusals == 2);

    // A second tenant with no gateway configured.
    auto other = tenants::CreateTenant(*h.store, h.box, "Outra", "America/Sao_Paulo");
    REQUIRE(other.ok());
    // (Its charge names no bot: bot 777 is the first tenant's, and would be unknown_bot.)
    auto unconfigured =
        h.CreatePayment(R"({"gateway":"stripe","amount_minor":1990})", "", other->api_key);
    CHECK(unconfigured.status == 422);
    CHECK(ErrorCode(unconfigured) == "gateway_not_configured");

    for (const auto& e : testing::AllEvents(h.db->url())) {
      CHECK(e.type != "tally.payments.v1.PaymentCreated");
    }
  }
  for (auto& t : late) t.join();
  (*slow)->Stop();
}

TEST_CASE("a webhook that lands before the create call returns shares the payment's stream") {
  Harness* self = nullptr;
  std::string paid_stream;
  // After the sandbox answers the create call, pay the charge and wait until Tally has recorded
  // the webhook — only then hand the answer back to the charge API.
  auto wrap = [&](gateways::Transport real) -> gateways::Transport {
    return [&, real](const gateways::ApiRequest& request) -> absl::StatusOr<gateways::ApiResponse> {
      auto answer = real(request);
      if (!answer.ok() || request.method != "POST") return answer;
      auto f = gateways::PayloadFields::ParseJson(answer->body);
      REQUIRE(f.ok());
      const std::string id = f->Text("id");
      REQUIRE(self->Control("/sandbox/charges/stripe/" + id + "/pay", "{}").status == 200);
      paid_stream = "payment-stripe-" + id;
      REQUIRE(self->WaitForEvents(paid_stream, 1).size() == 1);
      return answer;
    };
  };
  Harness h(wrap);
  self = &h;
  auto response = h.CreatePayment(Body("stripe"), "early-bird");
  REQUIRE(response.status == 201);
  const Created c = Parse(response);
  CHECK(c.stream == paid_stream);
  auto events = h.Stream(c.stream);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == "tally.payments.v1.GatewayWebhookReceived");
  CHECK(events[1].type == "tally.payments.v1.PaymentCreated");
  const projections::PaymentState state = Fold(events);
  CHECK(state.status == projections::PaymentStatus::kPaid);
  CHECK(state.payment_id == c.payment_id);
  CHECK(state.created);
}

TEST_CASE("duplicated webhooks are recorded once, reordered ones are all recorded") {
  Harness h;
  CHECK(h.Control("/sandbox/faults", R"({"duplicate_rate":1})").status == 200);
  const Created dup = Parse(h.CreatePayment(Body("atomopay")));
  CHECK(h.Control("/sandbox/charges/atomopay/" + dup.transaction_id + "/pay", "{}").status == 200);
  h.Drain();
  CHECK(h.sandbox->stats().webhooks_sent == 2);  // both deliveries answered 200
  CHECK(h.Stream(dup.stream).size() == 2);       // created + one webhook

  // Paid, then refunded; the paid notification is held back so the refund overtakes it.
  CHECK(
      h.Control("/sandbox/faults", R"({"duplicate_rate":0,"reorder_rate":1,"reorder_hold_ms":400})")
          .status == 200);
  const Created late = Parse(h.CreatePayment(Body("stripe")));
  CHECK(h.Control("/sandbox/charges/stripe/" + late.transaction_id + "/pay", "{}").status == 200);
  CHECK(h.Control("/sandbox/faults", R"({"reorder_rate":0})").status == 200);
  CHECK(h.Control("/sandbox/charges/stripe/" + late.transaction_id + "/refund", "{}").status ==
        200);
  h.Drain();
  auto events = h.Stream(late.stream);
  REQUIRE(events.size() == 3);
  pb::GatewayWebhookReceived first, second;
  REQUIRE(first.ParseFromString(events[1].payload));
  REQUIRE(second.ParseFromString(events[2].payload));
  CHECK(first.observation().status() == pb::OBSERVED_STATUS_REFUNDED);
  CHECK(second.observation().status() == pb::OBSERVED_STATUS_PAID);
  // The fold does not let the late "paid" undo the refund.
  CHECK(Fold(events).status == projections::PaymentStatus::kRefunded);
}

}  // namespace
}  // namespace tally::http

namespace tally::http {
namespace {

TEST_CASE("a charge naming an unknown bot or product is refused, naming the field") {
  Harness h;
  auto unknown_bot = h.CreatePayment(
      R"({"gateway":"stripe","amount_minor":1990,"bot_id":"999","product_id":"vip"})");
  CHECK(unknown_bot.status == 422);
  CHECK(unknown_bot.body.find("unknown_bot") != std::string::npos);
  CHECK(unknown_bot.body.find("bot_id") != std::string::npos);
  auto unknown_product = h.CreatePayment(
      R"({"gateway":"stripe","amount_minor":1990,"bot_id":"777","product_id":"gold"})");
  CHECK(unknown_product.status == 422);
  CHECK(unknown_product.body.find("unknown_product") != std::string::npos);
  CHECK(unknown_product.body.find("product_id") != std::string::npos);
  auto orphan_product =
      h.CreatePayment(R"({"gateway":"stripe","amount_minor":1990,"product_id":"vip"})");
  CHECK(orphan_product.status == 400);
  // Another tenant's bot is not revealed: answered as if it did not exist.
  auto other = tenants::CreateTenant(*h.store, h.box, "Outra Loja", "America/Sao_Paulo");
  REQUIRE(other.ok());
  REQUIRE(tenants::RegisterBot(*h.store, h.box, other->tenant_id, "888:AAHotherbot", "o").ok());
  auto foreign = h.CreatePayment(R"({"gateway":"stripe","amount_minor":1990,"bot_id":"888"})");
  CHECK(foreign.status == 422);
  CHECK(foreign.body.find("no bot 888 is registered") != std::string::npos);
  // Nothing was recorded for any of them.
  for (const auto& e : testing::AllEvents(h.db->url())) {
    CHECK(e.type != "tally.payments.v1.PaymentCreated");
  }
}

}  // namespace
}  // namespace tally::http

namespace tally::http {
namespace {

TEST_CASE("a create answer lost after the gateway made the charge is recovered, never made twice") {
  Harness h(nullptr, 300ms);
  for (const std::string gateway : {"paradise", "atomopay"}) {
    CAPTURE(gateway);
    // The gateway creates the charge and its answer never arrives in time.
    REQUIRE(h.Control("/sandbox/faults",
                      R"({"create_answer_lost_rate":1,"create_answer_lost_ms":1200})")
                .status == 200);
    const std::string key = "lost-" + gateway;
    auto lost = h.CreatePayment(Body(gateway), key);
    CHECK(lost.status == 504);
    REQUIRE(h.Control("/sandbox/faults", R"({"create_answer_lost_rate":0})").status == 200);
    // Another body under the key is refused, though the first is still in doubt.
    auto other = h.CreatePayment(Body(gateway, 2990), key);
    CHECK(other.status == 422);
    CHECK(ErrorCode(other) == "idempotency_key_reused");
    // The seller's bot retries with the same key: the first charge is found by its reference.
    auto retried = h.CreatePayment(Body(gateway), key);
    REQUIRE_MESSAGE(retried.status == 201, retried.body);
    Created recovered = Parse(retried);
    CHECK(ChargesAtGateway(h, recovered.payment_id) == 1);
    auto again = h.CreatePayment(Body(gateway), key);
    CHECK(again.status == 200);
    CHECK(Parse(again).transaction_id == recovered.transaction_id);
    CHECK(ChargesAtGateway(h, recovered.payment_id) == 1);
  }
  h.Drain();
}

TEST_CASE("PushinPay cannot look a lost charge up: the retry is refused, not charged twice") {
  Harness h(nullptr, 300ms);
  REQUIRE(
      h.Control("/sandbox/faults", R"({"create_answer_lost_rate":1,"create_answer_lost_ms":1200})")
          .status == 200);
  auto lost = h.CreatePayment(Body("pushinpay"), "lost-pushinpay");
  CHECK(lost.status == 504);
  REQUIRE(h.Control("/sandbox/faults", R"({"create_answer_lost_rate":0})").status == 200);
  auto retried = h.CreatePayment(Body("pushinpay"), "lost-pushinpay");
  CHECK(retried.status == 409);
  CHECK(ErrorCode(retried) == "charge_in_doubt");
  auto r = h.client.Send({"GET", h.sandbox->BaseUrl("sandbox") + "/charges", {}, "", 5000ms});
  REQUIRE(r.ok());
  int pushinpay_charges = 0;
  for (size_t at = r->body.find(R"("service":"pushinpay")"); at != std::string::npos;
       at = r->body.find(R"("service":"pushinpay")", at + 1)) {
    ++pushinpay_charges;
  }
  CHECK(pushinpay_charges == 1);
  h.Drain();
}

}  // namespace
}  // namespace tally::http
