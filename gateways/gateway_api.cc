// The five gateways' charge and status APIs. Shapes follow each gateway's public API reference;
// the sandbox (gateways/sandbox/) serves the same shapes and tests/gateways/ checks both ends.

#include "gateways/gateway_api.h"

#include <chrono>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gateways/payload_fields.h"
#include "gateways/status_vocabulary.h"
#include "ledger/event_json.h"

namespace tally::gateways {
namespace {

namespace pb = payments::v1;
using ledger::JsonQuote;

std::string BaseUrl(const ApiAccount& account, absl::string_view gateway) {
  std::string base = account.base_url.empty() ? DefaultBaseUrl(gateway) : account.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

// An answer's status mapped onto ours; OK for 2xx. The gateway's message is kept (bounded)
// because it is what an operator needs ("invalid amount"), and answers carry no secrets.
absl::Status StatusFromAnswer(const ApiResponse& response, absl::string_view what) {
  if (response.status >= 200 && response.status < 300) return absl::OkStatus();
  std::string detail = response.body.substr(0, 300);
  const std::string message = absl::StrCat(what, ": HTTP ", response.status, ": ", detail);
  if (response.status == 401 || response.status == 403) {
    return absl::PermissionDeniedError(message);
  }
  if (response.status == 404) return absl::NotFoundError(message);
  if (response.status == 429) return absl::ResourceExhaustedError(message);
  if (response.status >= 500) return absl::UnavailableError(message);
  return absl::InvalidArgumentError(message);
}

absl::Status RequireBrl(const ChargeRequest& request, absl::string_view gateway) {
  if (absl::AsciiStrToUpper(request.amount.currency()) != "BRL") {
    return absl::InvalidArgumentError(
        absl::StrCat(gateway, " takes PIX in BRL only, not ", request.amount.currency()));
  }
  if (request.amount.amount_minor() <= 0) {
    return absl::InvalidArgumentError("the amount must be positive");
  }
  return absl::OkStatus();
}

// RFC 3339 ("2026-11-23T10:00:00.000-04:00", "...Z") to epoch seconds; 0 when absent or not
// understood (the expiry is advisory: the gateway's own status is what counts).
int64_t ParseExpiry(const std::string& text) {
  if (text.empty()) return 0;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) return seconds;
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", text, &t, &error) ||
      absl::ParseTime("%Y-%m-%d %H:%M:%S", text, absl::UTCTimeZone(), &t, &error)) {
    return absl::ToUnixSeconds(t);
  }
  return 0;
}

void SetObservation(pb::Observation& o, absl::string_view gateway, const std::string& status,
                    int64_t amount_minor, const std::string& currency) {
  o.set_gateway_status(status);
  o.set_status(NormalizeStatus(gateway, status));
  if (amount_minor > 0) {
    o.mutable_amount()->set_amount_minor(amount_minor);
    o.mutable_amount()->set_currency(absl::AsciiStrToUpper(currency.empty() ? "BRL" : currency));
  }
}

// Sends and times the call; fills http_status/raw_response; returns the parsed 2xx answer.
absl::StatusOr<PayloadFields> Call(const Transport& transport, const ApiRequest& request,
                                   absl::string_view what, int& http_status, std::string& raw,
                                   int64_t* latency_us = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ApiResponse> response = transport(request);
  if (latency_us) {
    *latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  }
  if (!response.ok()) return response.status();
  http_status = response->status;
  raw = response->body;
  if (absl::Status s = StatusFromAnswer(*response, what); !s.ok()) return s;
  auto fields = PayloadFields::ParseJson(raw);
  if (!fields.ok()) {
    return absl::InternalError(absl::StrCat(what, ": answer is not a JSON object"));
  }
  return fields;
}

// Sends a status request; `read` fills the observation from a 2xx answer. Every outcome
// (transport error, HTTP error, unreadable answer, observation) lands in the PolledStatus.
PolledStatus Poll(const Transport& transport, const ApiRequest& request, absl::string_view what,
                  const std::function<absl::Status(const PayloadFields&, pb::Observation&)>& read) {
  PolledStatus out;
  auto f = Call(transport, request, what, out.http_status, out.raw_response, &out.latency_us);
  out.status = f.ok() ? read(*f, out.observation) : f.status();
  return out;
}

std::string JsonCustomer(const ChargeRequest& r) {
  return absl::StrCat(R"({"name":)", JsonQuote(r.customer_name), R"(,"email":)",
                      JsonQuote(r.customer_email), R"(,"document":)",
                      JsonQuote(r.customer_document), "}");
}

class PushinPayApi final : public GatewayApi {
 public:
  std::string name() const override { return "pushinpay"; }
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account, const ChargeRequest& r,
                                             const Transport& transport) const override {
    if (absl::Status s = RequireBrl(r, name()); !s.ok()) return s;
    ApiRequest request{"POST",
                       BaseUrl(account, name()) + "/api/pix/cashIn",
                       {{"Authorization", "Bearer " + account.api_key},
                        {"Accept", "application/json"},
                        {"Content-Type", "application/json"}},
                       absl::StrCat(R"({"value":)", r.amount.amount_minor(), R"(,"webhook_url":)",
                                    JsonQuote(r.notification_url), R"(,"split_rules":[]})")};
    CreatedCharge out;
    auto f = Call(transport, request, "pushinpay cashIn", out.http_status, out.raw_response);
    if (!f.ok()) return f.status();
    out.transaction_id = absl::AsciiStrToLower(f->Text("id"));
    out.pix_copy_paste = f->Text("qr_code");
    if (out.transaction_id.empty()) return absl::InternalError("pushinpay cashIn: no id");
    auto amount = f->MinorUnits("value");
    if (!amount.ok()) return amount.status();
    SetObservation(out.observation, name(), f->Text("status"), *amount, "BRL");
    out.observation.set_gateway_transaction_id(out.transaction_id);
    return out;
  }
  PolledStatus PollStatus(const ApiAccount& account, const std::string& id, const std::string&,
                          const Transport& transport) const override {
    ApiRequest request{
        "GET",
        BaseUrl(account, name()) + "/api/transactions/" + PercentEncode(id),
        {{"Authorization", "Bearer " + account.api_key}, {"Accept", "application/json"}},
        ""};
    return Poll(transport, request, "pushinpay transaction",
                [&](const PayloadFields& f, pb::Observation& o) -> absl::Status {
                  auto amount = f.MinorUnits("value");
                  if (!amount.ok()) return amount.status();
                  SetObservation(o, name(), f.Text("status"), *amount, "BRL");
                  o.set_gateway_transaction_id(absl::AsciiStrToLower(f.Text("id")));
                  return absl::OkStatus();
                });
  }
};

