// The owner read API on real PostgreSQL and real HTTP: two tenants on every endpoint (another
// tenant's payment is 404, wrong scopes 403, no key 401), filters and their errors, cursor
// pagination that neither repeats nor skips while payments are appended, the per-key rate limit,
// and a property test: over random payment histories (webhooks before their charge, unsigned
// webhooks confirmed by polls, duplicates, refunds, chargebacks, expiries, days spread over two
// weeks) the API's totals equal an independent fold of the log written here, not the
// projections' code.

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "http/rate_limiter.h"
#include "http/read_api.h"
#include "http/read_database.h"
#include "http/router.h"
#include "http/server.h"
#include "projections/catalog.h"
#include "projections/runner.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tally/subscriptions/v1/subscription_events.pb.h"
#include "tenants/tenant_directory.h"
#include "tests/support/http_client.h"
#include "tests/support/pg.h"
#include "tests/support/projection_runners.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kZone[] = "America/Sao_Paulo";

class FrozenClock final : public ledger::Clock {
 public:
  int64_t NowMicros() const override { return 1'800'000'000'000'000; }
};

struct Stack {
  explicit Stack(int partitions, RateLimit limit = {0, 0})
      : db(testing::NewDatabase(partitions)),
        store(testing::OpenStore(db->url())),
        box(*tenants::SecretBox::FromHex(kMasterKey)),
        read_database(db->url(), false),
        reads(*store, clock, read_database),
        limiter(limit, frozen),
        runners(db->url(), partitions, Polling()) {
    endpoints.reads = &reads;
    endpoints.rate_limiter = &limiter;
    ServerOptions server_options;
    server_options.port = 0;
    auto started = Server::Start(server_options, [this](const HttpRequest& r, Responder respond) {
      RouteRequest(r, endpoints, std::move(respond));
    });
    REQUIRE(started.ok());
    server = std::move(*started);
  }
  ~Stack() { server->Stop(); }

  std::string NewTenant(const std::string& name) {
    auto tenant = tenants::CreateTenant(*store, box, name, kZone);
    REQUIRE(tenant.ok());
    keys[tenant->tenant_id] = tenant->api_key;
    return tenant->tenant_id;
  }

  void WaitCaughtUp() { testing::WaitProjectionsCaughtUp(db->url()); }

  testing::HttpReply Get(const std::string& tenant, const std::string& target) {
    return testing::HttpFetch(server->port(), "GET", target,
                              {{"Authorization", "Bearer " + keys.at(tenant)}});
  }

  static projections::RunnerOptions Polling() {
    projections::RunnerOptions options;
    options.poll_interval = std::chrono::milliseconds(50);
    return options;
  }

  std::unique_ptr<ledger::ScratchDatabase> db;
  std::unique_ptr<ledger::EventStore> store;
  tenants::SecretBox box;
  ledger::SystemClock clock;
  FrozenClock frozen;
  ReadDatabase read_database;
  ReadApi reads;
  RateLimiter limiter;
  Endpoints endpoints;
  testing::ProjectionRunners runners;
  std::unique_ptr<Server> server;
  std::map<std::string, std::string> keys;
};

// One payment's events, appended in the order given.
class Payment {
 public:
  Payment(std::string tenant, std::string gateway, std::string txid)
      : tenant_(std::move(tenant)),
        gateway_(std::move(gateway)),
        stream_("payment-" + gateway_ + "-" + txid),
        txid_(std::move(txid)) {}

