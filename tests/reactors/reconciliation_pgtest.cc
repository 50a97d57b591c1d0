// Seed 001 end to end: a gateway that sends no webhooks at all (Atomopay, for weeks), 200
// payments paid at the simulator — every one confirmed by a reconciliation poll and delivered,
// oldest first under the backlog, and the simulator's poll rate never above the account's limit.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/router.h"
#include "http/server.h"
#include "reactors/delivery.h"
#include "reactors/reactor_host.h"
#include "sandbox/sandbox.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/sandbox_control.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "777:AAHsandboxreconciliation";
constexpr int kPayments = 200;

TEST_CASE("seed 001: a silent gateway's paid sales are all confirmed by polls and delivered") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  http::HttpClient client;
  auto started_sandbox = sandbox::Sandbox::Start({});
  REQUIRE(started_sandbox.ok());
  std::unique_ptr<sandbox::Sandbox> sandbox = std::move(*started_sandbox);
  gateways::Transport transport = http::GatewayTransport(client, 3000ms);
  http::WebhookIngestion webhooks(*store, box, registry, clock, db->url());
  http::ChargeApi charges(*store, box, registry, clock, transport, http::ChargeApiOptions{""});
  http::Endpoints endpoints{&webhooks, &charges, nullptr, nullptr};
  http::ServerOptions server_options;
  server_options.port = 0;
  auto started =
      http::Server::Start(server_options, [&](const http::HttpRequest& r, http::Responder respond) {
        http::RouteRequest(r, endpoints, std::move(respond));
      });
  REQUIRE(started.ok());
  std::unique_ptr<http::Server> server = std::move(*started);
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", server->port());

  auto tenant = tenants::CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  REQUIRE(tenants::ConfigureGateway(*store, box, registry, tenant->tenant_id,
                                    {"atomopay", "", "key-atomopay", sandbox->BaseUrl("atomopay")})
              .ok());
  testing::SandboxAccount(client, *sandbox, "atomopay", "key-atomopay", "", "");
  REQUIRE(tenants::RegisterBot(*store, box, tenant->tenant_id, kBotToken, "loja_bot").ok());
  testing::SandboxAccount(client, *sandbox, "telegram", kBotToken, "", "");
  tenants::ProductSettings product;
  product.bot_id = "777";
  product.product_id = "vip";
  product.name = "Mentoria VIP";
  product.price_minor = 1990;
  product.deliver_url = "https://cursos.example.com/vip";
  REQUIRE(tenants::ConfigureProduct(*store, tenant->tenant_id, product).ok());
  // Seed 001: Atomopay sends no webhook at all.
  REQUIRE(testing::SandboxPost(client, *sandbox, "/sandbox/faults",
                               R"({"silent_gateways":["atomopay"]})")
              .status == 200);

  ReactorHostOptions options;
  options.database_url = db->url();
  options.public_url = tally_url;
  options.delivery_secret = DeliverySecretFromMasterKey(kMasterKey);
  options.telegram_api_base = sandbox->BaseUrl("telegram");
  ReactorHost reactors(*store, clock, box, registry, transport, options);
  reactors.Start();

  // 200 charges, created in order, all paid at once at the gateway.
  std::vector<std::string> streams;
  for (int i = 0; i < kPayments; ++i) {
    auto r = client.Send(
        {"POST",
         tally_url + "/v1/payments",
         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + tenant->api_key}},
         absl::StrCat(R"({"gateway":"atomopay","amount_minor":1990,)",
                      R"("bot_id":"777","product_id":"vip",)", R"("customer":{"id":"tg:)", 1000 + i,
                      R"("}})"),
         10000ms});
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->status == 201, r->body);
    auto f = gateways::PayloadFields::ParseJson(r->body);
    REQUIRE(f.ok());
    streams.push_back(f->Text("stream"));
    REQUIRE(testing::SandboxPost(client, *sandbox,
                                 absl::StrCat("/sandbox/charges/atomopay/",
                                              f->Text("gateway_transaction_id"), "/pay"),
                                 "{}")
                .status == 200);
  }

  // Every one delivered: at 5 polls/s for the account, about 40 s after the first is due.
  auto delivered = [&] {
    int n = 0;
    for (const auto& e : testing::AllEvents(db->url())) {
      n += e.type == "tally.payments.v1.DeliveryIssued";
    }
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 150s;
  while (delivered() < kPayments && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
  }
  REQUIRE(delivered() == kPayments);

  // Per payment: no webhook ever; a poll that saw it paid comes before its delivery.
  std::map<std::string, int64_t> confirmed_at;  // stream -> position of the confirming poll
  for (const std::string& stream : streams) {
    auto events = store->ReadStream(tenant->tenant_id, stream);
    REQUIRE(events.ok());
    int64_t confirming = 0, issued = 0;
    for (const auto& e : *events) {
      CHECK(e.type != "tally.payments.v1.GatewayWebhookReceived");
      if (e.type == "tally.payments.v1.GatewayStatusPolled" && confirming == 0) {
        pb::GatewayStatusPolled polled;
        REQUIRE(polled.ParseFromString(e.payload));
        if (polled.observation().status() == pb::OBSERVED_STATUS_PAID) confirming = e.position;
      }
      if (e.type == "tally.payments.v1.DeliveryIssued") issued = e.position;
    }
    INFO(stream);
    CHECK(confirming > 0);
    CHECK(confirming < issued);
    confirmed_at[stream] = confirming;
  }
  // Oldest first: a payment created well before another (more than the poller's in-flight
  // window) is never confirmed after it.
  int inversions = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    for (size_t j = i + 16; j < streams.size(); ++j) {
      inversions += confirmed_at[streams[i]] > confirmed_at[streams[j]];
    }
  }
  CHECK(inversions == 0);

  // The account's limit held at the gateway (its policy: 5 queries/s).
  http::ClientResponse polls = [&] {
    auto r = client.Send({"GET", sandbox->BaseUrl("sandbox") + "/polls", {}, "", 5000ms});
    REQUIRE(r.ok());
    return *r;
  }();
  REQUIRE(polls.status == 200);
  INFO(polls.body);
  auto f = gateways::PayloadFields::ParseJson(polls.body);
  REQUIRE(f.ok());
  const double limit = registry.Find("atomopay")->traits().poll.account_queries_per_second;
  int64_t max_in_any_second = 0;
  REQUIRE(absl::SimpleAtoi(f->Text("services.atomopay.accounts.key-atomopay.max_in_any_second"),
                           &max_in_any_second));
  CHECK(max_in_any_second <= static_cast<int64_t>(limit));
  int64_t min_gap_ms = 0;
  REQUIRE(absl::SimpleAtoi(
      f->Text("services.atomopay.accounts.key-atomopay.min_gap_ms_same_transaction"), &min_gap_ms));
  const int64_t min_interval_ms =
      registry.Find("atomopay")->traits().poll.min_interval_per_transaction_s * 1000;
  CHECK((min_gap_ms == -1 || min_gap_ms >= min_interval_ms));

  reactors.Stop();
  sandbox->Stop();
  server->Stop();
}

}  // namespace
}  // namespace tally::reactors