class ParadiseApi final : public GatewayApi {
 public:
  std::string name() const override { return "paradise"; }
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account, const ChargeRequest& r,
                                             const Transport& transport) const override {
    if (absl::Status s = RequireBrl(r, name()); !s.ok()) return s;
    ApiRequest request{
        "POST",
        BaseUrl(account, name()) + "/api/v1/transaction.php",
        {{"X-API-Key", account.api_key},
         {"Accept", "application/json"},
         {"Content-Type", "application/json"}},
        absl::StrCat(R"({"amount":)", r.amount.amount_minor(), R"(,"description":)",
                     JsonQuote(r.description), R"(,"reference":)", JsonQuote(r.payment_id),
                     R"(,"postback_url":)", JsonQuote(r.notification_url), R"(,"customer":)",
                     JsonCustomer(r), "}")};
    CreatedCharge out;
    auto f = Call(transport, request, "paradise transaction", out.http_status, out.raw_response);
    if (!f.ok()) return f.status();
    if (f->Text("status") != "success") {
      return absl::InvalidArgumentError(
          absl::StrCat("paradise transaction: ", f->Text("message").substr(0, 300)));
    }
    out.transaction_id = f->Text("transaction_id");
    out.pix_copy_paste = f->Text("qr_code");
    out.expires_at_s = ParseExpiry(f->Text("expires_at"));
    if (out.transaction_id.empty()) return absl::InternalError("paradise: no transaction_id");
    auto amount = f->MinorUnits("amount");
    if (!amount.ok()) return amount.status();
    // "success" is the call's outcome; a new charge waits for payment.
    SetObservation(out.observation, name(), "pending", *amount, "BRL");
    out.observation.set_gateway_transaction_id(out.transaction_id);
    out.observation.set_external_reference(r.payment_id);
    return out;
  }
  PolledStatus PollStatus(const ApiAccount& account, const std::string& id, const std::string&,
                          const Transport& transport) const override {
    ApiRequest request{"GET",
                       BaseUrl(account, name()) +
                           "/api/v1/query.php?action=get_transaction&id=" + PercentEncode(id),
                       {{"X-API-Key", account.api_key}, {"Accept", "application/json"}},
                       ""};
    return Poll(transport, request, "paradise query",
                [&](const PayloadFields& f, pb::Observation& o) -> absl::Status {
                  auto amount = f.MinorUnits("amount");
                  if (!amount.ok()) return amount.status();
                  SetObservation(o, name(), f.Text("status"), *amount, "BRL");
                  o.set_gateway_transaction_id(f.Text("transaction_id"));
                  o.set_external_reference(f.Text("external_id"));
                  return absl::OkStatus();
                });
  }
};

