// Delivery end to end on real PostgreSQL and real HTTP through the simulators: a charge paid
// at the simulated gateway is confirmed, delivered once through the Telegram simulator, and its
// link opens the product page; an unsigned "paid" alone never delivers; forged links are 404s,
// a refunded payment's link a 410.

#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/router.h"
#include "http/server.h"
#include "projections/payment_fold.h"
#include "reactors/delivery.h"
#include "reactors/reactor_host.h"
#include "sandbox/sandbox.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/sandbox_control.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;
using http::ClientRequest;
using http::ClientResponse;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "777:AAHsandboxdeliverytoken";

struct Harness {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const std::string secret = DeliverySecretFromMasterKey(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  http::HttpClient client;
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<http::WebhookIngestion> webhooks;
  std::unique_ptr<http::ChargeApi> charges;
  std::unique_ptr<http::DeliveryPage> page;
  http::Endpoints endpoints;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<ReactorHost> reactors;
  std::string tenant_id, token, api_key;

  Harness() {
    auto s = sandbox::Sandbox::Start({});
    REQUIRE(s.ok());
    sandbox = std::move(*s);
    http::ServerOptions server_options;
    server_options.port = 0;  // a free port
    auto started = http::Server::Start(server_options,
                                       [this](const http::HttpRequest& r, http::Responder respond) {
                                         http::RouteRequest(r, endpoints, std::move(respond));
                                       });
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    server = std::move(*started);
    gateways::Transport transport = http::GatewayTransport(client, 3000ms);
    webhooks = std::make_unique<http::WebhookIngestion>(*store, box, registry, clock, db->url());
    charges = std::make_unique<http::ChargeApi>(*store, box, registry, clock, transport,
                                                http::ChargeApiOptions{Url("")});
    page = std::make_unique<http::DeliveryPage>(*store, clock, secret);
    endpoints = {webhooks.get(), charges.get(), nullptr, page.get()};

    auto tenant = tenants::CreateTenant(*store, box, "Loja da Ana", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    token = tenant->webhook_token;
    api_key = tenant->api_key;
    for (const std::string gateway : {"stripe", "pushinpay", "mercadopago"}) {
      REQUIRE(tenants::ConfigureGateway(
                  *store, box, registry, tenant_id,
                  {gateway, "secret-" + gateway, "key-" + gateway, sandbox->BaseUrl(gateway)})
                  .ok());
      testing::SandboxAccount(client, *sandbox, gateway, "key-" + gateway, "secret-" + gateway,
                              Url("/webhooks/stripe/" + token));
    }
    REQUIRE(tenants::RegisterBot(*store, box, tenant_id, kBotToken, "loja_bot").ok());
    testing::SandboxAccount(client, *sandbox, "telegram", kBotToken, "", "");
    bots::v1::ProductConfigured product;
    product.set_bot_id("777");
    product.set_product_id("vip");
    product.set_name("Mentoria VIP");
    product.set_price_minor(1990);
    product.set_currency("BRL");
    product.set_deliver_url("https://cursos.example.com/vip");
    product.set_deliver_text("Bem-vinda!");
    REQUIRE(store
                ->Append({tenant_id,
                          "bot-777",
                          ledger::ExpectedVersion::Any(),
                          {{"tally.bots.v1.ProductConfigured", product.SerializeAsString(), ""}},
                          ""})
                .ok());

    ReactorHostOptions options;
    options.database_url = db->url();
    options.public_url = Url("");
    options.delivery_secret = secret;
    options.telegram_api_base = sandbox->BaseUrl("telegram");
    options.meta_api_base = sandbox->BaseUrl("meta");
    reactors = std::make_unique<ReactorHost>(*store, clock, box, registry, transport, options);
    reactors->Start();
  }
  ~Harness() {
    reactors->Stop();
    sandbox->Stop();
    server->Stop();
  }

  // The bot reports Purchases to pixel 123456 when the delivery link is opened.
  void ConfigureMeta() {
    testing::SandboxAccount(client, *sandbox, "meta", "EAAsandboxtoken", "", "");
    tenants::MetaSettings meta;
    meta.bot_id = "777";
    meta.pixel_id = "123456";
    meta.access_token = "EAAsandboxtoken";
    REQUIRE(tenants::ConfigureMeta(*store, box, tenant_id, meta).ok());
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", server->port(), path);
  }
  ClientResponse Get(const std::string& url) {
    auto r = client.Send({"GET", url, {}, "", 5000ms});
    REQUIRE(r.ok());
    return *r;
  }
  // Creates a charge for chat 42 and returns (payment id, gateway transaction id).
  std::pair<std::string, std::string> Charge(const std::string& gateway) {
    auto r = client.Send(
        {"POST",
         Url("/v1/payments"),
         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + api_key}},
         absl::StrCat(R"({"gateway":")", gateway, R"(","amount_minor":1990,"bot_id":"777",)",
                      R"("customer":{"id":"tg:42"},"product_id":"vip"})"),
         10000ms});
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->status == 201, r->body);
    auto f = gateways::PayloadFields::ParseJson(r->body);
    REQUIRE(f.ok());
    return {f->Text("payment_id"), f->Text("gateway_transaction_id")};
  }
  // The messages the Telegram simulator received for chat 42.
  std::vector<std::string> Messages() {
    ClientResponse r = Get(sandbox->BaseUrl("sandbox") + "/telegram/messages");
    REQUIRE(r.status == 200);
    // PayloadFields reads objects by dotted path, not array elements: the texts are read from
    // the raw body (they hold no escaped quotes).
    std::vector<std::string> texts;
    size_t at = 0;
    while ((at = r.body.find("\"text\":\"", at)) != std::string::npos) {
      at += 8;
      texts.push_back(r.body.substr(at, r.body.find('"', at) - at));
    }
    return texts;
  }
  int Count(const std::string& stream, const std::string& type) {
    int n = 0;
    auto events = store->ReadStream(tenant_id, stream);
    REQUIRE(events.ok());
    for (const auto& e : *events) n += e.type == type;
    return n;
  }
  int64_t ReactorCheckpoint(const std::string& name) {
    pqxx::connection c(db->url());
    pqxx::nontransaction txn(c);
    auto r = txn.exec_params(
        "SELECT position FROM reactor_checkpoints WHERE name = $1 AND partition_id = 0", name);
    return r.empty() ? 0 : r[0][0].as<int64_t>();
  }
  bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }
};

