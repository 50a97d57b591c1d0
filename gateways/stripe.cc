// Stripe (https://api.stripe.com), PIX through PaymentIntents.
//  - API: `Authorization: Bearer <secret key>`, form bodies, Idempotency-Key. Create POST
//    /v1/payment_intents confirmed with payment_method_data[type]=pix and metadata[payment_id]
//    = our payment id -> {id, status, amount, currency, next_action.pix_display_qr_code.{data,
//    expires_at}}; status GET /v1/payment_intents/{id}. Amounts in minor units, any currency
//    the account supports.
//  - Webhooks: events signed with `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of "<t>.<body>",
//    300 s tolerance); they arrive out of order and more than once (deduplicated by event id).
//  - Statuses: PaymentIntent statuses and the event types that change a paid charge.
//  - Polling: 100 requests/s live, 25/s in test mode; a PIX expires after 86,400 s by default.
//    Charges carry our payment id in their metadata.

#include "gateways/stripe.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/internal/gateway_support.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"

namespace tally::gateways {

namespace pb = payments::v1;

namespace {
constexpr int64_t kToleranceSeconds = 300;
}  // namespace

Stripe::Stripe() {
  traits_.name = "stripe";
  traits_.production_base_url = "https://api.stripe.com";
  traits_.signs_webhooks = true;
  traits_.currencies = {};
  traits_.finds_charges_by_reference = true;
  traits_.poll.account_queries_per_second = 20;
  traits_.poll.account_concurrency = 8;
  traits_.poll.default_expiry_s = 86400;
  traits_.vocabulary = {
      {"requires_payment_method", pb::OBSERVED_STATUS_PENDING},
      {"requires_confirmation", pb::OBSERVED_STATUS_PENDING},
      {"requires_action", pb::OBSERVED_STATUS_PENDING},
      {"processing", pb::OBSERVED_STATUS_PENDING},
      {"succeeded", pb::OBSERVED_STATUS_PAID},
      {"payment_intent.succeeded", pb::OBSERVED_STATUS_PAID},
      {"invoice.paid", pb::OBSERVED_STATUS_PAID},
      {"canceled", pb::OBSERVED_STATUS_CANCELLED},
      {"payment_intent.canceled", pb::OBSERVED_STATUS_CANCELLED},
      {"payment_intent.payment_failed", pb::OBSERVED_STATUS_REFUSED},
      {"charge.refunded", pb::OBSERVED_STATUS_REFUNDED},
      {"charge.dispute.created", pb::OBSERVED_STATUS_CHARGED_BACK},
  };
}

absl::StatusOr<ParsedWebhook> Stripe::ParseWebhook(const WebhookRequest& request,
                                                   const GatewayCredentials& creds) const {
  const auto signature = internal::ParseSignatureHeader(HeaderValue(request, "stripe-signature"));
  auto t = signature.find("t");
  int64_t timestamp = 0;
  if (t == signature.end() || !absl::SimpleAtoi(t->second, &timestamp) ||
      signature.count("v1") == 0) {
    return absl::UnauthenticatedError("Stripe-Signature header missing or malformed");
  }
  if (std::llabs(request.now_s - timestamp) > kToleranceSeconds) {
    return absl::UnauthenticatedError("Stripe-Signature timestamp outside the 300 s tolerance");
  }
  const std::string expected =
      HmacSha256Hex(creds.webhook_secret, absl::StrCat(t->second, ".", request.body));
  bool matched = false;
  auto [begin, end] = signature.equal_range("v1");
  for (auto it = begin; it != end; ++it) matched |= ConstantTimeEquals(it->second, expected);
  if (!matched) return absl::UnauthenticatedError("Stripe signature does not match");

  auto fields = PayloadFields::Parse(request.content_type, request.body);
  if (!fields.ok()) return fields.status();
  ParsedWebhook parsed;
  parsed.authenticity = pb::AUTHENTICITY_SIGNED;
  parsed.event_id = fields->Text("id");
  const std::string type = fields->Text("type");
  std::string tx = fields->Text("data.object.payment_intent");
  if (tx.empty() || absl::StartsWith(type, "payment_intent.")) tx = fields->Text("data.object.id");
  if (tx.empty() || type.empty()) {
    return absl::InvalidArgumentError("Stripe event without type or data.object.id");
  }
  parsed.transaction_id = tx;
  pb::Observation& o = parsed.observation;
  o.set_gateway_status(type);
  o.set_status(NormalizeStatus(type));
  // A subscription's own events (customer.subscription.deleted, …) name no payment's status:
  // they are recorded in the subscription object's stream for the subscriptions reactor.
  if (absl::StartsWith(type, "customer.subscription.")) o.set_carries_no_status(true);
  o.set_gateway_transaction_id(tx);
  o.set_gateway_event_id(parsed.event_id);
  absl::StatusOr<int64_t> amount = 0;
  if (absl::StartsWith(type, "payment_intent.")) {
    amount = fields->MinorUnits("data.object.amount_received");
    if (amount.ok() && *amount == 0) amount = fields->MinorUnits("data.object.amount");
  } else if (type == "charge.refunded") {
    amount = fields->MinorUnits("data.object.amount_refunded");
  } else if (absl::StartsWith(type, "invoice.")) {
    amount = fields->MinorUnits("data.object.amount_paid");
  } else {
    amount = fields->MinorUnits("data.object.amount");
  }
  if (!amount.ok()) return amount.status();
  const std::string currency = fields->Text("data.object.currency");
  if (*amount != 0 || !currency.empty()) {
    o.mutable_amount()->set_amount_minor(*amount);
    o.mutable_amount()->set_currency(absl::AsciiStrToUpper(currency.empty() ? "BRL" : currency));
  }
  int64_t created = 0;
  if (absl::SimpleAtoi(fields->Text("created"), &created)) o.set_occurred_at_us(created * 1000000);
  return parsed;
}

absl::StatusOr<CreatedCharge> Stripe::CreateCharge(const ApiAccount& account,
                                                   const ChargeRequest& r,
                                                   const Transport& transport) const {
  if (absl::Status s = internal::CheckChargeRequest(*this, r); !s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> form = {
      {"amount", std::to_string(r.amount.amount_minor())},
      {"currency", absl::AsciiStrToLower(r.amount.currency())},
      {"payment_method_types[]", "pix"},
      {"payment_method_data[type]", "pix"},
      {"confirm", "true"},
      {"description", r.description},
      {"metadata[payment_id]", r.payment_id},
  };
  if (!r.customer_email.empty()) form.emplace_back("receipt_email", r.customer_email);
  const ApiRequest request{
      "POST",
      internal::BaseUrl(account, traits_) + "/v1/payment_intents",
      {{"Authorization", "Bearer " + account.api_key},
       {"Content-Type", "application/x-www-form-urlencoded"},
       {"Idempotency-Key", r.idempotency_key.empty() ? r.payment_id : r.idempotency_key}},
      FormEncode(form)};
  internal::CallResult call = internal::Call(transport, request, "stripe payment_intents");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("id");
  out.pix_copy_paste = f.Text("next_action.pix_display_qr_code.data");
  out.expires_at_s = internal::ParseExpiry(f.Text("next_action.pix_display_qr_code.expires_at"));
  if (out.transaction_id.empty()) return absl::InternalError("stripe: no id");
  auto amount = f.MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, f.Text("status"), *amount, f.Text("currency"));
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(f.Text("metadata.payment_id"));
  return out;
}

PolledStatus Stripe::PollStatus(const ApiAccount& account, const std::string& id,
                                const std::string& /*transaction_hash*/,
                                const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) + "/v1/payment_intents/" + PercentEncode(id),
      {{"Authorization", "Bearer " + account.api_key}},
      ""};
  return internal::Poll(transport, request, "stripe payment_intent",
                        [&](const PayloadFields& f) -> absl::StatusOr<pb::Observation> {
                          auto amount = f.MinorUnits("amount_received");
                          if (amount.ok() && *amount == 0) amount = f.MinorUnits("amount");
                          if (!amount.ok()) return amount.status();
                          pb::Observation o = internal::Observe(*this, f.Text("status"), *amount,
                                                                f.Text("currency"));
                          o.set_gateway_transaction_id(f.Text("id"));
                          o.set_external_reference(f.Text("metadata.payment_id"));
                          return o;
                        });
}

absl::StatusOr<CreatedCharge> Stripe::FindChargeByReference(const ApiAccount& account,
                                                            const std::string& payment_id,
                                                            const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) + "/v1/payment_intents/search?query=" +
          PercentEncode(absl::StrCat("metadata['payment_id']:'", payment_id, "'")),
      {{"Authorization", "Bearer " + account.api_key}},
      ""};
  internal::CallResult call = internal::Call(transport, request, "stripe search");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  if (f.ArraySize("data") < 1) return absl::NotFoundError("stripe: no such reference");
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("data.0.id");
  if (out.transaction_id.empty()) return absl::InternalError("stripe search: no id");
  out.pix_copy_paste = f.Text("data.0.next_action.pix_display_qr_code.data");
  out.expires_at_s =
      internal::ParseExpiry(f.Text("data.0.next_action.pix_display_qr_code.expires_at"));
  auto amount = f.MinorUnits("data.0.amount");
  if (!amount.ok()) return amount.status();
  out.observation =
      internal::Observe(*this, f.Text("data.0.status"), *amount, f.Text("data.0.currency"));
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(payment_id);
  return out;
}

}  // namespace tally::gateways
