// Paradise (PIX only; https://multi.paradisepags.com).
//  - API: `X-API-Key: sk_…`. Create POST /api/v1/transaction.php {amount, description,
//    reference (≤ 50 chars, our payment id), postback_url, customer} -> {status:"success",
//    transaction_id, qr_code, expires_at}; status GET /api/v1/query.php?action=get_transaction
//    &id={transaction_id}. Amounts in cents.
//  - Webhooks: unsigned JSON {transaction_id, external_id (our reference), status, amount};
//    authenticated by the URL token and the optional secret header.
//  - Statuses: "approved" means paid; pending, refunded, chargeback, cancelled, expired,
//    refused.
//  - Polling: no documented limit (the field system polled it every 5 minutes); conservative
//    defaults. Charges carry our reference, so a charge whose create answer was lost can be
//    found by it.

#include "gateways/paradise.h"

#include "absl/strings/str_cat.h"
#include "gateways/internal/gateway_support.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"

namespace tally::gateways {

namespace pb = payments::v1;
using ledger::JsonQuote;

Paradise::Paradise() {
  traits_.name = "paradise";
  traits_.production_base_url = "https://multi.paradisepags.com";
  traits_.finds_charges_by_reference = true;
  traits_.vocabulary = {
      {"pending", pb::OBSERVED_STATUS_PENDING},
      {"waiting_payment", pb::OBSERVED_STATUS_PENDING},
      {"approved", pb::OBSERVED_STATUS_PAID},
      {"paid", pb::OBSERVED_STATUS_PAID},
      {"refunded", pb::OBSERVED_STATUS_REFUNDED},
      {"chargeback", pb::OBSERVED_STATUS_CHARGED_BACK},
      {"cancelled", pb::OBSERVED_STATUS_CANCELLED},
      {"canceled", pb::OBSERVED_STATUS_CANCELLED},
      {"expired", pb::OBSERVED_STATUS_EXPIRED},
      {"refused", pb::OBSERVED_STATUS_REFUSED},
  };
}

absl::StatusOr<ParsedWebhook> Paradise::ParseWebhook(const WebhookRequest& request,
                                                     const GatewayCredentials& creds) const {
  if (absl::Status s = internal::CheckSecretHeader(request, creds); !s.ok()) return s;
  auto fields = PayloadFields::Parse(request.content_type, request.body);
  if (!fields.ok()) return fields.status();
  ParsedWebhook parsed;
  parsed.authenticity = pb::AUTHENTICITY_UNVERIFIED;
  parsed.transaction_id = fields->Text("transaction_id");
  if (parsed.transaction_id.empty()) {
    return absl::InvalidArgumentError("paradise webhook without a transaction id");
  }
  absl::StatusOr<int64_t> amount = fields->MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  const std::string status = fields->Text("status");
  pb::Observation& o = parsed.observation;
  o.set_external_reference(fields->Text("external_id"));
  o.set_gateway_transaction_id(parsed.transaction_id);
  o.set_gateway_status(status);
  o.set_status(NormalizeStatus(status));
  o.mutable_amount()->set_amount_minor(*amount);
  o.mutable_amount()->set_currency("BRL");
  return parsed;
}

absl::StatusOr<CreatedCharge> Paradise::CreateCharge(const ApiAccount& account,
                                                     const ChargeRequest& r,
                                                     const Transport& transport) const {
  if (absl::Status s = internal::CheckChargeRequest(*this, r); !s.ok()) return s;
  const ApiRequest request{
      "POST",
      internal::BaseUrl(account, traits_) + "/api/v1/transaction.php",
      {{"X-API-Key", account.api_key},
       {"Accept", "application/json"},
       {"Content-Type", "application/json"}},
      absl::StrCat(R"({"amount":)", r.amount.amount_minor(), R"(,"description":)",
                   JsonQuote(r.description), R"(,"reference":)", JsonQuote(r.payment_id),
                   R"(,"postback_url":)", JsonQuote(r.notification_url), R"(,"customer":)",
                   internal::JsonCustomer(r), "}")};
  internal::CallResult call = internal::Call(transport, request, "paradise transaction");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  if (f.Text("status") != "success") {
    return absl::InvalidArgumentError(
        absl::StrCat("paradise transaction: ", f.Text("message").substr(0, 300)));
  }
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("transaction_id");
  out.pix_copy_paste = f.Text("qr_code");
  out.expires_at_s = internal::ParseExpiry(f.Text("expires_at"));
  if (out.transaction_id.empty()) return absl::InternalError("paradise: no transaction_id");
  auto amount = f.MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  // "success" is the call's outcome; a new charge waits for payment.
  out.observation = internal::Observe(*this, "pending", *amount, "BRL");
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(r.payment_id);
  return out;
}

PolledStatus Paradise::PollStatus(const ApiAccount& account, const std::string& id,
                                  const std::string& /*transaction_hash*/,
                                  const Transport& transport) const {
  const ApiRequest request{"GET",
                           internal::BaseUrl(account, traits_) +
                               "/api/v1/query.php?action=get_transaction&id=" + PercentEncode(id),
                           {{"X-API-Key", account.api_key}, {"Accept", "application/json"}},
                           ""};
  return internal::Poll(transport, request, "paradise query",
                        [&](const PayloadFields& f) -> absl::StatusOr<pb::Observation> {
                          auto amount = f.MinorUnits("amount");
                          if (!amount.ok()) return amount.status();
                          pb::Observation o =
                              internal::Observe(*this, f.Text("status"), *amount, "BRL");
                          o.set_gateway_transaction_id(f.Text("transaction_id"));
                          o.set_external_reference(f.Text("external_id"));
                          return o;
                        });
}

absl::StatusOr<CreatedCharge> Paradise::FindChargeByReference(const ApiAccount& account,
                                                              const std::string& payment_id,
                                                              const Transport& transport) const {
  const ApiRequest request{"GET",
                           internal::BaseUrl(account, traits_) +
                               "/api/v1/query.php?action=get_transaction_by_reference&reference=" +
                               PercentEncode(payment_id),
                           {{"X-API-Key", account.api_key}, {"Accept", "application/json"}},
                           ""};
  internal::CallResult call = internal::Call(transport, request, "paradise lookup");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_id = f.Text("transaction_id");
  // Only a 404 says "no such reference" (StatusFromAnswer); a 2xx without an id is an answer
  // we cannot read, and must not be taken for "nothing was created".
  if (out.transaction_id.empty()) {
    return absl::UnavailableError("paradise lookup: a 2xx answer without transaction_id");
  }
  out.pix_copy_paste = f.Text("qr_code");
  auto amount = f.MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, f.Text("status"), *amount, "BRL");
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_external_reference(payment_id);
  return out;
}

}  // namespace tally::gateways
