// Subscriptions (issue 10, seed 003) end to end on real PostgreSQL and real HTTP through the
// simulators, with an injected clock that the test moves by days: a plan's charge paid at the
// simulated Stripe starts a subscription and invites the buyer to the VIP chat; the warning
// comes 3 days before the end with a renewal link; a renewal paid on day 29 extends from the
// end; the expiry comes once, at the renewed end, and removes the buyer from the VIP chat once.
// A refund revokes access at once; Stripe's own subscription events renew and cancel.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/router.h"
#include "http/server.h"
#include "reactors/reactor_host.h"
#include "reactors/subscriptions.h"
#include "sandbox/sandbox.h"
#include "tally/subscriptions/v1/subscription_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/sandbox_control.h"

namespace tally::reactors {
namespace {

namespace pb = subscriptions::v1;
using namespace std::chrono_literals;
using http::ClientResponse;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "7701:AAHsandboxsubscriptions";
constexpr int64_t kDay = 86400LL * 1'000'000;
constexpr int64_t kVipChat = -1001234567;
constexpr int64_t kChat = 42;

// Real time plus the days the test moved it forward: the log's own times (recorded by the
// database) stay in its past.
class JumpingClock final : public ledger::Clock {
 public:
  int64_t NowMicros() const override { return system_.NowMicros() + offset_.load(); }
  void Advance(int64_t us) { offset_ += us; }