class AtomopayApi final : public GatewayApi {
 public:
  std::string name() const override { return "atomopay"; }
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account, const ChargeRequest& r,
                                             const Transport& transport) const override {
    if (absl::Status s = RequireBrl(r, name()); !s.ok()) return s;
    ApiRequest request{
        "POST",
        BaseUrl(account, name()) +
            "/api/public/v1/transactions?api_token=" + PercentEncode(account.api_key),
        {{"Accept", "application/json"}, {"Content-Type", "application/json"}},
        absl::StrCat(R"({"amount":)", r.amount.amount_minor(),
                     R"(,"payment_method":"pix","transaction_origin":"api","postback_url":)",
                     JsonQuote(r.notification_url), R"(,"customer":)", JsonCustomer(r),
                     R"(,"cart":[{"title":)", JsonQuote(r.description), R"(,"price":)",
                     r.amount.amount_minor(),
                     R"(,"quantity":1,"operation_type":1,"tangible":false}])",
                     R"(,"external_reference":)", JsonQuote(r.payment_id), "}")};
    CreatedCharge out;
    auto f = Call(transport, request, "atomopay transactions", out.http_status, out.raw_response);
    if (!f.ok()) return f.status();
    out.transaction_hash = f->Text("hash");
    out.transaction_id = out.transaction_hash.empty() ? f->Text("id") : out.transaction_hash;
    out.pix_copy_paste = f->Text("pix.pix_qr_code");
    out.expires_at_s = ParseExpiry(f->Text("pix.expiration_date"));
    if (out.transaction_id.empty()) return absl::InternalError("atomopay: no hash or id");
    auto amount = f->MinorUnits("amount");
    if (!amount.ok()) return amount.status();
    std::string status = f->Text("payment_status");
    if (status.empty()) status = f->Text("status");
    SetObservation(out.observation, name(), status, *amount, "BRL");
    out.observation.set_gateway_transaction_id(out.transaction_id);
    out.observation.set_gateway_transaction_hash(out.transaction_hash);
    return out;
  }
  PolledStatus PollStatus(const ApiAccount& account, const std::string& id, const std::string& hash,
                          const Transport& transport) const override {
    const std::string key = hash.empty() ? id : hash;
    ApiRequest request{"GET",
                       BaseUrl(account, name()) + "/api/public/v1/transactions/" +
                           PercentEncode(key) + "?api_token=" + PercentEncode(account.api_key),
                       {{"Accept", "application/json"}},
                       ""};
    return Poll(transport, request, "atomopay transaction",
                [&](const PayloadFields& f, pb::Observation& o) -> absl::Status {
                  auto amount = f.MinorUnits("amount");
                  if (!amount.ok()) return amount.status();
                  std::string status = f.Text("payment_status");
                  if (status.empty()) status = f.Text("status");
                  SetObservation(o, name(), status, *amount, "BRL");
                  const std::string got_hash = f.Text("hash");
                  o.set_gateway_transaction_hash(got_hash);
                  o.set_gateway_transaction_id(got_hash.empty() ? f.Text("id") : got_hash);
                  return absl::OkStatus();
                });
  }
};

class MercadoPagoApi final : public GatewayApi {
 public:
  std::string name() const override { return "mercadopago"; }
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account, const ChargeRequest& r,
                                             const Transport& transport) const override {
    if (absl::Status s = RequireBrl(r, name()); !s.ok()) return s;
    // Mercado Pago requires a payer e-mail; buyers in a Telegram bot often give none.
    const std::string email = r.customer_email.empty()
                                  ? absl::StrCat(r.payment_id, "@payer.tally.example")
                                  : r.customer_email;
    const int64_t cents = r.amount.amount_minor();
    ApiRequest request{
        "POST",
        BaseUrl(account, name()) + "/v1/payments",
        {{"Authorization", "Bearer " + account.api_key},
         {"Content-Type", "application/json"},
         {"X-Idempotency-Key", r.idempotency_key.empty() ? r.payment_id : r.idempotency_key}},
        absl::StrCat(R"({"transaction_amount":)", cents / 100, ".", cents % 100 < 10 ? "0" : "",
                     cents % 100, R"(,"description":)", JsonQuote(r.description),
                     R"(,"payment_method_id":"pix","external_reference":)", JsonQuote(r.payment_id),
                     R"(,"notification_url":)", JsonQuote(r.notification_url),
                     R"(,"payer":{"email":)", JsonQuote(email), "}}")};
    CreatedCharge out;
    auto f = Call(transport, request, "mercadopago payments", out.http_status, out.raw_response);
    if (!f.ok()) return f.status();
    out.transaction_id = f->Text("id");
    out.pix_copy_paste = f->Text("point_of_interaction.transaction_data.qr_code");
    out.expires_at_s = ParseExpiry(f->Text("date_of_expiration"));
    if (out.transaction_id.empty()) return absl::InternalError("mercadopago: no id");
    auto amount = f->DecimalMinorUnits("transaction_amount");
    if (!amount.ok()) return amount.status();
    SetObservation(out.observation, name(), f->Text("status"), *amount, f->Text("currency_id"));
    out.observation.set_gateway_transaction_id(out.transaction_id);
    out.observation.set_external_reference(f->Text("external_reference"));
    return out;
  }
  PolledStatus PollStatus(const ApiAccount& account, const std::string& id, const std::string&,
                          const Transport& transport) const override {
    ApiRequest request{"GET",
                       BaseUrl(account, name()) + "/v1/payments/" + PercentEncode(id),
                       {{"Authorization", "Bearer " + account.api_key}},
                       ""};
    return Poll(transport, request, "mercadopago payment",
                [&](const PayloadFields& f, pb::Observation& o) -> absl::Status {
                  auto amount = f.DecimalMinorUnits("transaction_amount");
                  if (!amount.ok()) return amount.status();
                  SetObservation(o, name(), f.Text("status"), *amount, f.Text("currency_id"));
                  o.set_gateway_transaction_id(f.Text("id"));
                  o.set_external_reference(f.Text("external_reference"));
                  return absl::OkStatus();
                });
  }
};