TEST_CASE("a signed paid webhook delivers once, the link opens the product, refunds close it") {
  Harness h;
  h.ConfigureMeta();
  auto [payment_id, txid] = h.Charge("stripe");
  REQUIRE(testing::SandboxPost(h.client, *h.sandbox,
                               absl::StrCat("/sandbox/charges/stripe/", txid, "/pay"), "{}")
              .status == 200);
  REQUIRE(h.WaitFor([&] { return !h.Messages().empty(); }));
  const std::string text = h.Messages()[0];
  CHECK(absl::StrContains(text, "Mentoria VIP"));
  const std::string link = h.Url("/delivery/" + DeliveryToken(h.secret, payment_id));
  CHECK(absl::StrContains(text, link));
  const std::string stream = "payment-stripe-" + txid;
  REQUIRE(h.WaitFor([&] { return h.Count(stream, "tally.payments.v1.DeliveryMessageSent") == 1; }));
  CHECK(h.Count(stream, "tally.payments.v1.DeliveryIssued") == 1);
  CHECK(h.Count(stream, "tally.payments.v1.DeliveryAttempted") == 1);
  // The link is a bearer credential: the buyer got it, the log never holds it.
  for (const auto& e : testing::AllEvents(h.db->url())) {
    CHECK_FALSE(absl::StrContains(e.payload, DeliveryToken(h.secret, payment_id)));
  }

  ClientResponse opened = h.Get(link);
  CHECK(opened.status == 200);
  CHECK(absl::StrContains(opened.body, "https://cursos.example.com/vip"));
  CHECK(absl::StrContains(opened.body, "Bem-vinda!"));
  h.Get(link);
  CHECK(h.Count(stream, "tally.payments.v1.DeliveryAccessed") == 2);

  // Opening the link is the bot's Purchase trigger: one request, one success, event id from
  // the payment, and purchase_sent derives from that success alone.
  REQUIRE(
      h.WaitFor([&] { return h.Count(stream, "tally.payments.v1.MetaPurchaseSucceeded") == 1; }));
  CHECK(h.Count(stream, "tally.payments.v1.MetaPurchaseRequested") == 1);
  auto events = h.store->ReadStream(h.tenant_id, stream);
  REQUIRE(events.ok());
  projections::PaymentState state;
  for (const auto& e : *events) REQUIRE(projections::ApplyPaymentEvent(state, e).ok());
  CHECK(state.purchase.sent);
  CHECK(state.purchase.meta_event_id == "purchase_" + payment_id);

  // Forged, truncated, unknown: 404 pages, never an internal error.
  CHECK(h.Get(link.substr(0, link.size() - 1)).status == 404);
  CHECK(h.Get(link.substr(0, link.size() - 1) + (link.back() == '0' ? "1" : "0")).status == 404);
  CHECK(h.Get(h.Url("/delivery/" + DeliveryToken("other secret", payment_id))).status == 404);
  CHECK(h.Get(h.Url("/delivery/" + DeliveryToken(h.secret, "pay_unknown"))).status == 404);
  ClientResponse garbage = h.Get(h.Url("/delivery/%00%ff..<script>"));
  CHECK(garbage.status == 404);
  CHECK_FALSE(absl::StrContains(garbage.body, "<script>"));

  REQUIRE(testing::SandboxPost(h.client, *h.sandbox,
                               absl::StrCat("/sandbox/charges/stripe/", txid, "/refund"), "{}")
              .status == 200);
  REQUIRE(h.WaitFor([&] { return h.Get(link).status == 410; }));
  CHECK(h.Messages().size() == 1);
}