 private:
  ledger::SystemClock system_;
  std::atomic<int64_t> offset_{0};
};

struct Stack {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  JumpingClock clock;  // the reactors' (timers, renewals)
  // The HTTP side's: Stripe's signatures are checked against real time.
  ledger::SystemClock http_clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const std::string renew_secret = RenewSecretFromMasterKey(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  http::HttpClient client;
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<http::WebhookIngestion> webhooks;
  std::unique_ptr<http::ChargeApi> charges;
  std::unique_ptr<http::RenewPage> renewals;
  http::Endpoints endpoints;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<ReactorHost> reactors;
  std::string tenant_id, token, api_key;

  Stack() {
    auto s = sandbox::Sandbox::Start({});
    REQUIRE(s.ok());
    sandbox = std::move(*s);
    http::ServerOptions server_options;
    server_options.port = 0;
    auto started = http::Server::Start(server_options,
                                       [this](const http::HttpRequest& r, http::Responder respond) {
                                         http::RouteRequest(r, endpoints, std::move(respond));
                                       });
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    server = std::move(*started);
    gateways::Transport transport = http::GatewayTransport(client, 3000ms);
    webhooks =
        std::make_unique<http::WebhookIngestion>(*store, box, registry, http_clock, db->url());
    charges = std::make_unique<http::ChargeApi>(*store, box, registry, http_clock, transport,
                                                http::ChargeApiOptions{Url("")});
    renewals = std::make_unique<http::RenewPage>(*store, *charges, renew_secret);
    endpoints.webhooks = webhooks.get();
    endpoints.charges = charges.get();
    endpoints.renewals = renewals.get();

    auto tenant = tenants::CreateTenant(*store, box, "Clube da Ana", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    token = tenant->webhook_token;
    api_key = tenant->api_key;
    REQUIRE(tenants::ConfigureGateway(
                *store, box, registry, tenant_id,
                {"stripe", "secret-stripe", "key-stripe", sandbox->BaseUrl("stripe")})
                .ok());
    testing::SandboxAccount(client, *sandbox, "stripe", "key-stripe", "secret-stripe",
                            Url("/webhooks/stripe/" + token));
    REQUIRE(tenants::RegisterBot(*store, box, tenant_id, kBotToken, "clube_bot").ok());
    testing::SandboxAccount(client, *sandbox, "telegram", kBotToken, "", "");
    tenants::PlanSettings plan;
    plan.bot_id = "7701";
    plan.plan_id = "mensal";
    plan.name = "Clube VIP";
    plan.price_minor = 2990;
    plan.period_unit = tenants::kPeriodDay;
    plan.period_count = 30;
    plan.vip_chat_id = kVipChat;
    REQUIRE(tenants::ConfigurePlan(*store, tenant_id, plan).ok());

    ReactorHostOptions options;
    options.database_url = db->url();
    options.public_url = Url("");
    options.delivery_secret = "delivery";
    options.renew_secret = renew_secret;
    options.telegram_api_base = sandbox->BaseUrl("telegram");
    reactors = std::make_unique<ReactorHost>(*store, clock, box, registry, transport, options);
    reactors->Start();
  }
  ~Stack() {
    reactors->Stop();
    sandbox->Stop();
    server->Stop();
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", server->port(), path);
  }
  bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }
  // Creates the plan's charge for chat 42 at Stripe; its gateway transaction id.
  std::string ChargePlan() {
    auto r =
        client.Send({"POST",
                     Url("/v1/payments"),
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + api_key}},
                     absl::StrCat(R"({"gateway":"stripe","amount_minor":2990,"bot_id":"7701",)",
                                  R"("customer":{"id":"tg:42"},"plan_id":"mensal"})"),
                     10000ms});
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->status == 201, r->body);
    auto f = gateways::PayloadFields::ParseJson(r->body);
    REQUIRE(f.ok());
    return f->Text("gateway_transaction_id");
  }
  void AtGateway(const std::string& txid, const std::string& action) {
    REQUIRE(testing::SandboxPost(client, *sandbox,
                                 absl::StrCat("/sandbox/charges/stripe/", txid, "/", action), "{}")
                .status == 200);
  }
  std::vector<ledger::RecordedEvent> Events(const std::string& stream) {
    auto events = store->ReadStream(tenant_id, stream);
    REQUIRE(events.ok());
    return *events;
  }
  int Count(const std::string& stream, const std::string& type) {
    int n = 0;
    for (const auto& e : Events(stream)) n += e.type == type;
    return n;
  }
  // Events of `type` anywhere in the log.
  int CountAll(const std::string& type) {
    pqxx::connection c(db->url());
    pqxx::read_transaction txn(c);
    return txn.exec_params("SELECT count(*) FROM events WHERE event_type = $1", type)[0][0]
        .as<int>();
  }
  // The texts the Telegram simulator accepted for chat 42, in order.
  std::vector<std::string> Texts() {
    ClientResponse r = testing::SandboxGet(
        client, *sandbox, absl::StrCat("/sandbox/telegram/messages?chat_id=", kChat));
    std::vector<std::string> texts;
    size_t at = 0;
    while ((at = r.body.find("\"text\":\"", at)) != std::string::npos) {
      at += 8;
      std::string text;
      for (; at < r.body.size() && r.body[at] != '"'; ++at) {
        if (r.body[at] == '\\' && at + 1 < r.body.size()) ++at;
        text += r.body[at];
      }
      texts.push_back(text);
    }
    return texts;
  }
  // How often `method` was called for the VIP chat.
  int Member(const std::string& method) {
    ClientResponse r = testing::SandboxGet(
        client, *sandbox, absl::StrCat("/sandbox/telegram/members?chat_id=", kVipChat));
    int n = 0;
    for (size_t at = 0;
         (at = r.body.find("\"method\":\"" + method + "\"", at)) != std::string::npos; ++at) {
      ++n;
    }
    return n;
  }
  std::string TimerState(const std::string& kind, const std::string& timer_id) {
    pqxx::connection c(db->url());
    pqxx::read_transaction txn(c);
    auto rows = txn.exec_params("SELECT state FROM timers WHERE kind = $1 AND timer_id = $2", kind,
                                timer_id);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }
};

const std::string kSub = SubscriptionId("7701", "mensal", kChat);
const std::string kStream = SubscriptionStream(kSub);

