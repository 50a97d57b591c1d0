#include "http/charge_decisions.h"

#include <openssl/rand.h>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;
using ledger::JsonQuote;

constexpr size_t kMaxIdempotencyKey = 200;
constexpr int64_t kMaxAmountMinor = 100'000'000'00;  // R$ 100 million

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return absl::BytesToHexString(raw);
}

// Reads fields, each checked against its limit; the first problem names the field.
class ChargeFields {
 public:
  explicit ChargeFields(const gateways::PayloadFields& f) : f_(f) {}

  std::string Text(const char* path, size_t max_bytes, bool required = false) {
    std::string value = f_.Text(path);
    if (!error_.empty()) return value;
    if (required && value.empty()) {
      error_ = absl::StrCat(path, " is required");
    } else if (value.size() > max_bytes) {
      error_ = absl::StrCat(path, " is longer than ", max_bytes, " bytes");
    }
    return value;
  }
  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  const std::string& error() const { return error_; }

 private:
  const gateways::PayloadFields& f_;
  std::string error_;
};

std::string PaymentJson(const pb::PaymentCreated& p, const std::string& stream, int64_t position,
                        const std::string& request_id) {
  const std::string expires =
      p.expires_at_s() > 0 ? JsonQuote(ledger::FormatMicros(p.expires_at_s() * 1000000)) : "null";
  return absl::StrCat(R"({"payment_id":)", JsonQuote(p.payment_id()), R"(,"tenant_id":)",
                      JsonQuote(p.tenant_id()), R"(,"gateway":)", JsonQuote(p.gateway()),
                      R"(,"gateway_transaction_id":)", JsonQuote(p.gateway_transaction_id()),
                      R"(,"gateway_transaction_hash":)", JsonQuote(p.gateway_transaction_hash()),
                      R"(,"status":"pending","amount":{"amount_minor":)", p.amount().amount_minor(),
                      R"(,"currency":)", JsonQuote(p.amount().currency()), R"(},"pix_copy_paste":)",
                      JsonQuote(p.pix_copy_paste()), R"(,"expires_at":)", expires, R"(,"stream":)",
                      JsonQuote(stream), R"(,"position":)", position, R"(,"request_id":)",
                      JsonQuote(request_id), "}");
}

}  // namespace

absl::StatusOr<ChargeInput> ParseChargeRequest(const gateways::GatewayRegistry& gateways,
                                               const gateways::PayloadFields& f) {
  ChargeFields c(f);
  ChargeInput input;
  pb::PaymentCreated& p = input.payment;
  p.set_gateway(c.Text("gateway", 32, true));
  const std::string amount = c.Text("amount_minor", 20, true);
  int64_t minor = 0;
  if (c.error().empty() &&
      (!absl::SimpleAtoi(amount, &minor) || minor <= 0 || minor > kMaxAmountMinor)) {
    c.Fail(absl::StrCat("amount_minor must be a whole number of cents between 1 and ",
                        kMaxAmountMinor));
  }
  std::string currency = absl::AsciiStrToUpper(c.Text("currency", 3));
  if (currency.empty()) currency = "BRL";
  if (currency.size() != 3 || !absl::c_all_of(currency, absl::ascii_isalpha)) {
    c.Fail("currency must be an ISO 4217 code such as BRL");
  }
  p.mutable_amount()->set_amount_minor(minor);
  p.mutable_amount()->set_currency(currency);
  p.set_description(c.Text("description", 200));
  p.set_bot_id(c.Text("bot_id", 64));
  p.set_customer_id(c.Text("customer.id", 128));
  input.customer_name = c.Text("customer.name", 200);
  input.customer_email = c.Text("customer.email", 200);
  input.customer_document = c.Text("customer.document", 32);
  p.set_product_id(c.Text("product_id", 128));
  p.set_parent_payment_id(c.Text("parent_payment_id", 64));
  p.set_plan_id(c.Text("plan_id", 64));
  pb::Tracking* t = p.mutable_tracking();
  t->set_utm_source(c.Text("tracking.utm_source", 256));
  t->set_utm_medium(c.Text("tracking.utm_medium", 256));
  t->set_utm_campaign(c.Text("tracking.utm_campaign", 256));
  t->set_utm_content(c.Text("tracking.utm_content", 256));
  t->set_utm_term(c.Text("tracking.utm_term", 256));
  t->set_campaign_code(c.Text("tracking.campaign_code", 128));
  t->set_fbp(c.Text("tracking.fbp", 256));
  t->set_fbc(c.Text("tracking.fbc", 512));
  t->set_client_ip(c.Text("tracking.client_ip", 64));
  t->set_client_user_agent(c.Text("tracking.client_user_agent", 1024));
  t->set_pageview_event_id(c.Text("tracking.pageview_event_id", 128));
  t->set_source_url(c.Text("tracking.source_url", 2048));
  const gateways::Gateway* gateway = gateways.Find(p.gateway());
  if (gateway == nullptr) {
    c.Fail(absl::StrCat("unknown gateway \"", p.gateway(), "\" (",
                        absl::StrJoin(gateways.Names(), ", "), ")"));
  } else if (absl::Status s = gateway->CheckCurrency(currency); !s.ok()) {
    c.Fail(std::string(s.message()));
  }
  if (!c.error().empty()) return absl::InvalidArgumentError(c.error());
  return input;
}