TEST_CASE("an unsigned paid webhook delivers only once a poll confirms it") {
  Harness h;
  auto [payment_id, txid] = h.Charge("pushinpay");
  REQUIRE(testing::SandboxPost(h.client, *h.sandbox,
                               absl::StrCat("/sandbox/charges/pushinpay/", txid, "/pay"), "{}")
              .status == 200);
  const std::string stream = "payment-pushinpay-" + txid;
  REQUIRE(h.WaitFor([&] { return h.Count(stream, "tally.payments.v1.DeliveryIssued") == 1; }));
  // The webhook pulled the poll forward; the poll confirmed; only then the delivery.
  auto events = h.store->ReadStream(h.tenant_id, stream);
  REQUIRE(events.ok());
  int64_t webhook = 0, poll = 0, issued = 0;
  for (const auto& e : *events) {
    if (e.type == "tally.payments.v1.GatewayWebhookReceived" && webhook == 0) webhook = e.position;
    if (e.type == "tally.payments.v1.GatewayStatusPolled" && poll == 0) poll = e.position;
    if (e.type == "tally.payments.v1.DeliveryIssued") issued = e.position;
  }
  CHECK(webhook > 0);
  CHECK(webhook < poll);
  CHECK(poll < issued);
  REQUIRE(h.WaitFor([&] { return h.Messages().size() == 1; }));
  // A bot without Meta configuration: no Purchase is attempted, even once the link is opened.
  const std::string link = h.Url("/delivery/" + DeliveryToken(h.secret, payment_id));
  CHECK(h.Get(link).status == 200);
  auto accessed = h.store->ReadStream(h.tenant_id, stream);
  REQUIRE(accessed.ok());
  const int64_t access_position = accessed->back().position;
  REQUIRE(h.WaitFor([&] { return h.ReactorCheckpoint("meta_purchase") >= access_position; }));
  CHECK(h.Count(stream, "tally.payments.v1.MetaPurchaseRequested") == 0);
}