  Payment& Created(int64_t amount, const std::string& bot = "bot-1",
                   const std::string& product = "curso") {
    pb::PaymentCreated created;
    created.set_tenant_id(tenant_);
    created.set_bot_id(bot);
    created.set_product_id(product);
    created.set_customer_id("tg:" + txid_);
    created.mutable_amount()->set_amount_minor(amount);
    created.mutable_amount()->set_currency("BRL");
    created.set_gateway(gateway_);
    created.set_gateway_transaction_id(txid_);
    created.set_payment_id("pay_" + txid_);
    events_.push_back({"tally.payments.v1.PaymentCreated", created.SerializeAsString(), ""});
    return *this;
  }
  // `source`: "signed", "unsigned" or "poll".
  Payment& Observed(pb::ObservedStatus status, const std::string& source, int64_t amount,
                    int64_t at_us) {
    pb::Observation observation;
    observation.set_status(status);
    observation.mutable_amount()->set_amount_minor(amount);
    observation.mutable_amount()->set_currency("BRL");
    observation.set_occurred_at_us(at_us);
    observation.set_gateway_transaction_id(txid_);
    if (source == "poll") {
      pb::GatewayStatusPolled poll;
      poll.set_gateway(gateway_);
      poll.set_tenant_id(tenant_);
      poll.set_http_status(200);
      *poll.mutable_observation() = observation;
      events_.push_back({"tally.payments.v1.GatewayStatusPolled", poll.SerializeAsString(), ""});
    } else {
      pb::GatewayWebhookReceived webhook;
      webhook.set_gateway(gateway_);
      webhook.set_tenant_id(tenant_);
      webhook.set_raw_body("{}");
      webhook.set_authenticity(source == "signed" ? pb::AUTHENTICITY_SIGNED
                                                  : pb::AUTHENTICITY_UNVERIFIED);
      *webhook.mutable_observation() = observation;
      events_.push_back(
          {"tally.payments.v1.GatewayWebhookReceived", webhook.SerializeAsString(), ""});
    }
    return *this;
  }
  void AppendTo(ledger::EventStore& store) {
    for (auto& event : events_) {
      REQUIRE(store.Append({tenant_, stream_, ledger::ExpectedVersion::Any(), {event}, ""}).ok());
    }
    events_.clear();
  }
  const std::string& stream() const { return stream_; }

