// What POST /webhooks/<gateway>/<token> decides, without a database: admission, authenticity,
// and the append it asks for.

#include "http/webhook_decisions.h"

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

const gateways::GatewayRegistry& Gateways() {
  static const gateways::GatewayRegistry registry = gateways::StandardGateways();
  return registry;
}

HttpRequest Post(const std::string& body, const std::string& content_type = "application/json") {
  HttpRequest r;
  r.method = "POST";
  r.target = "/webhooks/x/token";
  r.headers = {{"Content-Type", content_type}};
  r.body = body;
  r.remote_address = "203.0.113.9";
  return r;
}

TEST_CASE("admission: unknown gateway 404, GET 405, wrong content type 415") {
  auto unknown = AdmitWebhook(Gateways(), Post("{}"), "paypal");
  REQUIRE(std::holds_alternative<WebhookRejection>(unknown));
  CHECK(std::get<WebhookRejection>(unknown).response.status == 404);
  CHECK_FALSE(std::get<WebhookRejection>(unknown).record);

  HttpRequest get = Post("{}");
  get.method = "GET";
  auto wrong_method = AdmitWebhook(Gateways(), get, "stripe");
  REQUIRE(std::holds_alternative<WebhookRejection>(wrong_method));
  CHECK(std::get<WebhookRejection>(wrong_method).response.status == 405);

  auto form =
      AdmitWebhook(Gateways(), Post("id=1", "application/x-www-form-urlencoded"), "paradise");
  REQUIRE(std::holds_alternative<WebhookRejection>(form));
  CHECK(std::get<WebhookRejection>(form).response.status == 415);

  auto pushinpay_form =
      AdmitWebhook(Gateways(), Post("id=1", "application/x-www-form-urlencoded"), "pushinpay");
  REQUIRE(std::holds_alternative<const gateways::Gateway*>(pushinpay_form));
  CHECK(std::get<const gateways::Gateway*>(pushinpay_form)->name() == "pushinpay");
}

TEST_CASE("an authentic unsigned webhook becomes one GatewayWebhookReceived, secret not kept") {
  const gateways::Gateway& pushinpay = *Gateways().Find("pushinpay");
  HttpRequest r = Post(R"({"id":"9C29870C-AAAA","status":"paid","value":1990})");
  r.headers.emplace_back("X-Webhook-Secret", "s3cret");
  r.headers.emplace_back("Authorization", "Bearer nope");
  const tenants::ResolvedTenant tenant{"ten_1", {"s3cret"}};
  auto decided = DecideWebhook(pushinpay, r, tenant, 1'700'000'000'000'000, "req_1");
  REQUIRE(std::holds_alternative<WebhookAppend>(decided));
  const WebhookAppend& w = std::get<WebhookAppend>(decided);
  CHECK(w.append.tenant_key == "ten_1");
  CHECK(w.append.stream_id == "payment-pushinpay-9c29870c-aaaa");
  CHECK(w.append.idempotency_key ==
        absl::StrCat("webhook:pushinpay:body:", gateways::Sha256Hex(r.body)));
  CHECK(w.authenticity == pb::AUTHENTICITY_UNVERIFIED);
  REQUIRE(w.append.events.size() == 1);
  CHECK(w.append.events[0].type == "tally.payments.v1.GatewayWebhookReceived");
  pb::GatewayWebhookReceived received;
  REQUIRE(received.ParseFromString(w.append.events[0].payload));
  CHECK(received.raw_body() == r.body);
  CHECK(received.tenant_id() == "ten_1");
  CHECK(received.observation().status() == pb::OBSERVED_STATUS_PAID);
  for (const auto& header : received.headers()) {
    CHECK(header.name() != "x-webhook-secret");
    CHECK(header.name() != "authorization");
  }
  ledger::v1::Metadata metadata;
  REQUIRE(metadata.ParseFromString(w.append.events[0].metadata));
  CHECK(metadata.request_id() == "req_1");
}

TEST_CASE("a wrong secret is a recorded 401, an unparsable body a 400") {
  const gateways::Gateway& paradise = *Gateways().Find("paradise");
  HttpRequest r = Post(R"({"transaction_id":"1","status":"approved","amount":1990})");
  r.headers.emplace_back("X-Webhook-Secret", "wrong");
  auto forged = DecideWebhook(paradise, r, {"ten_1", {"right"}}, 0, "req_2");
  REQUIRE(std::holds_alternative<WebhookRejection>(forged));
  CHECK(std::get<WebhookRejection>(forged).response.status == 401);
  CHECK(std::get<WebhookRejection>(forged).record);
  CHECK_FALSE(std::get<WebhookRejection>(forged).reason.empty());

  auto garbage = DecideWebhook(paradise, Post("{not json"), {"ten_1", {""}}, 0, "req_3");
  REQUIRE(std::holds_alternative<WebhookRejection>(garbage));
  CHECK(std::get<WebhookRejection>(garbage).response.status == 400);
  CHECK_FALSE(std::get<WebhookRejection>(garbage).record);
}

TEST_CASE("a signed webhook is keyed by the gateway's event id") {
  const gateways::Gateway& stripe = *Gateways().Find("stripe");
  const std::string body =
      R"({"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,)"
      R"("data":{"object":{"id":"pi_1","amount":1990,"amount_received":1990,"currency":"brl"}}})";
  HttpRequest r = Post(body);
  r.headers.emplace_back(
      "Stripe-Signature",
      absl::StrCat("t=1700000000,v1=", gateways::HmacSha256Hex("whsec", "1700000000." + body)));
  auto decided = DecideWebhook(stripe, r, {"ten_1", {"whsec"}}, 1'700'000'010'000'000, "req_4");
  REQUIRE(std::holds_alternative<WebhookAppend>(decided));
  CHECK(std::get<WebhookAppend>(decided).append.idempotency_key == "webhook:stripe:evt_1");
  CHECK(std::get<WebhookAppend>(decided).authenticity == pb::AUTHENTICITY_SIGNED);
  // The same request long after its timestamp is refused (replay protection).
  auto stale = DecideWebhook(stripe, r, {"ten_1", {"whsec"}}, 1'700'001'000'000'000, "req_5");
  REQUIRE(std::holds_alternative<WebhookRejection>(stale));
  CHECK(std::get<WebhookRejection>(stale).response.status == 401);
}

TEST_CASE("an event id that makes no valid key falls back to the body's hash") {
  CHECK(WebhookIdempotencyKey("stripe", std::string(1000, 'x'), "b") ==
        absl::StrCat("webhook:stripe:body:", gateways::Sha256Hex("b")));
  CHECK(WebhookIdempotencyKey("stripe", "", "b") ==
        absl::StrCat("webhook:stripe:body:", gateways::Sha256Hex("b")));
}

}  // namespace
}  // namespace tally::http
