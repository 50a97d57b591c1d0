// Mercado Pago (https://api.mercadopago.com).
//  - API: `Authorization: Bearer <access token>`. Create POST /v1/payments with
//    X-Idempotency-Key (payment_method_id "pix", external_reference = our payment id, a payer
//    e-mail it requires) -> {id, status, transaction_amount (reais), point_of_interaction.
//    transaction_data.qr_code, date_of_expiration}; status GET /v1/payments/{id}. Amounts in
//    reais, converted exactly to cents.
//  - Webhooks: `{action:"payment.updated", type:"payment", data:{id}}` signed with
//    `x-signature: ts=…,v1=…` over the manifest "id:<data.id>;request-id:<x-request-id>;ts:<ts>;"
//    — and carrying no status: the status comes only from a poll (poll_hint). The legacy IPN
//    (`?topic=payment&id=…`, empty body) is unsigned and only a hint to poll.
//  - Statuses: pending | in_process | authorized; approved; rejected; cancelled; refunded;
//    charged_back.
//  - Polling: no documented per-transaction limit; conservative defaults. A PIX expires after
//    24 hours unless date_of_expiration says otherwise. Charges carry our external_reference.

#include "gateways/mercadopago.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateways/internal/gateway_support.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::gateways {

namespace pb = payments::v1;
using ledger::JsonQuote;

MercadoPago::MercadoPago() {
  traits_.name = "mercadopago";
  traits_.production_base_url = "https://api.mercadopago.com";
  traits_.signs_webhooks = true;
  traits_.webhook_empty_bodies = true;
  traits_.finds_charges_by_reference = true;
  traits_.poll.default_expiry_s = 24 * 3600;
  traits_.poll.account_queries_per_second = 10;
  traits_.vocabulary = {
      {"pending", pb::OBSERVED_STATUS_PENDING},
      {"in_process", pb::OBSERVED_STATUS_PENDING},
      {"authorized", pb::OBSERVED_STATUS_PENDING},
      {"approved", pb::OBSERVED_STATUS_PAID},
      {"rejected", pb::OBSERVED_STATUS_REFUSED},
      {"cancelled", pb::OBSERVED_STATUS_CANCELLED},
      {"refunded", pb::OBSERVED_STATUS_REFUNDED},
      {"charged_back", pb::OBSERVED_STATUS_CHARGED_BACK},
  };
}

absl::StatusOr<ParsedWebhook> MercadoPago::ParseWebhook(const WebhookRequest& request,
                                                        const GatewayCredentials& creds) const {
  const auto query = ParseQueryString(request.query_string);
  ParsedWebhook parsed;
  parsed.poll_hint = true;  // notifications say "look", not what changed
  auto topic = query.find("topic");
  if (topic != query.end() && topic->second == "payment") {
    // Legacy IPN: unsigned, only a hint to poll; it can change nothing by itself.
    auto id = query.find("id");
    if (id == query.end() || id->second.empty()) {
      return absl::InvalidArgumentError("topic=payment notification without id");
    }
    parsed.transaction_id = id->second;
    parsed.authenticity = pb::AUTHENTICITY_UNVERIFIED;
    parsed.observation.set_gateway_transaction_id(id->second);
    return parsed;
  }
  auto data_id = query.find("data.id");
  const auto signature = internal::ParseSignatureHeader(HeaderValue(request, "x-signature"));
  auto ts = signature.find("ts");
  auto v1 = signature.find("v1");
  if (ts == signature.end() || v1 == signature.end()) {
    return absl::UnauthenticatedError("x-signature header missing or malformed");
  }
  // An alphanumeric data.id enters the manifest in lowercase.
  const std::string id =
      absl::AsciiStrToLower(data_id == query.end() ? std::string() : data_id->second);
  std::string manifest;
  if (!id.empty()) absl::StrAppend(&manifest, "id:", id, ";");
  const std::string request_id = HeaderValue(request, "x-request-id");
  if (!request_id.empty()) absl::StrAppend(&manifest, "request-id:", request_id, ";");
  absl::StrAppend(&manifest, "ts:", ts->second, ";");
  if (!ConstantTimeEquals(v1->second, HmacSha256Hex(creds.webhook_secret, manifest))) {
    return absl::UnauthenticatedError("Mercado Pago signature does not match");
  }
  auto fields = PayloadFields::Parse(request.content_type, request.body);
  if (!fields.ok()) return fields.status();
  parsed.authenticity = pb::AUTHENTICITY_SIGNED;
  parsed.event_id = fields->Text("id");
  parsed.transaction_id = fields->Text("data.id");
  if (parsed.transaction_id.empty()) parsed.transaction_id = id;
  if (parsed.transaction_id.empty()) {
    return absl::InvalidArgumentError("Mercado Pago notification without data.id");
  }
  pb::Observation& o = parsed.observation;
  o.set_gateway_transaction_id(parsed.transaction_id);
  o.set_gateway_event_id(parsed.event_id);
  o.set_gateway_status(fields->Text("action"));
  return parsed;
}

