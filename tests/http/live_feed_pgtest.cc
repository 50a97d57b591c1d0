// The dashboard's live feed on a real database: a payments projection runner folds what is
// appended, and the feed pushes each changed row to the WebSocket connections of that row's
// tenant only; sign-in with a wrong key, a key of another scope or no sign-in at all is refused
// with an error message and close code 1008.

#include "http/live_feed.h"

#include <doctest/doctest.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "projections/catalog.h"
#include "projections/projection.h"
#include "projections/runner.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/secret_box.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/ws_client.h"

namespace tally::http {
namespace {

using testing::WsClient;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// A database, a payments runner, a server whose only route is the live feed, and two tenants.
struct FeedWorld {
  explicit FeedWorld(LiveFeedOptions feed_options = {})
      : db(testing::NewDatabase()), store(testing::OpenStore(db->url())) {
    projection = projections::NewPaymentsProjection();
    // The payments view exists before the feed starts (serve starts the runners first).
    REQUIRE(projections::EnsureInitialized(db->url(), *projection).ok());
    projections::RunnerOptions runner_options;
    runner_options.database_url = db->url();
    runner = std::make_unique<projections::ProjectionRunner>(*projection, runner_options);
    runner->Start();
    auto a = tenants::CreateTenant(*store, box, "Loja da Ana", "America/Sao_Paulo");
    auto b = tenants::CreateTenant(*store, box, "Loja do Bruno", "America/Sao_Paulo");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    tenant_a = a->tenant_id;
    key_a = a->api_key;
    tenant_b = b->tenant_id;
    key_b = b->api_key;
    feed_options.database_url = db->url();
    feed = std::make_unique<LiveFeed>(*store, clock, feed_options);
    feed->Start();
    ServerOptions options;
    options.port = 0;
    auto started = Server::Start(
        options, [](const HttpRequest&, Responder respond) { respond(JsonError(404, "x", "x")); },
        nullptr, WebSocketRoute{"/v1/live", feed.get()});
    REQUIRE(started.ok());
    server = std::move(*started);
  }
  ~FeedWorld() {
    server->Stop();
    feed->Stop();
    runner->Stop();
  }

  // A connection signed in with `key`, after the feed said ready.
  std::unique_ptr<WsClient> SignIn(const std::string& key) {
    auto client = WsClient::Connect(server->port(), "/v1/live");
    REQUIRE(client != nullptr);
    client->Send(absl::StrCat(R"({"key":")", key, R"("})"));
    std::optional<std::string> ready = client->Read();
    REQUIRE(ready.has_value());
    REQUIRE(absl::StartsWith(*ready, R"({"type":"ready")"));
    return client;
  }

  void Created(const std::string& tenant_id, const std::string& payment_id, int64_t amount) {
    payments::v1::PaymentCreated created;
    created.set_tenant_id(tenant_id);
    created.set_payment_id(payment_id);
    created.set_gateway("stripe");
    created.set_gateway_transaction_id("tx_" + payment_id);
    created.set_bot_id("777");
    created.set_product_id("vip");
    created.set_customer_id("tg:42");
    created.mutable_amount()->set_amount_minor(amount);
    created.mutable_amount()->set_currency("BRL");
    ledger::v1::Metadata metadata;
    metadata.set_source(ledger::v1::SOURCE_API);
    auto appended = store->Append(testing::Request(
        tenant_id, "payment-stripe-tx_" + payment_id, ledger::ExpectedVersion::NoStream(),
        {{"tally.payments.v1.PaymentCreated", created.SerializeAsString(),
          metadata.SerializeAsString()}}));
    REQUIRE_MESSAGE(appended.ok(), appended.status().ToString());
  }

  // Reads messages until one names `payment_id`; returns every message read.
  static std::vector<std::string> ReadUntil(WsClient& client, const std::string& payment_id) {
    std::vector<std::string> messages;
    for (;;) {
      std::optional<std::string> message = client.Read();
      REQUIRE(message.has_value());
      messages.push_back(*message);
      if (absl::StrContains(*message, absl::StrCat(R"("payment_id":")", payment_id, "\""))) {
        return messages;
      }
    }
  }