template <typename M>
M Last(const std::vector<ledger::RecordedEvent>& events) {
  M m;
  for (const auto& e : events) {
    if (e.type == M::descriptor()->full_name()) REQUIRE(m.ParseFromString(e.payload));
  }
  return m;
}

template <typename M>
std::string T() {
  return M::descriptor()->full_name();
}

TEST_CASE(
    "a 30-day plan is warned once, renewed from its end when paid on day 29, expired once "
    "and removed from the VIP chat once") {
  Stack s;
  const std::string first = s.ChargePlan();
  s.AtGateway(first, "pay");
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionStarted>()) == 1; }));
  const auto started = Last<pb::SubscriptionStarted>(s.Events(kStream));
  CHECK(started.ends_at_us() - started.starts_at_us() == 30 * kDay);
  CHECK(started.vip_chat_id() == kVipChat);
  // The access message, with a single-use invite link made when it was sent (never recorded).
  REQUIRE(s.WaitFor([&] { return s.Texts().size() == 1; }));
  CHECK(absl::StrContains(s.Texts()[0], "Clube VIP ativa"));
  CHECK(absl::StrContains(s.Texts()[0], "https://t.me/+sandbox"));
  CHECK(s.Member("createChatInviteLink") == 1);
  // Its outcome recorded (the success event too must not hold the link).
  REQUIRE(s.WaitFor([&] { return s.CountAll(T<pb::SubscriptionNoticeSent>()) == 1; }));
  for (const auto& e : testing::AllEvents(s.db->url())) {
    CHECK_FALSE(absl::StrContains(e.payload, "t.me/+sandbox"));
  }
  // A plan's payment is not delivered as a product.
  CHECK(s.Count("payment-stripe-" + first, "tally.payments.v1.DeliveryIssued") == 0);

  // Day 27: the warning, with a renewal link; once.
  s.clock.Advance(27 * kDay + 60'000'000);
  REQUIRE(s.WaitFor([&] { return s.Texts().size() == 2; }));
  const std::string warning = s.Texts()[1];
  CHECK(absl::StrContains(warning, "termina em"));
  const size_t link_at = warning.find(s.Url("/renew/"));
  REQUIRE(link_at != std::string::npos);
  const std::string renew_link = warning.substr(link_at);
  CHECK(s.Count(kStream, T<pb::SubscriptionExpiryWarned>()) == 1);

  // Day 29: the subscriber opens the link (twice: one charge) and pays.
  s.clock.Advance(2 * kDay);
  auto page = s.client.Send({"GET", renew_link, {}, "", 10000ms});
  REQUIRE(page.ok());
  REQUIRE_MESSAGE(page->status == 200, page->body);
  CHECK(absl::StrContains(page->body, "R$ 29,90"));
  auto again = s.client.Send({"GET", renew_link, {}, "", 10000ms});
  REQUIRE(again.ok());
  CHECK(again->body == page->body);
  std::string second;
  {
    pqxx::connection c(s.db->url());
    pqxx::read_transaction txn(c);
    auto rows = txn.exec(
        "SELECT stream_id FROM events WHERE event_type = 'tally.payments.v1.PaymentCreated' "
        "ORDER BY position");
    REQUIRE(rows.size() == 2);
    second = rows[1][0].as<std::string>().substr(std::string("payment-stripe-").size());
  }
  s.AtGateway(second, "pay");
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionRenewed>()) == 1; }));
  const auto renewed = Last<pb::SubscriptionRenewed>(s.Events(kStream));
  CHECK(renewed.previous_ends_at_us() == started.ends_at_us());
  CHECK(renewed.ends_at_us() == started.ends_at_us() + 30 * kDay);
  // The first period's expiry can never fire: it was cancelled with the renewal.
  const std::string first_period = absl::StrCat(kSub, ":", started.ends_at_us());
  REQUIRE(
      s.WaitFor([&] { return s.TimerState("subscription_expiry", first_period) == "cancelled"; }));
  CHECK(s.TimerState("subscription_warning", first_period) == "fired");
  REQUIRE(s.WaitFor([&] { return s.Texts().size() == 3; }));
  CHECK(absl::StrContains(s.Texts()[2], "renovada"));
  // The renewal link of a renewed period answers that it was renewed.
  auto stale = s.client.Send({"GET", renew_link, {}, "", 10000ms});
  REQUIRE(stale.ok());
  CHECK(stale->status == 410);

  // Day 57: the second period's warning; day 60: its end — expired once, removed once.
  s.clock.Advance(28 * kDay + 60'000'000);
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionExpiryWarned>()) == 2; }));
  s.clock.Advance(3 * kDay);
  REQUIRE(s.WaitFor([&] { return s.CountAll(T<pb::AccessRevoked>()) == 1; }));
  CHECK(s.Count(kStream, T<pb::SubscriptionExpired>()) == 1);
  CHECK(Last<pb::SubscriptionExpired>(s.Events(kStream)).ends_at_us() == renewed.ends_at_us());
  CHECK(s.Member("banChatMember") == 1);
  CHECK(s.Member("unbanChatMember") == 1);
  REQUIRE(s.WaitFor([&] { return s.Texts().size() == 5; }));
  CHECK(absl::StrContains(s.Texts()[4], "terminou"));
  // Nothing more happens later: every timer of both periods has ended.
  s.clock.Advance(40 * kDay);
  pqxx::connection c(s.db->url());
  pqxx::read_transaction txn(c);
  CHECK(txn.exec("SELECT count(*) FROM timers WHERE state = 'scheduled'")[0][0].as<int>() == 0);
  CHECK(s.CountAll(T<pb::SubscriptionExpired>()) == 1);
  CHECK(s.CountAll(T<pb::SubscriptionExpiryWarned>()) == 2);
}