 private:
  std::string tenant_, gateway_, stream_, txid_;
  std::vector<ledger::EventData> events_;
};

int64_t LocalMicros(absl::CivilSecond at) {
  absl::TimeZone zone;
  REQUIRE(absl::LoadTimeZone(kZone, &zone));
  return absl::ToUnixMicros(absl::FromCivil(at, zone));
}

size_t Count(const std::string& body, const std::string& needle) {
  size_t n = 0;
  for (size_t at = body.find(needle); at != std::string::npos; at = body.find(needle, at + 1)) ++n;
  return n;
}

// The value of "field": in `body` after `from` (a number or a JSON string's content).
std::string Field(const std::string& body, const std::string& field, size_t from = 0) {
  const std::string key = "\"" + field + "\":";
  size_t at = body.find(key, from);
  if (at == std::string::npos) return "<absent>";
  at += key.size();
  if (body[at] == '"') return body.substr(at + 1, body.find('"', at + 1) - at - 1);
  const size_t end = body.find_first_of(",}]", at);
  return body.substr(at, end - at);
}

// Every payment stream listed by following next_cursor with pages of `limit`.
std::vector<std::string> ListAll(Stack& stack, const std::string& tenant, int limit,
                                 const std::function<void()>& between_pages = nullptr) {
  std::vector<std::string> streams;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    auto reply = stack.Get(tenant, absl::StrCat("/v1/payments?limit=", limit,
                                                cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(reply.status == 200);
    for (size_t at = reply.body.find("\"stream_id\":"); at != std::string::npos;
         at = reply.body.find("\"stream_id\":", at + 1)) {
      streams.push_back(Field(reply.body, "stream_id", at));
    }
    cursor = Field(reply.body, "next_cursor", reply.body.rfind("\"next_cursor\":"));
    if (cursor == "null") return streams;
    if (between_pages) between_pages();
  }
  FAIL("pagination did not end");
  return streams;
}

TEST_CASE("read API: each tenant sees only its own payments, revenue and stats") {
  Stack stack(2);
  const std::string ana = stack.NewTenant("Loja da Ana");
  const std::string bia = stack.NewTenant("Loja da Bia");
  const int64_t noon = LocalMicros(absl::CivilSecond(2026, 11, 20, 12, 0, 0));
  Payment a1(ana, "pushinpay", "a1");
  a1.Created(1990).Observed(pb::OBSERVED_STATUS_PAID, "signed", 1990, noon).AppendTo(*stack.store);
  Payment a2(ana, "stripe", "a2");
  a2.Created(4990, "bot-2", "mentoria").AppendTo(*stack.store);
  Payment b1(bia, "pushinpay", "b1");
  b1.Created(9990).Observed(pb::OBSERVED_STATUS_PAID, "signed", 9990, noon).AppendTo(*stack.store);
  for (const auto& [tenant, user] : std::vector<std::pair<std::string, int64_t>>{
           {ana, 101}, {ana, 102}, {ana, 101}, {bia, 201}}) {
    leads::v1::LeadStarted lead;
    lead.set_tenant_id(tenant);
    lead.set_bot_id("bot-1");
    lead.set_telegram_user_id(user);
    lead.set_first_name("Maria");
    lead.set_start_payload("camp1");
    REQUIRE(stack.store
                ->Append({tenant,
                          absl::StrCat("lead-bot-1-", user),
                          ledger::ExpectedVersion::Any(),
                          {{"tally.leads.v1.LeadStarted", lead.SerializeAsString(), ""}},
                          ""})
                .ok());
  }
  subscriptions::v1::SubscriptionStarted started;
  started.set_subscription_id("bot-1_clube_101");
  started.set_tenant_id(ana);
  started.set_bot_id("bot-1");
  started.set_plan_id("clube");
  started.set_chat_id(101);
  started.set_customer_id("tg:101");
  started.set_starts_at_us(noon);
  started.set_ends_at_us(noon + 30LL * 86400 * 1000000);
  REQUIRE(stack.store
              ->Append({ana,
                        "subscription-bot-1_clube_101",
                        ledger::ExpectedVersion::Any(),
                        {{"tally.subscriptions.v1.SubscriptionStarted", started.SerializeAsString(),
                          ""}},
                        ""})
              .ok());
  stack.WaitCaughtUp();
  const int port = stack.server->port();

  // Keys and scopes.
  CHECK(testing::HttpFetch(port, "GET", "/v1/payments", {}).status == 401);
  CHECK(testing::HttpFetch(port, "GET", "/v1/payments", {{"Authorization", "Bearer tly_nope"}})
            .status == 401);
  auto admin = tenants::IssueSystemApiKey(*stack.store, tenants::kAdminScope);
  REQUIRE(admin.ok());
  auto as_admin = testing::HttpFetch(port, "GET", "/v1/payments",
                                     {{"Authorization", "Bearer " + admin->api_key}});
  CHECK(as_admin.status == 403);
  CHECK(absl::StrContains(as_admin.body, "\"forbidden\""));

  auto list = stack.Get(ana, "/v1/payments");
  REQUIRE(list.status == 200);
  CHECK(list.Header("Tally-Read-Source") == "primary");
  CHECK(Count(list.body, "\"stream_id\":") == 2);
  CHECK(absl::StrContains(list.body, a1.stream()));
  CHECK(!absl::StrContains(list.body, b1.stream()));
  CHECK(Field(list.body, "next_cursor") == "null");

  // Another tenant's payment is exactly as absent as one that does not exist.
  auto theirs = stack.Get(ana, "/v1/payments/pay_b1");
  auto none = stack.Get(ana, "/v1/payments/pay_zz");
  CHECK(theirs.status == 404);
  CHECK(none.status == 404);
  CHECK(Field(theirs.body, "code") == "payment_not_found");
  CHECK(stack.Get(ana, "/v1/payments/" + b1.stream()).status == 404);
  auto mine = stack.Get(bia, "/v1/payments/pay_b1");
  REQUIRE(mine.status == 200);
  CHECK(Field(mine.body, "status") == "paid");
  CHECK(Field(mine.body, "amount_minor") == "9990");
  CHECK(Field(mine.body, "paid_at") == "2026-11-20T15:00:00.000000Z");
  CHECK(Count(mine.body, "\"position\":") == 2);  // PaymentCreated, the webhook
  CHECK(absl::StrContains(mine.body, "GatewayWebhookReceived"));
  auto by_stream = stack.Get(bia, "/v1/payments/" + b1.stream());
  CHECK(by_stream.status == 200);
  CHECK(Field(by_stream.body, "payment_id") == "pay_b1");

  // Filters.
  auto paid = stack.Get(ana, "/v1/payments?status=paid");
  CHECK(Count(paid.body, "\"stream_id\":") == 1);
  CHECK(absl::StrContains(paid.body, a1.stream()));
  CHECK(Count(stack.Get(ana, "/v1/payments?status=paid,pending").body, "\"stream_id\":") == 2);
  CHECK(Count(stack.Get(ana, "/v1/payments?gateway=stripe").body, "\"stream_id\":") == 1);
  CHECK(Count(stack.Get(ana, "/v1/payments?bot_id=bot-2").body, "\"stream_id\":") == 1);
  CHECK(Count(stack.Get(ana, "/v1/payments?product_id=curso").body, "\"stream_id\":") == 1);
  CHECK(Count(stack.Get(ana, "/v1/payments?paid_from=2026-11-20&paid_to=2026-11-21").body,
              "\"stream_id\":") == 1);
  CHECK(Count(stack.Get(ana, "/v1/payments?paid_from=2026-11-21").body, "\"stream_id\":") == 0);
  CHECK(Count(stack.Get(ana, "/v1/payments?created_to=2000-01-01T00:00:00Z").body,
              "\"stream_id\":") == 0);
  for (const auto& [target, parameter] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/payments?status=payed", "status"},
           {"/v1/payments?stauts=paid", "stauts"},
           {"/v1/payments?limit=0", "limit"},
           {"/v1/payments?limit=501", "limit"},
           {"/v1/payments?limit=ten", "limit"},
           {"/v1/payments?paid_from=yesterday", "paid_from"},
           {"/v1/payments?cursor=bm90IGEgY3Vyc29y", "cursor"},
           {"/v1/payments?gateway=a&gateway=b", "gateway"},
           {"/v1/payments?gateway=%zz", "gateway"},
           {"/v1/revenue?group_by=week", "group_by"},
           {"/v1/revenue?from=2026-11-30&to=2026-11-01", "from"},
           {"/v1/revenue?from=1990-01-01&to=2026-11-01", "from"},
           {"/v1/stats?to=soon", "to"}}) {
    INFO(target);
    auto bad = stack.Get(ana, target);
    CHECK(bad.status == 400);
    CHECK(Field(bad.body, "code") == "invalid_parameter");
    CHECK(absl::StartsWith(Field(bad.body, "message"), parameter));
  }

  // Revenue and stats: each tenant its own.
  auto revenue = stack.Get(ana, "/v1/revenue?from=2026-11-01&to=2026-11-30&group_by=day,gateway");
  REQUIRE(revenue.status == 200);
  CHECK(Field(revenue.body, "time_zone") == kZone);
  CHECK(Count(revenue.body, "\"day\":") == 1);
  CHECK(Field(revenue.body, "day") == "2026-11-20");
  CHECK(Field(revenue.body, "gateway") == "pushinpay");
  CHECK(Field(revenue.body, "paid_minor") == "1990");
  auto stats = stack.Get(bia, "/v1/stats?from=2026-11-20&to=2026-11-20");
  REQUIRE(stats.status == 200);
  CHECK(Field(stats.body, "sales") == "1");
  CHECK(Field(stats.body, "revenue_minor") == "9990");
  CHECK(Field(stats.body, "average_ticket_minor") == "9990");
  CHECK(Field(stats.body, "paying_buyers") == "1");
  CHECK(absl::StrContains(stats.body, R"({"hour":12,"sales":1,"revenue_minor":9990})"));
  auto empty = stack.Get(bia, "/v1/stats?from=2026-11-21&to=2026-11-30");
  CHECK(Field(empty.body, "sales") == "0");
  CHECK(stack.Get(ana, "/v1/revenue").status == 200);  // the last 30 days by default

  // Leads, subscriptions and conversion: each tenant its own.
  auto leads = stack.Get(ana, "/v1/leads");
  REQUIRE(leads.status == 200);
  CHECK(Count(leads.body, "\"telegram_user_id\":") == 2);
  CHECK(absl::StrContains(leads.body, R"("telegram_user_id":101,)"));
  CHECK(absl::StrContains(leads.body, R"("starts":2)"));
  CHECK(Count(stack.Get(bia, "/v1/leads").body, "\"telegram_user_id\":") == 1);
  CHECK(Count(stack.Get(ana, "/v1/leads?limit=1").body, "\"telegram_user_id\":") == 1);
  auto subscriptions = stack.Get(ana, "/v1/subscriptions?status=active");
  REQUIRE(subscriptions.status == 200);
  CHECK(Field(subscriptions.body, "subscription_id") == "bot-1_clube_101");
  CHECK(Field(subscriptions.body, "ends_at") == "2026-12-20T15:00:00.000000Z");
  CHECK(Count(stack.Get(ana, "/v1/subscriptions?status=expired").body, "subscription_id") == 0);
  CHECK(Count(stack.Get(bia, "/v1/subscriptions").body, "subscription_id") == 0);
  CHECK(stack.Get(ana, "/v1/subscriptions?status=gone").status == 400);
  auto month = stack.Get(ana, "/v1/stats?from=2026-11-15&to=2026-12-31");
  CHECK(Field(month.body, "sales") == "1");
  CHECK(Field(month.body, "leads") == "2");
  CHECK(Field(month.body, "conversion") == "0.5000");
  CHECK(Field(stats.body, "conversion") == "null");  // no lead started on 2026-11-20
  CHECK(testing::HttpFetch(port, "DELETE", "/v1/stats",
                           {{"Authorization", "Bearer " + stack.keys.at(ana)}})
            .status == 405);
}

TEST_CASE("read API: following next_cursor neither repeats nor skips while payments arrive") {
  Stack stack(2);
  const std::string ana = stack.NewTenant("Loja da Ana");
  for (int i = 0; i < 53; ++i) {
    Payment p(ana, i % 2 == 0 ? "pushinpay" : "paradise", absl::StrCat("p", i));
    p.Created(1000 + i).AppendTo(*stack.store);
  }
  stack.WaitCaughtUp();
  const std::vector<std::string> all = ListAll(stack, ana, 500);
  REQUIRE(all.size() == 53);
  int added = 0;
  const std::vector<std::string> paged = ListAll(stack, ana, 7, [&] {
    Payment p(ana, "stripe", absl::StrCat("late", added++));
    p.Created(500).AppendTo(*stack.store);
    stack.WaitCaughtUp();
  });
  // New payments are newer than every cursor: the walk that started before them is exactly
  // the list as it was.
  CHECK(paged == all);
  CHECK(added == 7);
  CHECK(ListAll(stack, ana, 500).size() == 53 + 7);
}

TEST_CASE("read API: before the projections first make their tables the answer says so") {
  auto db = testing::NewDatabase(1);
  auto store = testing::OpenStore(db->url());
  auto tenant =
      tenants::CreateTenant(*store, *tenants::SecretBox::FromHex(kMasterKey), "Ana", kZone);
  REQUIRE(tenant.ok());
  ledger::SystemClock clock;
  ReadDatabase database(db->url(), false);
  ReadApi reads(*store, clock, database);
  HttpResponse answer;
  reads.Handle({"GET", "/v1/stats", {{"Authorization", "Bearer " + tenant->api_key}}, "", ""},
               "/v1/stats", [&](HttpResponse r) { answer = std::move(r); });
  CHECK(answer.status == 503);
  CHECK(absl::StrContains(answer.body, "projections_not_ready"));
}

TEST_CASE("read API: over the per-key limit the answer is 429 with Retry-After") {
  // A frozen clock: no token comes back, so exactly the burst is admitted.
  Stack stack(1, RateLimit{1, 3});
  const std::string ana = stack.NewTenant("Loja da Ana");
  const std::string bia = stack.NewTenant("Loja da Bia");
  stack.WaitCaughtUp();
  for (int i = 0; i < 3; ++i) CHECK(stack.Get(ana, "/v1/stats").status == 200);
  auto limited = stack.Get(ana, "/v1/payments");
  CHECK(limited.status == 429);
  CHECK(Field(limited.body, "code") == "rate_limited");
  CHECK(limited.Header("Retry-After") == "1");
  // Other keys have their own budget.
  CHECK(stack.Get(bia, "/v1/stats").status == 200);
}

// What a bookkeeper expects of one payment's events, folded here without the projections'
// code: a sale counts once (duplicates too), when a signed webhook or a poll said paid, on the
// local day of the first paid observation; a refund or chargeback counts on its own day.
struct Expected {
  int64_t sales = 0, revenue = 0, refunded = 0;
  std::map<std::string, int64_t> status_counts;
  std::map<std::string, int64_t> revenue_by_gateway;
  std::set<std::string> buyers;
};

void FoldIndependently(const std::vector<ledger::RecordedEvent>& log, const std::string& tenant,
                       absl::CivilDay from, absl::CivilDay to, Expected& out) {
  absl::TimeZone zone;
  REQUIRE(absl::LoadTimeZone(kZone, &zone));
  struct State {
    std::string tenant, gateway, customer, status = "unknown";
    bool created = false, paid = false, confirmed = false, refunded = false, closed = false;
    int64_t amount = 0, paid_at = 0, refunded_at = 0;
  };
  std::map<std::string, State> states;
  for (const auto& event : log) {
    if (!absl::StartsWith(event.stream_id, "payment-")) continue;
    State& s = states[event.stream_id];
    pb::Observation observation;
    bool confirming = true;
    if (event.type == "tally.payments.v1.PaymentCreated") {
      pb::PaymentCreated created;
      REQUIRE(created.ParseFromString(event.payload));
      s.created = true;
      s.tenant = created.tenant_id();
      s.gateway = created.gateway();
      s.customer = created.customer_id();
      if (s.amount == 0) s.amount = created.amount().amount_minor();
      continue;
    } else if (event.type == "tally.payments.v1.GatewayWebhookReceived") {
      pb::GatewayWebhookReceived webhook;
      REQUIRE(webhook.ParseFromString(event.payload));
      observation = webhook.observation();
      confirming = webhook.authenticity() == pb::AUTHENTICITY_SIGNED;
      s.tenant = webhook.tenant_id();
      s.gateway = webhook.gateway();
    } else if (event.type == "tally.payments.v1.GatewayStatusPolled") {
      pb::GatewayStatusPolled poll;
      REQUIRE(poll.ParseFromString(event.payload));
      observation = poll.observation();
      s.tenant = poll.tenant_id();
      s.gateway = poll.gateway();
    } else {
      continue;
    }
    switch (observation.status()) {
      case pb::OBSERVED_STATUS_PAID:
        if (s.refunded) break;  // stale
        if (!s.paid) {
          s.paid = true;
          s.paid_at = observation.occurred_at_us();
          s.amount = observation.amount().amount_minor();
        }
        s.confirmed = s.confirmed || confirming;
        break;
      case pb::OBSERVED_STATUS_REFUNDED:
      case pb::OBSERVED_STATUS_CHARGED_BACK:
        if (!s.refunded) s.refunded_at = observation.occurred_at_us();
        s.refunded = true;
        s.status =
            observation.status() == pb::OBSERVED_STATUS_REFUNDED ? "refunded" : "charged_back";
        break;
      case pb::OBSERVED_STATUS_EXPIRED:
        if (!s.paid) s.closed = true;
        break;
      default:
        break;
    }
  }
  for (auto& [stream, s] : states) {
    if (s.tenant != tenant) continue;
    const std::string status = s.refunded  ? s.status
                               : s.paid    ? "paid"
                               : s.closed  ? "expired"
                               : s.created ? "pending"
                                           : "unknown";
    ++out.status_counts[status];
    if (!s.paid || !s.confirmed) continue;
    const absl::CivilDay paid_day = absl::ToCivilDay(absl::FromUnixMicros(s.paid_at), zone);
    if (paid_day >= from && paid_day <= to) {
      ++out.sales;
      out.revenue += s.amount;
      out.revenue_by_gateway[s.gateway] += s.amount;
      out.buyers.insert(s.customer);
    }
    if (s.refunded) {
      const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMicros(s.refunded_at), zone);
      if (day >= from && day <= to) out.refunded += s.amount;
    }
  }
}

