// Golden tests of revenue_daily: events in, daily rows out (the rebuild path of the fold).

#include <doctest/doctest.h>

#include <map>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "projections/projection.h"
#include "tally/tenants/v1/tenant_events.pb.h"
#include "tests/projections/event_builder.h"

namespace tally::projections {
namespace {

namespace pb = payments::v1;

int64_t Micros(absl::CivilSecond local, const char* zone_name) {
  absl::TimeZone zone;
  REQUIRE(absl::LoadTimeZone(zone_name, &zone));
  return absl::ToUnixMicros(absl::FromCivil(local, zone));
}

// "tenant|bot|gateway|day|currency|origin" ->
// "paid_count paid_minor refunded_count refunded_minor"
std::map<std::string, std::string> Daily(const std::vector<ledger::RecordedEvent>& events) {
  auto fold = NewRevenueProjection()->NewFold();
  for (const auto& event : events) REQUIRE(fold->Apply(event).ok());
  std::map<std::string, std::string> out;
  const std::vector<std::vector<Row>> tables = fold->AllRows();
  for (const Row& row : tables[0]) {
    // The product (row[6]) joins the key when there is one.
    out[*row[0] + "|" + *row[1] + "|" + *row[2] + "|" + *row[3] + "|" + *row[4] + "|" + *row[5] +
        (row[6]->empty() ? "" : "|" + *row[6])] =
        *row[7] + " " + *row[8] + " " + *row[9] + " " + *row[10];
  }
  return out;
}

ledger::RecordedEvent TenantEvent(const std::string& tenant, const std::string& zone) {
  tenants::v1::TenantCreated created;
  created.set_tenant_id(tenant);
  created.set_time_zone(zone);
  ledger::RecordedEvent event;
  event.stream_id = "tenant-" + tenant;
  event.type = "tally.tenants.v1.TenantCreated";
  event.payload = created.SerializeAsString();
  event.position = 1000000;
  return event;
}

ledger::RecordedEvent PaidAt(testing::PaymentEvents& e, int64_t at_us, int64_t amount) {
  pb::GatewayWebhookReceived w;
  w.set_gateway("stripe");
  w.set_tenant_id("tenant-1");
  w.set_authenticity(pb::AUTHENTICITY_SIGNED);
  w.mutable_observation()->set_status(pb::OBSERVED_STATUS_PAID);
  w.mutable_observation()->mutable_amount()->set_amount_minor(amount);
  w.mutable_observation()->mutable_amount()->set_currency("BRL");
  w.mutable_observation()->set_occurred_at_us(at_us);
  return e.Event(w);
}

TEST_CASE("a sale at 23:30 in Sao Paulo counts on that local day, not the UTC day") {
  testing::PaymentEvents e("payment-stripe-late_night");
  e.Created(4990);
  PaidAt(e, Micros(absl::CivilSecond(2026, 11, 20, 23, 30, 0), "America/Sao_Paulo"), 4990);
  auto daily = Daily(e.events());
  CHECK(daily == std::map<std::string, std::string>{
                     {"tenant-1|bot-1|stripe|2026-11-20|BRL|direct|product-1", "1 4990 0 0"}});
}

TEST_CASE("a tenant in a zone with DST gets its local day on both sides of the change") {
  std::vector<ledger::RecordedEvent> events = {TenantEvent("tenant-1", "America/New_York")};
  // 2026-03-08 02:00 EST -> EDT. 23:30 local the evening before (EST, UTC-5) and the evening
  // of the change (EDT, UTC-4): both stay on their local day.
  testing::PaymentEvents a("payment-stripe-dst_a");
  a.Created(1000);
  PaidAt(a, Micros(absl::CivilSecond(2026, 3, 7, 23, 30, 0), "America/New_York"), 1000);
  testing::PaymentEvents b("payment-stripe-dst_b");
  b.Created(2000);
  PaidAt(b, Micros(absl::CivilSecond(2026, 3, 8, 23, 30, 0), "America/New_York"), 2000);
  for (auto* p : {&a, &b}) events.insert(events.end(), p->events().begin(), p->events().end());
  auto daily = Daily(events);
  CHECK(daily == std::map<std::string, std::string>{
                     {"tenant-1|bot-1|stripe|2026-03-07|BRL|direct|product-1", "1 1000 0 0"},
                     {"tenant-1|bot-1|stripe|2026-03-08|BRL|direct|product-1", "1 2000 0 0"}});
}

TEST_CASE("refunds count on the refund day, unconfirmed and unpaid payments do not count") {
  testing::PaymentEvents paid("payment-stripe-r1");
  paid.Created(3000);
  PaidAt(paid, Micros(absl::CivilSecond(2026, 11, 1, 12, 0, 0), "America/Sao_Paulo"), 3000);
  pb::GatewayWebhookReceived refund;
  refund.set_gateway("stripe");
  refund.set_authenticity(pb::AUTHENTICITY_SIGNED);
  refund.mutable_observation()->set_status(pb::OBSERVED_STATUS_REFUNDED);
  refund.mutable_observation()->set_occurred_at_us(
      Micros(absl::CivilSecond(2026, 11, 3, 9, 0, 0), "America/Sao_Paulo"));
  paid.Event(refund);

  testing::PaymentEvents unsigned_paid("payment-pushinpay-u");
  unsigned_paid.Created(500);
  unsigned_paid.Webhook("pushinpay", pb::OBSERVED_STATUS_PAID, 500, /*signed_body=*/false);

  testing::PaymentEvents pending("payment-pushinpay-p");
  pending.Created(700);

  std::vector<ledger::RecordedEvent> events;
  for (auto* p : {&paid, &unsigned_paid, &pending}) {
    events.insert(events.end(), p->events().begin(), p->events().end());
  }
  auto daily = Daily(events);
  CHECK(daily == std::map<std::string, std::string>{
                     {"tenant-1|bot-1|stripe|2026-11-01|BRL|direct|product-1", "1 3000 0 0"},
                     {"tenant-1|bot-1|stripe|2026-11-03|BRL|direct|product-1", "0 0 1 3000"}});
}

TEST_CASE("a payment whose paid is contradicted leaves no revenue row behind") {
  testing::PaymentEvents e("payment-atomopay-x");
  e.Created(990);
  e.Webhook("atomopay", pb::OBSERVED_STATUS_PAID, 990, false);
  e.Poll("atomopay", pb::OBSERVED_STATUS_PAID, 990);  // confirmed: counts
  CHECK(Daily(e.events()).size() == 1);
  testing::PaymentEvents f("payment-atomopay-y");
  f.Created(990);
  f.Webhook("atomopay", pb::OBSERVED_STATUS_PAID, 990, false);
  f.Poll("atomopay", pb::OBSERVED_STATUS_PENDING);
  CHECK(Daily(f.events()).empty());
}

// A charge made from an offer link, paid at `at_us`.
ledger::RecordedEvent OfferSale(testing::PaymentEvents& e, const std::string& kind, int64_t amount,
                                int64_t at_us) {
  pb::PaymentCreated created;
  created.set_tenant_id("tenant-1");
  created.set_bot_id("bot-1");
  created.set_customer_id("customer-1");
  created.set_product_id("product-2");
  created.mutable_amount()->set_amount_minor(amount);
  created.mutable_amount()->set_currency("BRL");
  created.set_gateway("stripe");
  created.set_payment_id("pay-offer-" + kind);
  created.set_parent_payment_id("pay-parent");
  created.set_offer_id("offer-" + kind);
  created.set_offer_kind(kind);
  e.Event(created);
  return PaidAt(e, at_us, amount);
}

TEST_CASE(
    "revenue tells direct, upsell and downsell sales apart, whatever order events arrive in") {
  const int64_t day = Micros(absl::CivilSecond(2026, 11, 10, 15, 0, 0), "America/Sao_Paulo");
  testing::PaymentEvents direct("payment-stripe-direct");
  direct.Created(4990);
  PaidAt(direct, day, 4990);
  testing::PaymentEvents upsell("payment-stripe-up");
  OfferSale(upsell, "upsell", 2990, day);
  testing::PaymentEvents downsell("payment-stripe-down");
  OfferSale(downsell, "downsell", 1495, day);
  // Refunded the next day: the refund is the downsell's too.
  pb::GatewayWebhookReceived refund;
  refund.set_gateway("stripe");
  refund.set_authenticity(pb::AUTHENTICITY_SIGNED);
  refund.mutable_observation()->set_status(pb::OBSERVED_STATUS_REFUNDED);
  refund.mutable_observation()->set_occurred_at_us(day + 86400LL * 1000000);
  downsell.Event(refund);

  std::vector<ledger::RecordedEvent> events;
  for (auto* p : {&direct, &upsell, &downsell}) {
    events.insert(events.end(), p->events().begin(), p->events().end());
  }
  const std::map<std::string, std::string> expected = {
      {"tenant-1|bot-1|stripe|2026-11-10|BRL|direct|product-1", "1 4990 0 0"},
      {"tenant-1|bot-1|stripe|2026-11-10|BRL|upsell|product-2", "1 2990 0 0"},
      {"tenant-1|bot-1|stripe|2026-11-10|BRL|downsell|product-2", "1 1495 0 0"},
      {"tenant-1|bot-1|stripe|2026-11-11|BRL|downsell|product-2", "0 0 1 1495"}};
  CHECK(Daily(events) == expected);

  // The paid webhook before PaymentCreated: counted as direct at first, moved to the upsell
  // once PaymentCreated says what the sale was.
  std::vector<ledger::RecordedEvent> reordered = events;
  std::swap(reordered[2], reordered[3]);  // the upsell's paid webhook, then its PaymentCreated
  CHECK(Daily(reordered) == expected);
}

}  // namespace
}  // namespace tally::projections
