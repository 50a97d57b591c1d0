// What POST /v1/payments decides, without a database or a gateway: fields and limits, the
// payment's identity, the gateway call, the append, the answers.

#include "http/charge_decisions.h"

#include <doctest/doctest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

const gateways::GatewayRegistry& Gateways() {
  static const gateways::GatewayRegistry registry = gateways::StandardGateways();
  return registry;
}

absl::StatusOr<ChargeInput> Parse(const std::string& json) {
  auto fields = gateways::PayloadFields::ParseJson(json);
  REQUIRE(fields.ok());
  return ParseChargeRequest(Gateways(), *fields);
}

TEST_CASE("a charge request's fields, with the buyer kept apart from the payment") {
  auto input = Parse(
      R"({"gateway":"pushinpay","amount_minor":1990,"currency":"brl","description":"Mentoria",)"
      R"("bot_id":"7001","customer":{"id":"tg:42","name":"Ana","email":"ana@example.com"},)"
      R"("product_id":"vip","tracking":{"fbp":"fb.1.1.1","pageview_event_id":"pv_1"}})");
  REQUIRE_MESSAGE(input.ok(), input.status().ToString());
  CHECK(input->payment.gateway() == "pushinpay");
  CHECK(input->payment.amount().amount_minor() == 1990);
  CHECK(input->payment.amount().currency() == "BRL");
  CHECK(input->payment.customer_id() == "tg:42");
  CHECK(input->payment.tracking().pageview_event_id() == "pv_1");
  CHECK(input->customer_email == "ana@example.com");
  CHECK(input->payment.SerializeAsString().find("ana@example.com") == std::string::npos);
}

TEST_CASE("bad charge requests name the field") {
  struct Case {
    const char* json;
    const char* names;
  };
  const Case cases[] = {
      {R"({"amount_minor":1})", "gateway"},
      {R"({"gateway":"paypal","amount_minor":1})", "paypal"},
      {R"({"gateway":"stripe","amount_minor":0})", "amount_minor"},
      {R"({"gateway":"stripe","amount_minor":-5})", "amount_minor"},
      {R"({"gateway":"stripe","amount_minor":1.5})", "amount_minor"},
      {R"({"gateway":"stripe","amount_minor":1,"currency":"R$"})", "currency"},
      {R"({"gateway":"paradise","amount_minor":1,"currency":"USD"})", "BRL"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    auto input = Parse(c.json);
    REQUIRE_FALSE(input.ok());
    CHECK(input.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(input.status().message(), c.names));
  }
  CHECK(absl::StrContains(
      Parse(absl::StrCat(R"({"gateway":"stripe","amount_minor":1,"description":")",
                         std::string(201, 'd'), R"("})"))
          .status()
          .message(),
      "description is longer than 200 bytes"));
  CHECK(Parse(R"({"gateway":"stripe","amount_minor":1,"currency":"USD"})").ok());
}

TEST_CASE("an Idempotency-Key makes the payment id and append key per tenant") {
  auto a = IdentifyCharge("ten_1", "order-7");
  auto again = IdentifyCharge("ten_1", "order-7");
  auto other_tenant = IdentifyCharge("ten_2", "order-7");
  REQUIRE(a.ok());
  CHECK(a->payment_id == again->payment_id);
  CHECK(a->append_key == again->append_key);
  CHECK(a->payment_id != other_tenant->payment_id);
  CHECK(absl::StartsWith(a->append_key, "charge:"));
  auto none = IdentifyCharge("ten_1", "");
  REQUIRE(none.ok());
  CHECK(none->append_key.empty());
  CHECK(none->payment_id != IdentifyCharge("ten_1", "")->payment_id);
  CHECK(IdentifyCharge("ten_1", std::string(201, 'k')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(IdentifyCharge("ten_1", "with space").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the gateway call and the recorded payment") {
  auto input = Parse(R"({"gateway":"atomopay","amount_minor":990,"customer":{"name":"Ana"}})");
  REQUIRE(input.ok());
  input->payment.set_payment_id("pay_1");
  input->payment.set_tenant_id("ten_1");
  gateways::ChargeRequest charge = BuildGatewayCharge(*input, "https://pay.example.com/", "tok");
  CHECK(charge.notification_url == "https://pay.example.com/webhooks/atomopay/tok");
  CHECK(charge.idempotency_key == "pay_1");
  CHECK(charge.description == "Pedido");
  CHECK(charge.customer_name == "Ana");

  gateways::CreatedCharge created;
  created.transaction_id = "hash_1";
  created.transaction_hash = "hash_1";
  created.pix_copy_paste = "000201...";
  created.observation.set_status(pb::OBSERVED_STATUS_PENDING);
  pb::PaymentCreated payment = gateways::WithGatewayAnswer(input->payment, created);
  ledger::AppendRequest append =
      gateways::RecordCharge(payment, ledger::v1::Metadata(), "charge:abc");
  CHECK(append.stream_id == "payment-atomopay-hash_1");
  CHECK(append.tenant_key == "ten_1");
  CHECK(append.idempotency_key == "charge:abc");
  REQUIRE(append.events.size() == 1);
  pb::PaymentCreated recorded;
  REQUIRE(recorded.ParseFromString(append.events[0].payload));
  CHECK(recorded.pix_copy_paste() == "000201...");
  CHECK(recorded.gateway_transaction_hash() == "hash_1");

  HttpResponse answer = CreatedResponse(payment, append.stream_id, 7, "req_1");
  CHECK(answer.status == 201);
  CHECK(absl::StrContains(answer.body, R"("payment_id":"pay_1")"));
}

TEST_CASE("replays answer the recorded payment, or 422 for another body") {
  pb::PaymentCreated payment;
  payment.set_payment_id("pay_1");
  payment.set_request_sha256("abc");
  ledger::RecordedEvent recorded;
  recorded.stream_id = "payment-stripe-pi_1";
  recorded.position = 3;
  recorded.payload = payment.SerializeAsString();
  HttpResponse same = ReplayResponse(recorded, "abc", "req_2");
  CHECK(same.status == 200);
  CHECK(same.headers ==
        std::vector<std::pair<std::string, std::string>>{{"Idempotent-Replayed", "true"}});
  CHECK(ReplayResponse(recorded, "other", "req_2").status == 422);
  recorded.payload = "\xff\xff";
  CHECK(ReplayResponse(recorded, "abc", "req_2").status == 500);
}

TEST_CASE("gateway errors map to stable codes") {
  CHECK(GatewayErrorResponse(absl::DeadlineExceededError("slow"), "paradise").status == 504);
  CHECK(GatewayErrorResponse(absl::PermissionDeniedError("key"), "paradise").status == 502);
  CHECK(absl::StrContains(GatewayErrorResponse(absl::PermissionDeniedError("key"), "p").body,
                          "gateway_credentials_rejected"));
  CHECK(absl::StrContains(GatewayErrorResponse(absl::UnavailableError("5xx"), "p").body,
                          "gateway_unavailable"));
}

}  // namespace
}  // namespace tally::http