  std::unique_ptr<ledger::ScratchDatabase> db;
  std::unique_ptr<ledger::EventStore> store;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  ledger::SystemClock clock;
  std::unique_ptr<projections::Projection> projection;
  std::unique_ptr<projections::ProjectionRunner> runner;
  std::unique_ptr<LiveFeed> feed;
  std::unique_ptr<Server> server;
  std::string tenant_a, key_a, tenant_b, key_b;
};

TEST_CASE("the live feed pushes a tenant's payment changes to its sockets and never another's") {
  FeedWorld world;
  auto ana = world.SignIn(world.key_a);
  auto ana_second_tab = world.SignIn(world.key_a);
  auto bruno = world.SignIn(world.key_b);
  // One partition: the rows are published in log order, so when a tenant's last payment has
  // arrived, anything of the other tenant's appended before it would have arrived too.
  world.Created(world.tenant_a, "pay_a1", 1990);
  world.Created(world.tenant_b, "pay_b1", 5000);
  world.Created(world.tenant_a, "pay_a2", 2990);
  world.Created(world.tenant_b, "pay_b2", 7000);

  for (WsClient* client : {ana.get(), ana_second_tab.get()}) {
    std::vector<std::string> got = FeedWorld::ReadUntil(*client, "pay_a2");
    REQUIRE(got.size() == 2);
    // The payment as the read API renders it (http/payment_view.h); created_at is when the
    // event was recorded.
    CHECK(absl::StartsWith(got[0], R"({"type":"payment","payment":{"payment_id":"pay_a1",)"));
    for (const char* field :
         {R"("gateway":"stripe")", R"("bot_id":"777")", R"("product_id":"vip")",
          R"("customer_id":"tg:42")", R"("amount_minor":1990)", R"("currency":"BRL")",
          R"("status":"pending")", R"("paid_confirmed":false)", R"("paid_at":null)",
          R"("delivery_state":null)", R"("purchase_state":null)", R"("purchase_sent":false)"}) {
      CHECK_MESSAGE(absl::StrContains(got[0], field), field, " in ", got[0]);
    }
    CHECK(std::regex_search(got[0], std::regex(R"("created_at":"\d{4}-\d\d-\d\dT[^"]+Z")")));
    CHECK_FALSE(absl::StrContains(got[0], world.tenant_a));  // the tenant is not rendered
    CHECK(absl::StrContains(got[1], R"("payment_id":"pay_a2")"));
    for (const auto& message : got) CHECK_FALSE(absl::StrContains(message, "pay_b"));
  }
  std::vector<std::string> got = FeedWorld::ReadUntil(*bruno, "pay_b2");
  REQUIRE(got.size() == 2);
  CHECK(absl::StrContains(got[0], R"("payment_id":"pay_b1")"));
  CHECK(absl::StrContains(got[0], R"("amount_minor":5000)"));
  for (const auto& message : got) CHECK_FALSE(absl::StrContains(message, "pay_a"));
  CHECK(world.feed->subscribers() == 3);
}

TEST_CASE("the live feed refuses a wrong key, an admin key and a bad first message with 1008") {
  FeedWorld world;
  auto admin = tenants::IssueSystemApiKey(*world.store, tenants::kAdminScope);
  REQUIRE(admin.ok());
  struct Case {
    std::string first_message;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"key":"tly_not_a_real_key"})", "unauthorized"},
           {absl::StrCat(R"({"key":")", admin->api_key, R"("})"), "forbidden"},
           {"hello", "bad_sign_in"},
       }) {
    CAPTURE(c.code);
    auto client = WsClient::Connect(world.server->port(), "/v1/live");
    REQUIRE(client != nullptr);
    client->Send(c.first_message);
    std::optional<std::string> error = client->Read();
    REQUIRE(error.has_value());
    CHECK(absl::StartsWith(*error, absl::StrCat(R"({"type":"error","error":{"code":")", c.code)));
    CHECK_FALSE(client->Read().has_value());
    CHECK(client->close_code() == 1008);
  }
  // A refused connection never receives payments: the feed has no subscriber.
  CHECK(world.feed->subscribers() == 0);
}

TEST_CASE("the live feed closes a connection that does not sign in within the time allowed") {
  LiveFeedOptions options;
  options.sign_in_timeout = std::chrono::milliseconds(300);
  options.poll_interval = std::chrono::milliseconds(100);
  FeedWorld world(options);
  auto client = WsClient::Connect(world.server->port(), "/v1/live");
  REQUIRE(client != nullptr);
  std::optional<std::string> error = client->Read();
  REQUIRE(error.has_value());
  CHECK(absl::StrContains(*error, R"("code":"sign_in_timeout")"));
  CHECK_FALSE(client->Read().has_value());
  CHECK(client->close_code() == 1008);
}

}  // namespace
}  // namespace tally::http