absl::StatusOr<ChargeIdentity> IdentifyCharge(const std::string& tenant_id,
                                              const std::string& idempotency_header) {
  if (idempotency_header.empty()) return ChargeIdentity{absl::StrCat("pay_", RandomHex(16)), ""};
  if (idempotency_header.size() > kMaxIdempotencyKey ||
      !absl::c_all_of(idempotency_header, [](char ch) { return ch > ' ' && ch < 127; })) {
    return absl::InvalidArgumentError("Idempotency-Key must be 1 to 200 printable characters");
  }
  const std::string digest = gateways::Sha256Hex(absl::StrCat(tenant_id, "\n", idempotency_header));
  return ChargeIdentity{absl::StrCat("pay_", digest.substr(0, 32)),
                        absl::StrCat("charge:", digest)};
}

gateways::ChargeRequest BuildGatewayCharge(const ChargeInput& input, const std::string& public_url,
                                           const std::string& webhook_token) {
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const pb::PaymentCreated& payment = input.payment;
  gateways::ChargeRequest charge;
  charge.payment_id = payment.payment_id();
  charge.amount = payment.amount();
  charge.description = payment.description().empty() ? "Pedido" : payment.description();
  charge.notification_url = absl::StrCat(base, "/webhooks/", payment.gateway(), "/", webhook_token);
  charge.idempotency_key = payment.payment_id();
  charge.customer_name = input.customer_name;
  charge.customer_email = input.customer_email;
  charge.customer_document = input.customer_document;
  return charge;
}

HttpResponse GatewayErrorResponse(const absl::Status& status, const std::string& gateway) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return JsonError(504, "gateway_timeout",
                       gateway +
                           " did not answer in time; the charge may exist: retry with the "
                           "same Idempotency-Key");
    case absl::StatusCode::kPermissionDenied:
      return JsonError(502, "gateway_credentials_rejected",
                       gateway + " refused the configured API key");
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return JsonError(502, "gateway_rejected", message);
    default:
      return JsonError(502, "gateway_unavailable", message);
  }
}

HttpResponse CreatedResponse(const pb::PaymentCreated& payment, const std::string& stream,
                             int64_t position, const std::string& request_id) {
  return {201, "application/json", PaymentJson(payment, stream, position, request_id)};
}

HttpResponse ReplayResponse(const ledger::RecordedEvent& recorded,
                            const std::string& request_sha256, const std::string& request_id) {
  pb::PaymentCreated payment;
  if (!payment.ParseFromString(recorded.payload)) {
    return JsonError(500, "internal", "the recorded payment does not parse");
  }
  if (payment.request_sha256() != request_sha256) {
    return JsonError(422, "idempotency_key_reused",
                     "this Idempotency-Key was used with a different request body");
  }
  HttpResponse response{200, "application/json",
                        PaymentJson(payment, recorded.stream_id, recorded.position, request_id)};
  response.headers.emplace_back("Idempotent-Replayed", "true");
  return response;
}

}  // namespace tally::http