class StripeApi final : public GatewayApi {
 public:
  std::string name() const override { return "stripe"; }
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account, const ChargeRequest& r,
                                             const Transport& transport) const override {
    if (r.amount.amount_minor() <= 0) {
      return absl::InvalidArgumentError("the amount must be positive");
    }
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
    ApiRequest request{
        "POST",
        BaseUrl(account, name()) + "/v1/payment_intents",
        {{"Authorization", "Bearer " + account.api_key},
         {"Content-Type", "application/x-www-form-urlencoded"},
         {"Idempotency-Key", r.idempotency_key.empty() ? r.payment_id : r.idempotency_key}},
        FormEncode(form)};
    CreatedCharge out;
    auto f = Call(transport, request, "stripe payment_intents", out.http_status, out.raw_response);
    if (!f.ok()) return f.status();
    out.transaction_id = f->Text("id");
    out.pix_copy_paste = f->Text("next_action.pix_display_qr_code.data");
    out.expires_at_s = ParseExpiry(f->Text("next_action.pix_display_qr_code.expires_at"));
    if (out.transaction_id.empty()) return absl::InternalError("stripe: no id");
    auto amount = f->MinorUnits("amount");
    if (!amount.ok()) return amount.status();
    SetObservation(out.observation, name(), f->Text("status"), *amount, f->Text("currency"));
    out.observation.set_gateway_transaction_id(out.transaction_id);
    out.observation.set_external_reference(f->Text("metadata.payment_id"));
    return out;
  }
  PolledStatus PollStatus(const ApiAccount& account, const std::string& id, const std::string&,
                          const Transport& transport) const override {
    ApiRequest request{"GET",
                       BaseUrl(account, name()) + "/v1/payment_intents/" + PercentEncode(id),
                       {{"Authorization", "Bearer " + account.api_key}},
                       ""};
    return Poll(transport, request, "stripe payment_intent",
                [&](const PayloadFields& f, pb::Observation& o) -> absl::Status {
                  auto amount = f.MinorUnits("amount_received");
                  if (amount.ok() && *amount == 0) amount = f.MinorUnits("amount");
                  if (!amount.ok()) return amount.status();
                  SetObservation(o, name(), f.Text("status"), *amount, f.Text("currency"));
                  o.set_gateway_transaction_id(f.Text("id"));
                  o.set_external_reference(f.Text("metadata.payment_id"));
                  return absl::OkStatus();
                });
  }
};

}  // namespace

const GatewayApi* FindGatewayApi(absl::string_view gateway) {
  static const PushinPayApi pushinpay;
  static const ParadiseApi paradise;
  static const AtomopayApi atomopay;
  static const MercadoPagoApi mercadopago;
  static const StripeApi stripe;
  if (gateway == "pushinpay") return &pushinpay;
  if (gateway == "paradise") return &paradise;
  if (gateway == "atomopay") return &atomopay;
  if (gateway == "mercadopago") return &mercadopago;
  if (gateway == "stripe") return &stripe;
  return nullptr;
}

std::string DefaultBaseUrl(absl::string_view gateway) {
  if (gateway == "pushinpay") return "https://api.pushinpay.com.br";
  if (gateway == "paradise") return "https://multi.paradisepags.com";
  if (gateway == "atomopay") return "https://api.atomopay.com.br";
  if (gateway == "mercadopago") return "https://api.mercadopago.com";
  if (gateway == "stripe") return "https://api.stripe.com";
  return "";
}

}  // namespace tally::gateways