absl::StatusOr<CreatedCharge> MercadoPago::CreateCharge(const ApiAccount& account,
                                                        const ChargeRequest& r,
                                                        const Transport& transport) const {
  if (absl::Status s = internal::CheckChargeRequest(*this, r); !s.ok()) return s;
  // Mercado Pago requires a payer e-mail; buyers in a Telegram bot often give none.
  const std::string email = r.customer_email.empty()
                                ? absl::StrCat(r.payment_id, "@payer.tally.example")
                                : r.customer_email;
  const int64_t cents = r.amount.amount_minor();
  const ApiRequest request{
      "POST",
      internal::BaseUrl(account, traits_) + "/v1/payments",
      {{"Authorization", "Bearer " + account.api_key},
       {"Content-Type", "application/json"},
       {"X-Idempotency-Key", r.idempotency_key.empty() ? r.payment_id : r.idempotency_key}},
      absl::StrCat(R"({"transaction_amount":)", cents / 100, ".", cents % 100 < 10 ? "0" : "",
                   cents % 100, R"(,"description":)", JsonQuote(r.description),
                   R"(,"payment_method_id":"pix","external_reference":)", JsonQuote(r.payment_id),
                   R"(,"notification_url":)", JsonQuote(r.notification_url),
                   R"(,"payer":{"email":)", JsonQuote(email), "}}")};
  internal::CallResult call = internal::Call(transport, request, "mercadopago payments");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("id");
  out.pix_copy_paste = f.Text("point_of_interaction.transaction_data.qr_code");
  out.expires_at_s = internal::ParseExpiry(f.Text("date_of_expiration"));
  if (out.transaction_id.empty()) return absl::InternalError("mercadopago: no id");
  auto amount = f.DecimalMinorUnits("transaction_amount");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, f.Text("status"), *amount, f.Text("currency_id"));
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(f.Text("external_reference"));
  return out;
}

PolledStatus MercadoPago::PollStatus(const ApiAccount& account, const std::string& id,
                                     const std::string& /*transaction_hash*/,
                                     const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) + "/v1/payments/" + PercentEncode(id),
      {{"Authorization", "Bearer " + account.api_key}},
      ""};
  return internal::Poll(transport, request, "mercadopago payment",
                        [&](const PayloadFields& f) -> absl::StatusOr<pb::Observation> {
                          auto amount = f.DecimalMinorUnits("transaction_amount");
                          if (!amount.ok()) return amount.status();
                          pb::Observation o = internal::Observe(*this, f.Text("status"), *amount,
                                                                f.Text("currency_id"));
                          o.set_gateway_transaction_id(f.Text("id"));
                          o.set_external_reference(f.Text("external_reference"));
                          return o;
                        });
}

absl::StatusOr<CreatedCharge> MercadoPago::FindChargeByReference(const ApiAccount& account,
                                                                 const std::string& payment_id,
                                                                 const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) +
          "/v1/payments/search?external_reference=" + PercentEncode(payment_id),
      {{"Authorization", "Bearer " + account.api_key}},
      ""};
  internal::CallResult call = internal::Call(transport, request, "mercadopago search");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  if (f.ArraySize("results") < 1) return absl::NotFoundError("mercadopago: no such reference");
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("results.0.id");
  if (out.transaction_id.empty()) return absl::InternalError("mercadopago search: no id");
  out.pix_copy_paste = f.Text("results.0.point_of_interaction.transaction_data.qr_code");
  out.expires_at_s = internal::ParseExpiry(f.Text("results.0.date_of_expiration"));
  auto amount = f.DecimalMinorUnits("results.0.transaction_amount");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, f.Text("results.0.status"), *amount,
                                      f.Text("results.0.currency_id"));
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(payment_id);
  return out;
}

}  // namespace tally::gateways
