// PushinPay (PIX only; https://api.pushinpay.com.br).
//  - API: `Authorization: Bearer <key>`. Create POST /api/pix/cashIn {value, webhook_url,
//    split_rules} -> {id, qr_code, qr_code_base64, status}; status GET /api/transactions/{id}.
//    Amounts in cents.
//  - Webhooks: unsigned JSON or form bodies {id, status, value}; authenticated by the URL token
//    and the optional secret header. Ids are UUIDs whose letter case varies between calls, so
//    they are lowercased everywhere.
//  - Statuses: created | paid | canceled | expired (refunded on a devolução).
//  - Polling: its docs discourage it; a second-hand note says at most one status query per
//    minute per transaction, and a PIX expires after about 15 minutes. It cannot look a charge
//    up by our reference.

#include "gateways/pushinpay.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateways/internal/gateway_support.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"

namespace tally::gateways {

namespace pb = payments::v1;

PushinPay::PushinPay() {
  traits_.name = "pushinpay";
  traits_.production_base_url = "https://api.pushinpay.com.br";
  traits_.webhook_form_bodies = true;
  traits_.poll.min_interval_per_transaction_s = 60;
  traits_.poll.default_expiry_s = 15 * 60;
  traits_.vocabulary = {
      {"created", pb::OBSERVED_STATUS_PENDING},    {"paid", pb::OBSERVED_STATUS_PAID},
      {"canceled", pb::OBSERVED_STATUS_CANCELLED}, {"expired", pb::OBSERVED_STATUS_EXPIRED},
      {"refunded", pb::OBSERVED_STATUS_REFUNDED},
  };
}

absl::StatusOr<ParsedWebhook> PushinPay::ParseWebhook(const WebhookRequest& request,
                                                      const GatewayCredentials& creds) const {
  if (absl::Status s = internal::CheckSecretHeader(request, creds); !s.ok()) return s;
  auto fields = PayloadFields::Parse(request.content_type, request.body);
  if (!fields.ok()) return fields.status();
  ParsedWebhook parsed;
  parsed.authenticity = pb::AUTHENTICITY_UNVERIFIED;
  parsed.transaction_id = absl::AsciiStrToLower(fields->Text("id"));
  if (parsed.transaction_id.empty()) {
    return absl::InvalidArgumentError("pushinpay webhook without a transaction id");
  }
  absl::StatusOr<int64_t> amount = fields->MinorUnits("value");
  if (!amount.ok()) return amount.status();
  const std::string status = fields->Text("status");
  pb::Observation& o = parsed.observation;
  o.set_gateway_transaction_id(parsed.transaction_id);
  o.set_gateway_status(status);
  o.set_status(NormalizeStatus(status));
  o.mutable_amount()->set_amount_minor(*amount);
  o.mutable_amount()->set_currency("BRL");
  return parsed;
}

absl::StatusOr<CreatedCharge> PushinPay::CreateCharge(const ApiAccount& account,
                                                      const ChargeRequest& r,
                                                      const Transport& transport) const {
  if (absl::Status s = internal::CheckChargeRequest(*this, r); !s.ok()) return s;
  const ApiRequest request{
      "POST",
      internal::BaseUrl(account, traits_) + "/api/pix/cashIn",
      {{"Authorization", "Bearer " + account.api_key},
       {"Accept", "application/json"},
       {"Content-Type", "application/json"}},
      absl::StrCat(R"({"value":)", r.amount.amount_minor(), R"(,"webhook_url":)",
                   ledger::JsonQuote(r.notification_url), R"(,"split_rules":[]})")};
  internal::CallResult call = internal::Call(transport, request, "pushinpay cashIn");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = absl::AsciiStrToLower(f.Text("id"));
  out.pix_copy_paste = f.Text("qr_code");
  if (out.transaction_id.empty()) return absl::InternalError("pushinpay cashIn: no id");
  auto amount = f.MinorUnits("value");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, f.Text("status"), *amount, "BRL");
  out.observation.set_gateway_transaction_id(out.transaction_id);
  return out;
}

PolledStatus PushinPay::PollStatus(const ApiAccount& account, const std::string& id,
                                   const std::string& /*transaction_hash*/,
                                   const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) + "/api/transactions/" + PercentEncode(id),
      {{"Authorization", "Bearer " + account.api_key}, {"Accept", "application/json"}},
      ""};
  return internal::Poll(transport, request, "pushinpay transaction",
                        [&](const PayloadFields& f) -> absl::StatusOr<pb::Observation> {
                          auto amount = f.MinorUnits("value");
                          if (!amount.ok()) return amount.status();
                          pb::Observation o =
                              internal::Observe(*this, f.Text("status"), *amount, "BRL");
                          o.set_gateway_transaction_id(absl::AsciiStrToLower(f.Text("id")));
                          return o;
                        });
}

}  // namespace tally::gateways