TEST_CASE(
    "a refund of the paying payment revokes VIP access at once and ends the period's "
    "timers") {
  Stack s;
  const std::string txid = s.ChargePlan();
  s.AtGateway(txid, "pay");
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionStarted>()) == 1; }));
  const auto started = Last<pb::SubscriptionStarted>(s.Events(kStream));
  s.AtGateway(txid, "refund");
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionRevoked>()) == 1; }));
  CHECK(Last<pb::SubscriptionRevoked>(s.Events(kStream)).reason() == "refunded");
  REQUIRE(s.WaitFor([&] { return s.Member("unbanChatMember") == 1; }));
  CHECK(s.Member("banChatMember") == 1);
  const std::string period = absl::StrCat(kSub, ":", started.ends_at_us());
  REQUIRE(s.WaitFor([&] { return s.TimerState("subscription_expiry", period) == "cancelled"; }));
  CHECK(s.TimerState("subscription_warning", period) == "cancelled");
}

// A Stripe event as Stripe signs it, posted to the tenant's webhook URL.
ClientResponse PostStripe(Stack& s, const std::string& body,
                          const std::string& secret = "secret-stripe", std::string token = "") {
  if (token.empty()) token = s.token;
  const std::string t = absl::StrCat(ledger::SystemClock().NowMicros() / 1'000'000);
  const std::string signature =
      absl::StrCat("t=", t, ",v1=", gateways::HmacSha256Hex(secret, t + "." + body));
  auto r = s.client.Send({"POST",
                          s.Url("/webhooks/stripe/" + token),
                          {{"Content-Type", "application/json"}, {"Stripe-Signature", signature}},
                          body,
                          10000ms});
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE(
    "Stripe invoice.paid renews a subscription once per invoice, and "
    "customer.subscription.deleted cancels it at the period's end") {
  Stack s;
  const std::string invoice = absl::StrCat(
      R"({"id":"evt_inv1","type":"invoice.paid","created":1700000000,"data":{"object":{)",
      R"("id":"in_1","object":"invoice","payment_intent":"pi_inv1","subscription":"sub_1",)",
      R"("amount_paid":2990,"currency":"brl","status":"paid",)",
      R"("subscription_details":{"metadata":{"tally_subscription":")", kSub, R"("}}}}})");
  // Another tenant signs with its own secret an invoice naming this tenant's bot: nothing.
  auto other = tenants::CreateTenant(*s.store, s.box, "Outra Loja", "America/Sao_Paulo");
  REQUIRE(other.ok());
  REQUIRE(tenants::ConfigureGateway(*s.store, s.box, s.registry, other->tenant_id,
                                    {"stripe", "secret-other", "key-other", ""})
              .ok());
  const std::string forged = absl::StrCat(
      R"({"id":"evt_forged","type":"invoice.paid","created":1700000000,"data":{"object":{)",
      R"("id":"in_9","object":"invoice","payment_intent":"pi_forged","subscription":"sub_9",)",
      R"("amount_paid":2990,"currency":"brl","status":"paid",)",
      R"("subscription_details":{"metadata":{"tally_subscription":")", kSub, R"("}}}}})");
  REQUIRE(PostStripe(s, forged, "secret-other", other->webhook_token).status == 200);

  ClientResponse posted = PostStripe(s, invoice);
  REQUIRE_MESSAGE(posted.status == 200, posted.body);
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionStarted>()) == 1; }));
  const auto started = Last<pb::SubscriptionStarted>(s.Events(kStream));
  CHECK(started.gateway() == "stripe");
  CHECK(started.payment_stream() == "payment-stripe-pi_inv1");  // not the forged one
  // Stripe sends it again (another delivery of the same invoice): still one period.
  const std::string again = absl::StrCat(
      R"({"id":"evt_inv1b","type":"invoice.paid","created":1700000001,"data":{"object":{)",
      R"("id":"in_1","object":"invoice","payment_intent":"pi_inv1","subscription":"sub_1",)",
      R"("amount_paid":2990,"currency":"brl","status":"paid",)",
      R"("subscription_details":{"metadata":{"tally_subscription":")", kSub, R"("}}}}})");
  REQUIRE(PostStripe(s, again).status == 200);
  // The next month's invoice renews from the end.
  const std::string next = absl::StrCat(
      R"({"id":"evt_inv2","type":"invoice.paid","created":1702592000,"data":{"object":{)",
      R"("id":"in_2","object":"invoice","payment_intent":"pi_inv2","subscription":"sub_1",)",
      R"("amount_paid":2990,"currency":"brl","status":"paid",)",
      R"("subscription_details":{"metadata":{"tally_subscription":")", kSub, R"("}}}}})");
  REQUIRE(PostStripe(s, next).status == 200);
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionRenewed>()) == 1; }));
  CHECK(Last<pb::SubscriptionRenewed>(s.Events(kStream)).ends_at_us() ==
        started.ends_at_us() + 30 * kDay);

  const std::string deleted = absl::StrCat(
      R"({"id":"evt_del","type":"customer.subscription.deleted","created":1702600000,)",
      R"("data":{"object":{"id":"sub_1","object":"subscription","status":"canceled",)",
      R"("metadata":{"tally_subscription":")", kSub, R"("}}}})");
  REQUIRE(PostStripe(s, deleted).status == 200);
  REQUIRE(s.WaitFor([&] { return s.Count(kStream, T<pb::SubscriptionCancelled>()) == 1; }));
  CHECK(s.Count(kStream, T<pb::SubscriptionRenewed>()) == 1);
  CHECK(s.Count(kStream, T<pb::SubscriptionStarted>()) == 1);
  // Access lasts until the end: the expiry is still scheduled.
  const std::string period =
      absl::StrCat(kSub, ":", Last<pb::SubscriptionRenewed>(s.Events(kStream)).ends_at_us());
  CHECK(s.TimerState("subscription_expiry", period) == "scheduled");
}