TEST_CASE("read API: totals equal an independent fold of the log over random histories") {
  Stack stack(2);
  const std::vector<std::string> tenants = {stack.NewTenant("A"), stack.NewTenant("B"),
                                            stack.NewTenant("C")};
  const std::vector<std::string> gateways = {"pushinpay", "paradise", "stripe", "mercadopago"};
  std::mt19937_64 random(20261202);
  auto pick = [&](int n) { return static_cast<int>(random() % n); };
  const absl::CivilDay first_day(2026, 11, 1);
  for (int i = 0; i < 150; ++i) {
    const std::string tenant = tenants[pick(3)];
    const std::string gateway = gateways[pick(4)];
    Payment p(tenant, gateway, absl::StrCat("r", i));
    const int64_t amount = 100 * (1 + pick(200));
    const int64_t paid_at =
        LocalMicros(absl::CivilSecond(first_day + pick(14))) + int64_t{pick(24 * 3600)} * 1000000;
    const int64_t refund_at = paid_at + int64_t{1 + pick(5 * 24 * 3600)} * 1000000;
    const int shape = pick(8);
    const bool webhook_first = pick(4) == 0;
    if (!webhook_first) p.Created(amount);
    switch (shape) {
      case 0:  // never paid
        break;
      case 1:  // expired
        p.Observed(pb::OBSERVED_STATUS_EXPIRED, "poll", 0, paid_at);
        break;
      case 2:  // unsigned paid: not a sale until a poll confirms it (half the time)
        p.Observed(pb::OBSERVED_STATUS_PAID, "unsigned", amount, paid_at);
        if (pick(2) == 0) p.Observed(pb::OBSERVED_STATUS_PAID, "poll", amount, paid_at + 5000000);
        break;
      case 3:  // the gateway's retries: the same paid three times
        for (int k = 0; k < 3; ++k) p.Observed(pb::OBSERVED_STATUS_PAID, "signed", amount, paid_at);
        break;
      case 4:  // refunded
        p.Observed(pb::OBSERVED_STATUS_PAID, "signed", amount, paid_at);
        p.Observed(pb::OBSERVED_STATUS_REFUNDED, "signed", amount, refund_at);
        break;
      case 5:  // charged back
        p.Observed(pb::OBSERVED_STATUS_PAID, "poll", amount, paid_at);
        p.Observed(pb::OBSERVED_STATUS_CHARGED_BACK, "signed", amount, refund_at);
        break;
      default:
        p.Observed(pb::OBSERVED_STATUS_PAID, "signed", amount, paid_at);
        break;
    }
    if (webhook_first) p.Created(amount);
    p.AppendTo(*stack.store);
  }
  stack.WaitCaughtUp();
  const std::vector<ledger::RecordedEvent> log = testing::AllEvents(stack.db->url());
  for (const auto& [from, to] : std::vector<std::pair<absl::CivilDay, absl::CivilDay>>{
           {first_day, first_day + 30}, {first_day + 3, first_day + 9}}) {
    for (const std::string& tenant : tenants) {
      Expected expected;
      FoldIndependently(log, tenant, from, to, expected);
      const std::string range =
          absl::StrCat("from=", absl::FormatCivilTime(from), "&to=", absl::FormatCivilTime(to));
      INFO("tenant ", tenant, " ", range);
      auto stats = stack.Get(tenant, "/v1/stats?" + range);
      REQUIRE(stats.status == 200);
      CHECK(Field(stats.body, "sales") == std::to_string(expected.sales));
      CHECK(Field(stats.body, "revenue_minor") == std::to_string(expected.revenue));
      CHECK(Field(stats.body, "refunded_minor") == std::to_string(expected.refunded));
      CHECK(Field(stats.body, "paying_buyers") == std::to_string(expected.buyers.size()));
      int64_t hourly_sales = 0;
      for (size_t at = stats.body.find("\"hour\":"); at != std::string::npos;
           at = stats.body.find("\"hour\":", at + 1)) {
        if (at > stats.body.find("\"currencies\"")) break;
        hourly_sales += std::stoll(Field(stats.body, "sales", at));
      }
      CHECK(hourly_sales == expected.sales);
      auto by_gateway = stack.Get(tenant, "/v1/revenue?group_by=gateway&" + range);
      REQUIRE(by_gateway.status == 200);
      for (const auto& [gateway, minor] : expected.revenue_by_gateway) {
        const size_t at = by_gateway.body.find("\"gateway\":\"" + gateway + "\"");
        REQUIRE(at != std::string::npos);
        CHECK(Field(by_gateway.body, "paid_minor", at) == std::to_string(minor));
      }
      auto by_day = stack.Get(tenant, "/v1/revenue?group_by=day&" + range);
      const size_t totals = by_day.body.find("\"totals\"");
      CHECK(Field(by_day.body, "paid_count", totals) == std::to_string(expected.sales));
      CHECK(Field(by_day.body, "refunded_minor", totals) ==
            (expected.sales == 0 && expected.refunded == 0 ? "<absent>"
                                                           : std::to_string(expected.refunded)));
    }
  }
  // Every payment listed once, with the status the independent fold gives.
  for (const std::string& tenant : tenants) {
    Expected expected;
    FoldIndependently(log, tenant, first_day, first_day, expected);
    int64_t total = 0;
    for (const auto& [status, count] : expected.status_counts) {
      INFO("tenant ", tenant, " status ", status);
      CHECK(ListAll(stack, tenant, 500).size() >= static_cast<size_t>(count));
      auto listed = stack.Get(tenant, "/v1/payments?limit=500&status=" + status);
      CHECK(Count(listed.body, "\"stream_id\":") == static_cast<size_t>(count));
      total += count;
    }
    CHECK(ListAll(stack, tenant, 13).size() == static_cast<size_t>(total));
  }
}

}  // namespace
}  // namespace tally::http
