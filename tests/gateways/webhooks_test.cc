// Each gateway's webhook parsing and authenticity against its documented webhook examples. Expected
// signatures were computed independently (Python's hmac) from the documented signing schemes.

#include <doctest/doctest.h>

#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"

namespace tally::gateways {
namespace {

namespace pb = payments::v1;

const GatewayRegistry& Gateways() {
  static const GatewayRegistry gateways = StandardGateways();
  return gateways;
}

constexpr char kStripeBody[] =
    R"({"id":"evt_3MtwBwLkdIwHu7ix28a3tqPa","object":"event","api_version":"2022-11-15","created":1680064028,"data":{"object":{"id":"pi_3MtwBwLkdIwHu7ix28a3tqPa","object":"payment_intent","amount":2000,"amount_received":2000,"currency":"brl","status":"succeeded"}},"type":"payment_intent.succeeded"})";
constexpr char kStripeV1[] = "29d4cb7f2d6fc27f54777b6fe23ead7a0b4e98d4cc98aebd013c9119fd870add";

WebhookRequest StripeRequest(const std::string& signature, int64_t now_s = 1680064100) {
  WebhookRequest r;
  r.headers = {{"stripe-signature", signature}, {"content-type", "application/json"}};
  r.content_type = "application/json";
  r.body = kStripeBody;
  r.now_s = now_s;
  return r;
}

TEST_CASE("HMAC and constant-time compare") {
  CHECK(HmacSha256Hex("key", "The quick brown fox jumps over the lazy dog") ==
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");  // as Python hmac
                                                                              // computes it
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST_CASE("Stripe: a valid signature, any of several v1, within 300 s") {
  const Gateway* stripe = Gateways().Find("stripe");
  REQUIRE(stripe != nullptr);
  auto parsed =
      stripe->ParseWebhook(StripeRequest(std::string("t=1680064028,v1=") + std::string(64, '0') +
                                         ",v1=" + kStripeV1 + ",v0=deadbeef"),
                           {"whsec_test_secret"});
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  CHECK(parsed->authenticity == pb::AUTHENTICITY_SIGNED);
  CHECK(parsed->transaction_id == "pi_3MtwBwLkdIwHu7ix28a3tqPa");
  CHECK(parsed->event_id == "evt_3MtwBwLkdIwHu7ix28a3tqPa");
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_PAID);
  CHECK(parsed->observation.amount().amount_minor() == 2000);
  CHECK(parsed->observation.amount().currency() == "BRL");
  CHECK(parsed->observation.occurred_at_us() == 1680064028000000);
}

TEST_CASE("Stripe: wrong secret, tampered body, stale or missing timestamp are refused") {
  const Gateway* stripe = Gateways().Find("stripe");
  const std::string good = std::string("t=1680064028,v1=") + kStripeV1;
  CHECK(stripe->ParseWebhook(StripeRequest(good), {"whsec_other"}).status().code() ==
        absl::StatusCode::kUnauthenticated);
  WebhookRequest tampered = StripeRequest(good);
  tampered.body[tampered.body.find("2000")] = '9';
  CHECK(stripe->ParseWebhook(tampered, {"whsec_test_secret"}).status().code() ==
        absl::StatusCode::kUnauthenticated);
  auto stale = stripe->ParseWebhook(StripeRequest(good, 1680064028 + 301), {"whsec_test_secret"});
  CHECK(stale.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(std::string(stale.status().message()).find("300 s") != std::string::npos);
  CHECK(stripe->ParseWebhook(StripeRequest(std::string("v1=") + kStripeV1), {"whsec_test_secret"})
            .status()
            .code() == absl::StatusCode::kUnauthenticated);
  CHECK(stripe->ParseWebhook(StripeRequest(""), {"whsec_test_secret"}).status().code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Mercado Pago: the x-signature manifest with data.id from the query string") {
  WebhookRequest r;
  r.query_string = "data.id=123456&type=payment";
  r.headers = {
      {"x-signature",
       "ts=1704908010,v1=31dbc5cd206ed364535e29be5ac67e763d0a384947bf6a2fe29ae09c9ff247ab"},
      {"x-request-id", "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"}};
  r.content_type = "application/json";
  r.body =
      R"({"action":"payment.updated","api_version":"v1","data":{"id":"123456"},"date_created":"2021-11-01T02:02:02Z","id":"123456","live_mode":false,"type":"payment","user_id":724484980})";
  const Gateway* mp = Gateways().Find("mercadopago");
  auto parsed = mp->ParseWebhook(r, {"your_secret"});
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  CHECK(parsed->authenticity == pb::AUTHENTICITY_SIGNED);
  CHECK(parsed->transaction_id == "123456");
  CHECK(parsed->poll_hint);
  CHECK(mp->ParseWebhook(r, {"other_secret"}).status().code() ==
        absl::StatusCode::kUnauthenticated);
  r.headers[1].second = "another-request";
  CHECK(mp->ParseWebhook(r, {"your_secret"}).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Mercado Pago: legacy topic=payment is an unsigned hint to poll") {
  WebhookRequest r;
  r.query_string = "topic=payment&id=987654";
  auto parsed = Gateways().Find("mercadopago")->ParseWebhook(r, {"your_secret"});
  REQUIRE(parsed.ok());
  CHECK(parsed->poll_hint);
  CHECK(parsed->authenticity == pb::AUTHENTICITY_UNVERIFIED);
  CHECK(parsed->transaction_id == "987654");
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_UNSPECIFIED);
  CHECK(parsed->observation.carries_no_status());
}

TEST_CASE("PushinPay: JSON or form, ids lowercased, secret header checked") {
  const Gateway* pushinpay = Gateways().Find("pushinpay");
  WebhookRequest json;
  json.content_type = "application/json";
  json.body = R"({"id":"9C1B7E2A-0001-4E5F-8A6B-00000000002A","status":"paid","value":1990})";
  json.headers = {{"x-webhook-secret", "s3cret"}};
  auto parsed = pushinpay->ParseWebhook(json, {"s3cret"});
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  CHECK(parsed->transaction_id == "9c1b7e2a-0001-4e5f-8a6b-00000000002a");
  CHECK(parsed->authenticity == pb::AUTHENTICITY_UNVERIFIED);
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_PAID);
  CHECK(parsed->observation.amount().amount_minor() == 1990);

  WebhookRequest form;
  form.content_type = "application/x-www-form-urlencoded";
  form.body = "id=9C1B7E2A-0001-4E5F-8A6B-00000000002A&status=canceled&value=1990";
  form.headers = {{"X-Webhook-Secret", "s3cret"}};
  auto from_form = pushinpay->ParseWebhook(form, {"s3cret"});
  REQUIRE(from_form.ok());
  CHECK(from_form->transaction_id == parsed->transaction_id);
  CHECK(from_form->observation.status() == pb::OBSERVED_STATUS_CANCELLED);

  form.headers = {{"x-webhook-secret", "wrong"}};
  CHECK(pushinpay->ParseWebhook(form, {"s3cret"}).status().code() ==
        absl::StatusCode::kUnauthenticated);
  json.body = "{not json";
  CHECK(pushinpay->ParseWebhook(json, {"s3cret"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  json.body = R"({"status":"paid"})";
  CHECK(pushinpay->ParseWebhook(json, {"s3cret"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Paradise: approved is paid, external_id is our reference") {
  WebhookRequest r;
  r.content_type = "application/json";
  r.body = R"({"transaction_id":"TX-77","external_id":"pay-42","status":"approved","amount":4990})";
  auto parsed = Gateways().Find("paradise")->ParseWebhook(r, {});
  REQUIRE(parsed.ok());
  CHECK(parsed->transaction_id == "TX-77");
  CHECK(parsed->observation.external_reference() == "pay-42");
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_PAID);
}

TEST_CASE("Atomopay: hash preferred over id, payment_status falling back to status") {
  WebhookRequest r;
  r.content_type = "application/json";
  r.body = R"({"id":123,"hash":"h4sh","status":"refused","amount":990})";
  auto parsed = Gateways().Find("atomopay")->ParseWebhook(r, {});
  REQUIRE(parsed.ok());
  CHECK(parsed->transaction_id == "h4sh");
  CHECK(parsed->observation.gateway_transaction_hash() == "h4sh");
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_REFUSED);
  r.body = R"({"id":123,"payment_status":"paid","status":"pending","amount":990})";
  parsed = Gateways().Find("atomopay")->ParseWebhook(r, {});
  REQUIRE(parsed.ok());
  CHECK(parsed->transaction_id == "123");
  CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_PAID);
}

TEST_CASE("unknown gateways are not in the registry") {
  CHECK(Gateways().Find("paypal") == nullptr);
}

TEST_CASE("decimal reais to cents, exactly") {
  CHECK(*DecimalToMinorUnits("19.9") == 1990);
  CHECK(*DecimalToMinorUnits("19.90") == 1990);
  CHECK(*DecimalToMinorUnits("20") == 2000);
  CHECK(*DecimalToMinorUnits("0.01") == 1);
  CHECK(*DecimalToMinorUnits("19.900000") == 1990);
  CHECK_FALSE(DecimalToMinorUnits("19.999").ok());
  CHECK_FALSE(DecimalToMinorUnits("-1").ok());
  CHECK_FALSE(DecimalToMinorUnits("1e3").ok());
  CHECK_FALSE(DecimalToMinorUnits("").ok());
}

}  // namespace
}  // namespace tally::gateways
