// Atomopay (PIX only; https://api.atomopay.com.br).
//  - API: auth by the query parameter `api_token`. Create POST /api/public/v1/transactions
//    (HTTP 201) -> {id, hash, payment_status, pix{pix_qr_code, expiration_date}}; status
//    GET /api/public/v1/transactions/{hash or id}. Amounts in cents.
//  - Webhooks: unsigned JSON; id and hash both identify the transaction and the hash is
//    preferred (it is what status queries take); status from `payment_status`, else `status`.
//    Authenticated by the URL token and the optional secret header.
//  - Statuses: paid; pending | waiting_payment; refused | refunded | expired | canceled.
//  - Polling: no documented limit; conservative defaults. Seed 001: for weeks it sent no
//    webhooks at all, so reconciliation is the only thing that sees its payments. Charges carry
//    our external_reference, so a charge whose create answer was lost can be found by it.

#include "gateways/atomopay.h"

#include "absl/strings/str_cat.h"
#include "gateways/internal/gateway_support.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"

namespace tally::gateways {

namespace pb = payments::v1;
using ledger::JsonQuote;

namespace {
// Webhooks and answers name the status in `payment_status`, falling back to `status`.
std::string StatusWordOf(const PayloadFields& f) {
  std::string status = f.Text("payment_status");
  return status.empty() ? f.Text("status") : status;
}
}  // namespace

Atomopay::Atomopay() {
  traits_.name = "atomopay";
  traits_.production_base_url = "https://api.atomopay.com.br";
  traits_.finds_charges_by_reference = true;
  traits_.vocabulary = {
      {"pending", pb::OBSERVED_STATUS_PENDING},    {"waiting_payment", pb::OBSERVED_STATUS_PENDING},
      {"paid", pb::OBSERVED_STATUS_PAID},          {"refused", pb::OBSERVED_STATUS_REFUSED},
      {"refunded", pb::OBSERVED_STATUS_REFUNDED},  {"expired", pb::OBSERVED_STATUS_EXPIRED},
      {"canceled", pb::OBSERVED_STATUS_CANCELLED},
  };
}

absl::StatusOr<ParsedWebhook> Atomopay::ParseWebhook(const WebhookRequest& request,
                                                     const GatewayCredentials& creds) const {
  if (absl::Status s = internal::CheckSecretHeader(request, creds); !s.ok()) return s;
  auto fields = PayloadFields::Parse(request.content_type, request.body);
  if (!fields.ok()) return fields.status();
  ParsedWebhook parsed;
  parsed.authenticity = pb::AUTHENTICITY_UNVERIFIED;
  const std::string id = fields->Text("id");
  const std::string hash = fields->Text("hash");
  parsed.transaction_id = hash.empty() ? id : hash;
  if (parsed.transaction_id.empty()) {
    return absl::InvalidArgumentError("atomopay webhook without a transaction id");
  }
  absl::StatusOr<int64_t> amount = fields->MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  const std::string status = StatusWordOf(*fields);
  pb::Observation& o = parsed.observation;
  o.set_gateway_transaction_hash(hash);
  o.set_gateway_transaction_id(parsed.transaction_id);
  o.set_gateway_status(status);
  o.set_status(NormalizeStatus(status));
  o.mutable_amount()->set_amount_minor(*amount);
  o.mutable_amount()->set_currency("BRL");
  return parsed;
}

absl::StatusOr<CreatedCharge> Atomopay::CreateCharge(const ApiAccount& account,
                                                     const ChargeRequest& r,
                                                     const Transport& transport) const {
  if (absl::Status s = internal::CheckChargeRequest(*this, r); !s.ok()) return s;
  const ApiRequest request{
      "POST",
      internal::BaseUrl(account, traits_) +
          "/api/public/v1/transactions?api_token=" + PercentEncode(account.api_key),
      {{"Accept", "application/json"}, {"Content-Type", "application/json"}},
      absl::StrCat(R"({"amount":)", r.amount.amount_minor(),
                   R"(,"payment_method":"pix","transaction_origin":"api","postback_url":)",
                   JsonQuote(r.notification_url), R"(,"customer":)", internal::JsonCustomer(r),
                   R"(,"cart":[{"title":)", JsonQuote(r.description), R"(,"price":)",
                   r.amount.amount_minor(),
                   R"(,"quantity":1,"operation_type":1,"tangible":false}])",
                   R"(,"external_reference":)", JsonQuote(r.payment_id), "}")};
  internal::CallResult call = internal::Call(transport, request, "atomopay transactions");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_hash = f.Text("hash");
  out.transaction_id = out.transaction_hash.empty() ? f.Text("id") : out.transaction_hash;
  out.pix_copy_paste = f.Text("pix.pix_qr_code");
  out.expires_at_s = internal::ParseExpiry(f.Text("pix.expiration_date"));
  if (out.transaction_id.empty()) return absl::InternalError("atomopay: no hash or id");
  auto amount = f.MinorUnits("amount");
  if (!amount.ok()) return amount.status();
  out.observation = internal::Observe(*this, StatusWordOf(f), *amount, "BRL");
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_gateway_transaction_hash(out.transaction_hash);
  return out;
}

PolledStatus Atomopay::PollStatus(const ApiAccount& account, const std::string& id,
                                  const std::string& hash, const Transport& transport) const {
  const std::string key = hash.empty() ? id : hash;
  const ApiRequest request{"GET",
                           internal::BaseUrl(account, traits_) + "/api/public/v1/transactions/" +
                               PercentEncode(key) + "?api_token=" + PercentEncode(account.api_key),
                           {{"Accept", "application/json"}},
                           ""};
  return internal::Poll(transport, request, "atomopay transaction",
                        [&](const PayloadFields& f) -> absl::StatusOr<pb::Observation> {
                          auto amount = f.MinorUnits("amount");
                          if (!amount.ok()) return amount.status();
                          pb::Observation o =
                              internal::Observe(*this, StatusWordOf(f), *amount, "BRL");
                          const std::string got_hash = f.Text("hash");
                          o.set_gateway_transaction_hash(got_hash);
                          o.set_gateway_transaction_id(got_hash.empty() ? f.Text("id") : got_hash);
                          return o;
                        });
}

absl::StatusOr<CreatedCharge> Atomopay::FindChargeByReference(const ApiAccount& account,
                                                              const std::string& payment_id,
                                                              const Transport& transport) const {
  const ApiRequest request{
      "GET",
      internal::BaseUrl(account, traits_) + "/api/public/v1/transactions?external_reference=" +
          PercentEncode(payment_id) + "&api_token=" + PercentEncode(account.api_key),
      {{"Accept", "application/json"}},
      ""};
  internal::CallResult call = internal::Call(transport, request, "atomopay lookup");
  if (!call.fields.ok()) return call.fields.status();
  const PayloadFields& f = *call.fields;
  if (f.ArraySize("data") < 1) return absl::NotFoundError("atomopay: no such reference");
  CreatedCharge out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.transaction_hash = f.Text("data.0.hash");
  out.transaction_id = out.transaction_hash.empty() ? f.Text("data.0.id") : out.transaction_hash;
  if (out.transaction_id.empty()) return absl::InternalError("atomopay lookup: no hash or id");
  out.pix_copy_paste = f.Text("data.0.pix.pix_qr_code");
  out.expires_at_s = internal::ParseExpiry(f.Text("data.0.pix.expiration_date"));
  auto amount = f.MinorUnits("data.0.amount");
  if (!amount.ok()) return amount.status();
  std::string status = f.Text("data.0.payment_status");
  if (status.empty()) status = f.Text("data.0.status");
  out.observation = internal::Observe(*this, status, *amount, "BRL");
  out.observation.set_gateway_transaction_id(out.transaction_id);
  out.observation.set_gateway_transaction_hash(out.transaction_hash);
  out.observation.set_external_reference(payment_id);
  return out;
}

}  // namespace tally::gateways
