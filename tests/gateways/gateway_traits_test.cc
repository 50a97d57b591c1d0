// The registry and what each gateway declares about itself: vocabulary, content types,
// currencies, poll policy.

#include <doctest/doctest.h>

#include "gateways/registry.h"

namespace tally::gateways {
namespace {

namespace pb = payments::v1;

TEST_CASE("the registry lists the five gateways and finds each by name") {
  const GatewayRegistry gateways = StandardGateways();
  CHECK(gateways.Names() ==
        std::vector<std::string>{"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"});
  for (const std::string& name : gateways.Names()) {
    const Gateway* gateway = gateways.Find(name);
    REQUIRE(gateway != nullptr);
    CHECK(gateway->name() == name);
    CHECK(absl::string_view(gateway->traits().production_base_url).substr(0, 8) == "https://");
    CHECK(gateway->traits().poll.min_interval_per_transaction_s >= 15);
    CHECK(gateway->traits().poll.account_queries_per_second > 0);
    CHECK(gateway->traits().poll.account_concurrency > 0);
  }
  CHECK(gateways.Find("paypal") == nullptr);
  CHECK(gateways.Find("PushinPay") == nullptr);  // names are lowercase, as in URLs
}

TEST_CASE("each gateway's status vocabulary") {
  const GatewayRegistry gateways = StandardGateways();
  struct Case {
    const char* gateway;
    const char* word;
    pb::ObservedStatus status;
  };
  const Case cases[] = {
      {"paradise", "approved", pb::OBSERVED_STATUS_PAID},
      {"paradise", "APPROVED", pb::OBSERVED_STATUS_PAID},
      {"paradise", " approved ", pb::OBSERVED_STATUS_PAID},
      {"mercadopago", "approved", pb::OBSERVED_STATUS_PAID},
      {"mercadopago", "rejected", pb::OBSERVED_STATUS_REFUSED},
      {"mercadopago", "charged_back", pb::OBSERVED_STATUS_CHARGED_BACK},
      {"atomopay", "refused", pb::OBSERVED_STATUS_REFUSED},
      {"atomopay", "pending", pb::OBSERVED_STATUS_PENDING},
      {"pushinpay", "canceled", pb::OBSERVED_STATUS_CANCELLED},
      {"pushinpay", "expired", pb::OBSERVED_STATUS_EXPIRED},
      {"pushinpay", "created", pb::OBSERVED_STATUS_PENDING},
      {"stripe", "payment_intent.canceled", pb::OBSERVED_STATUS_CANCELLED},
      {"stripe", "succeeded", pb::OBSERVED_STATUS_PAID},
      // A word is the gateway's own: Paradise's "approved" is not PushinPay's.
      {"pushinpay", "approved", pb::OBSERVED_STATUS_UNSPECIFIED},
      {"paradise", "on_hold", pb::OBSERVED_STATUS_UNSPECIFIED},
      {"paypal", "paid", pb::OBSERVED_STATUS_UNSPECIFIED},
  };
  for (const Case& c : cases) {
    INFO(c.gateway, " ", c.word);
    CHECK(gateways.NormalizeStatus(c.gateway, c.word) == c.status);
  }
}

TEST_CASE("webhook content types: JSON everywhere, forms for PushinPay, empty for Mercado Pago") {
  const GatewayRegistry gateways = StandardGateways();
  for (const std::string& name : gateways.Names()) {
    INFO(name);
    CHECK(
        gateways.Find(name)->CheckWebhookContentType("application/json; charset=utf-8", "{}").ok());
    CHECK(gateways.Find(name)->CheckWebhookContentType("text/plain", "{}").code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(gateways.Find("pushinpay")
            ->CheckWebhookContentType("application/x-www-form-urlencoded", "id=1")
            .ok());
  CHECK_FALSE(gateways.Find("paradise")
                  ->CheckWebhookContentType("application/x-www-form-urlencoded", "id=1")
                  .ok());
  CHECK(gateways.Find("mercadopago")->CheckWebhookContentType("", "").ok());
  CHECK_FALSE(gateways.Find("mercadopago")->CheckWebhookContentType("", "x").ok());
  CHECK_FALSE(gateways.Find("stripe")->CheckWebhookContentType("", "").ok());
}

TEST_CASE("currencies: the PIX-only gateways take BRL, Stripe what the account supports") {
  const GatewayRegistry gateways = StandardGateways();
  for (const char* name : {"pushinpay", "paradise", "atomopay", "mercadopago"}) {
    INFO(name);
    CHECK(gateways.Find(name)->CheckCurrency("brl").ok());
    CHECK(gateways.Find(name)->CheckCurrency("USD").code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(gateways.Find("stripe")->CheckCurrency("USD").ok());
}

TEST_CASE("poll policy: PushinPay at most once a minute per transaction") {
  const GatewayRegistry gateways = StandardGateways();
  CHECK(gateways.Find("pushinpay")->traits().poll.min_interval_per_transaction_s == 60);
  CHECK(gateways.Find("pushinpay")->traits().poll.default_expiry_s == 15 * 60);
  CHECK_FALSE(gateways.Find("pushinpay")->traits().finds_charges_by_reference);
  CHECK(gateways.Find("paradise")->traits().finds_charges_by_reference);
  CHECK(gateways.Find("stripe")->traits().signs_webhooks);
  CHECK_FALSE(gateways.Find("atomopay")->traits().signs_webhooks);
}

TEST_CASE("the payment stream of a gateway transaction") {
  CHECK(PaymentStreamId("pushinpay", "9c29870c-9f69-4bb6-90d3-2dce9453bb45") ==
        "payment-pushinpay-9c29870c-9f69-4bb6-90d3-2dce9453bb45");
}

}  // namespace
}  // namespace tally::gateways