TEST_CASE("Mercado Pago: a webhook with only an id is polled at once, confirmed, delivered") {
  Harness h;
  auto [payment_id, txid] = h.Charge("mercadopago");
  REQUIRE(testing::SandboxPost(h.client, *h.sandbox,
                               absl::StrCat("/sandbox/charges/mercadopago/", txid, "/pay"), "{}")
              .status == 200);
  const std::string stream = "payment-mercadopago-" + txid;
  REQUIRE(h.WaitFor([&] { return h.Count(stream, "tally.payments.v1.DeliveryIssued") == 1; }));
  auto events = h.store->ReadStream(h.tenant_id, stream);
  REQUIRE(events.ok());
  int64_t webhook = 0, poll = 0, issued = 0;
  for (const auto& e : *events) {
    if (e.type == "tally.payments.v1.GatewayWebhookReceived" && webhook == 0) {
      webhook = e.position;
      pb::GatewayWebhookReceived received;
      REQUIRE(received.ParseFromString(e.payload));
      // Signed, and carrying no status: only that something changed.
      CHECK(received.authenticity() == pb::AUTHENTICITY_SIGNED);
      CHECK(received.observation().status() == pb::OBSERVED_STATUS_UNSPECIFIED);
    }
    if (e.type == "tally.payments.v1.GatewayStatusPolled" && poll == 0) poll = e.position;
    if (e.type == "tally.payments.v1.DeliveryIssued") issued = e.position;
  }
  CHECK(webhook > 0);
  CHECK(webhook < poll);
  CHECK(poll < issued);
  REQUIRE(h.WaitFor([&] { return h.Messages().size() == 1; }));
  // A notification without a status is not an unknown status: no anomaly.
  projections::PaymentState state;
  for (const auto& e : *events) {
    auto applied = projections::ApplyPaymentEvent(state, e);
    REQUIRE(applied.ok());
    for (const auto& a : *applied) CHECK_MESSAGE(false, "anomaly ", a.kind);
  }
  CHECK(state.paid_confirmed);
}

TEST_CASE("a forged unsigned paid (the gateway says pending) never delivers and is an anomaly") {
  Harness h;
  auto [payment_id, txid] = h.Charge("pushinpay");
  // The right URL token and secret, but the gateway never saw a payment.
  auto forged = h.client.Send(
      {"POST",
       h.Url("/webhooks/pushinpay/" + h.token),
       {{"Content-Type", "application/json"}, {"x-webhook-secret", "secret-pushinpay"}},
       absl::StrCat(R"({"id":")", txid, R"(","status":"paid","value":1990})"),
       5000ms});
  REQUIRE(forged.ok());
  REQUIRE(forged->status == 200);  // recorded as what it is: an unverified claim
  const std::string stream = "payment-pushinpay-" + txid;
  REQUIRE(h.WaitFor([&] { return h.Count(stream, "tally.payments.v1.GatewayStatusPolled") >= 1; }));
  auto events = h.store->ReadStream(h.tenant_id, stream);
  REQUIRE(events.ok());
  const int64_t poll_position = events->back().position;
  // Deterministic: once the delivery reactor has passed the poll, it has decided.
  REQUIRE(h.WaitFor([&] { return h.ReactorCheckpoint("delivery") >= poll_position; }));
  CHECK(h.Count(stream, "tally.payments.v1.DeliveryIssued") == 0);
  CHECK(h.Count(stream, "tally.payments.v1.MetaPurchaseRequested") == 0);
  CHECK(h.Messages().empty());
  projections::PaymentState state;
  std::vector<std::string> anomalies;
  for (const auto& e : *events) {
    auto applied = projections::ApplyPaymentEvent(state, e);
    REQUIRE(applied.ok());
    for (const auto& a : *applied) anomalies.push_back(a.kind);
  }
  CHECK_FALSE(state.paid_confirmed);
  CHECK(std::find(anomalies.begin(), anomalies.end(), "unconfirmed_paid_contradicted") !=
        anomalies.end());
  CHECK(h.Get(h.Url("/delivery/" + DeliveryToken(h.secret, payment_id))).status == 404);
}

}  // namespace
}  // namespace tally::reactors