TEST_CASE(
    "plans refuse a zero period, a price below the floor, a non-group VIP chat and an "
    "unknown bot, and a plan's charge must name a plan of the bot at its price") {
  Stack s;
  tenants::PlanSettings plan;
  plan.bot_id = "7701";
  plan.plan_id = "anual";
  plan.name = "Anual";
  plan.price_minor = 19900;
  plan.period_unit = tenants::kPeriodMonth;
  plan.period_count = 0;
  auto refused = tenants::ConfigurePlan(*s.store, s.tenant_id, plan);
  CHECK(absl::StrContains(refused.message(), "period_count"));
  plan.period_count = 12;
  plan.price_minor = 49;
  CHECK(absl::StrContains(tenants::ConfigurePlan(*s.store, s.tenant_id, plan).message(),
                          "price_minor"));
  plan.price_minor = 19900;
  plan.vip_chat_id = 555;
  CHECK(absl::StrContains(tenants::ConfigurePlan(*s.store, s.tenant_id, plan).message(),
                          "vip_chat_id"));
  plan.vip_chat_id = 0;
  plan.period_unit = "year";
  CHECK(absl::StrContains(tenants::ConfigurePlan(*s.store, s.tenant_id, plan).message(),
                          "period_unit"));
  plan.period_unit = tenants::kPeriodMonth;
  plan.bot_id = "9999";
  CHECK(tenants::ConfigurePlan(*s.store, s.tenant_id, plan).code() == absl::StatusCode::kNotFound);
  auto plans = tenants::PlansOf(*s.store, s.tenant_id, "7701");
  REQUIRE(plans.ok());
  CHECK(plans->size() == 1);  // nothing recorded by the refusals

  const auto charge = [&](const std::string& body) {
    auto r = s.client.Send(
        {"POST",
         s.Url("/v1/payments"),
         {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + s.api_key}},
         body,
         10000ms});
    REQUIRE(r.ok());
    return *r;
  };
  ClientResponse unknown = charge(
      R"({"gateway":"stripe","amount_minor":2990,"bot_id":"7701","customer":{"id":"tg:42"},"plan_id":"nope"})");
  CHECK(unknown.status == 422);
  CHECK(absl::StrContains(unknown.body, "unknown_plan"));
  ClientResponse cheaper = charge(
      R"({"gateway":"stripe","amount_minor":100,"bot_id":"7701","customer":{"id":"tg:42"},"plan_id":"mensal"})");
  CHECK(cheaper.status == 422);
  CHECK(absl::StrContains(cheaper.body, "amount_mismatch"));
  ClientResponse anonymous = charge(
      R"({"gateway":"stripe","amount_minor":2990,"bot_id":"7701","customer":{"id":"x"},"plan_id":"mensal"})");
  CHECK(anonymous.status == 400);
}

TEST_CASE("a period of calendar months ends on the same day, or the month's last") {
  tenants::PlanSettings monthly;
  monthly.period_unit = tenants::kPeriodMonth;
  monthly.period_count = 1;
  const auto at = [](const char* text) {
    absl::Time t;
    REQUIRE(absl::ParseTime(absl::RFC3339_full, text, &t, nullptr));
    return absl::ToUnixMicros(t);
  };
  CHECK(PeriodEndUs(at("2027-01-31T10:00:00Z"), monthly) == at("2027-02-28T10:00:00Z"));
  CHECK(PeriodEndUs(at("2027-03-15T23:30:00Z"), monthly) == at("2027-04-15T23:30:00Z"));
  monthly.period_count = 12;
  CHECK(PeriodEndUs(at("2028-02-29T00:00:00Z"), monthly) == at("2029-02-28T00:00:00Z"));
  // The warning: 3 days before the end; half way for short periods.
  CHECK(WarningDueUs(0, 30 * kDay) == 27 * kDay);
  CHECK(WarningDueUs(0, 3 * kDay) == 3 * kDay / 2);
}

}  // namespace
}  // namespace tally::reactors
