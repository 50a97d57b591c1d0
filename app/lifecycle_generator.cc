#include "app/lifecycle_generator.h"

#include "absl/strings/str_cat.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tally/tenants/v1/tenant_events.pb.h"

namespace tally::app {
namespace {

namespace pb = payments::v1;

constexpr const char* kGateways[] = {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"};
constexpr const char* kZones[] = {"America/Sao_Paulo", "America/Sao_Paulo", "America/Manaus",
                                  "America/New_York", "Europe/Lisbon"};
constexpr int64_t kBaseUs = 1790000000000000;  // 2026-09-21

ledger::EventData Event(const google::protobuf::Message& message, ledger::v1::Source source,
                        const std::string& correlation) {
  ledger::v1::Metadata metadata;
  metadata.set_correlation_id(correlation);
  metadata.set_source(source);
  return {message.GetDescriptor()->full_name(), message.SerializeAsString(),
          metadata.SerializeAsString()};
}

bool Signed(const std::string& gateway) { return gateway == "stripe" || gateway == "mercadopago"; }

}  // namespace

std::vector<Lifecycle> LifecycleGenerator::Tenants() {
  std::vector<Lifecycle> out;
  for (int t = 0; t < tenants_; ++t) {
    tenants::v1::TenantCreated created;
    created.set_tenant_id(absl::StrCat("tenant-", t));
    created.set_name(absl::StrCat("Seller ", t));
    created.set_time_zone(kZones[t % 5]);
    out.push_back({created.tenant_id(),
                   absl::StrCat("tenant-", created.tenant_id()),
                   {Event(created, ledger::v1::SOURCE_ADMIN, "seed")}});
  }
  return out;
}

Lifecycle LifecycleGenerator::Payment(int64_t n) {
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(random_) < percent;
  };
  const std::string gateway = kGateways[n % 5];
  const int tenant = static_cast<int>(n % tenants_);
  const std::string txid = absl::StrCat("tx", n, "-", random_() % 100000);
  const std::string correlation = absl::StrCat("seed-", n);
  // Spread over 60 days, at any hour, so revenue falls on many local days.
  const int64_t created_us = kBaseUs + static_cast<int64_t>(random_() % (60ull * 86400)) * 1000000;
  const int64_t amount = 990 + static_cast<int64_t>(random_() % 20) * 500;

  Lifecycle life;
  life.tenant_id = absl::StrCat("tenant-", tenant);
  life.stream_id = absl::StrCat("payment-", gateway, "-", txid);
  pb::PaymentCreated created;
  created.set_tenant_id(life.tenant_id);
  created.set_bot_id(absl::StrCat("bot-", tenant, "-", n % 3));
  created.set_customer_id(absl::StrCat("tg-", random_() % 1000000));
  created.set_product_id(absl::StrCat("product-", n % 7));
  created.mutable_amount()->set_amount_minor(amount);
  created.mutable_amount()->set_currency("BRL");
  created.set_gateway(gateway);
  created.set_gateway_transaction_id(txid);
  created.set_payment_id(absl::StrCat("pay-", n));
  // One sale in ten is an upsell and one a downsell, made from an offer after payment n - 1.
  if (n > 0 && (n % 10 == 3 || n % 10 == 7)) {
    created.set_parent_payment_id(absl::StrCat("pay-", n - 1));
    created.set_offer_kind(n % 10 == 3 ? "upsell" : "downsell");
    created.set_offer_id(absl::StrCat("offer-", n % 10));
  }
  created.set_expires_at_s(created_us / 1000000 + 1800);
  created.mutable_tracking()->set_utm_source("facebook");
  created.mutable_tracking()->set_utm_campaign(absl::StrCat("campaign-", n % 11));
  created.mutable_tracking()->set_fbp(absl::StrCat("fb.1.", created_us / 1000, ".", n));
  created.mutable_tracking()->set_pageview_event_id(absl::StrCat("pv-", n));
  life.events.push_back(Event(created, ledger::v1::SOURCE_API, correlation));

  auto observation = [&](pb::ObservedStatus status, const char* word, int64_t at_us) {
    pb::Observation o;
    o.set_status(status);
    o.set_gateway_status(word);
    o.mutable_amount()->set_amount_minor(amount);
    o.mutable_amount()->set_currency("BRL");
    o.set_gateway_transaction_id(txid);
    o.set_occurred_at_us(at_us);
    return o;
  };
  auto webhook = [&](pb::ObservedStatus status, const char* word, int64_t at_us) {
    pb::GatewayWebhookReceived w;
    w.set_gateway(gateway);
    w.set_tenant_id(life.tenant_id);
    w.set_raw_body(absl::StrCat("{\"id\":\"", txid, "\",\"status\":\"", word,
                                "\",\"value\":", amount, ",\"payer_name\":\"Maria da Silva\"}"));
    auto* header = w.add_headers();
    header->set_name("content-type");
    header->set_value("application/json");
    w.set_content_type("application/json");
    w.set_authenticity(Signed(gateway) ? pb::AUTHENTICITY_SIGNED : pb::AUTHENTICITY_UNVERIFIED);
    *w.mutable_observation() = observation(status, word, at_us);
    life.events.push_back(Event(w, ledger::v1::SOURCE_WEBHOOK, correlation));
  };
  auto poll = [&](pb::ObservedStatus status, const char* word, int64_t at_us) {
    pb::GatewayStatusPolled p;
    p.set_gateway(gateway);
    p.set_tenant_id(life.tenant_id);
    p.set_http_status(200);
    p.set_raw_response(absl::StrCat("{\"status\":\"", word, "\"}"));
    *p.mutable_observation() = observation(status, word, at_us);
    life.events.push_back(Event(p, ledger::v1::SOURCE_POLL, correlation));
  };

  if (chance(30)) webhook(pb::OBSERVED_STATUS_PENDING, "pending", created_us + 1000000);
  if (!chance(78)) {
    poll(pb::OBSERVED_STATUS_PENDING, "pending", created_us + 15000000);
    if (chance(50)) webhook(pb::OBSERVED_STATUS_EXPIRED, "expired", created_us + 1800000000);
    return life;
  }
  const int64_t paid_us = created_us + (30 + static_cast<int64_t>(random_() % 600)) * 1000000;
  webhook(pb::OBSERVED_STATUS_PAID, "paid", paid_us);
  if (chance(20)) webhook(pb::OBSERVED_STATUS_PAID, "paid", paid_us);  // duplicate delivery
  if (!Signed(gateway) || chance(30)) poll(pb::OBSERVED_STATUS_PAID, "paid", paid_us);
  pb::DeliveryIssued issued;
  issued.set_token_sha256(absl::StrCat("sha-", n));
  issued.set_channel("telegram");
  life.events.push_back(Event(issued, ledger::v1::SOURCE_REACTOR, correlation));
  pb::DeliveryMessageSent sent;
  sent.set_telegram_message_id(static_cast<int64_t>(random_() % 100000));
  life.events.push_back(Event(sent, ledger::v1::SOURCE_REACTOR, correlation));
  if (chance(70)) {
    life.events.push_back(Event(pb::DeliveryAccessed(), ledger::v1::SOURCE_API, correlation));
    pb::MetaPurchaseRequested requested;
    requested.set_event_id(absl::StrCat("pv-", n));
    life.events.push_back(Event(requested, ledger::v1::SOURCE_REACTOR, correlation));
    if (chance(20)) {
      pb::MetaPurchaseFailed failed;
      failed.set_attempt(1);
      failed.set_error("(#4) Application request limit reached");
      life.events.push_back(Event(failed, ledger::v1::SOURCE_REACTOR, correlation));
    }
    pb::MetaPurchaseSucceeded succeeded;
    succeeded.set_event_id(absl::StrCat("pv-", n));
    succeeded.set_events_received(1);
    succeeded.set_fbtrace_id(absl::StrCat("A", random_() % 1000000));
    life.events.push_back(Event(succeeded, ledger::v1::SOURCE_REACTOR, correlation));
  }
  if (chance(5)) webhook(pb::OBSERVED_STATUS_REFUNDED, "refunded", paid_us + 86400000000);
  return life;
}

}  // namespace tally::app
