// The five gateway adapters. Payload shapes follow each gateway's webhook documentation; the
// tests in tests/gateways/ use its documented examples.

#include <cmath>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gateways/adapter.h"
#include "gateways/payload_fields.h"
#include "gateways/status_vocabulary.h"
#include "gateways/webhook_crypto.h"

namespace tally::gateways {
namespace {

namespace pb = payments::v1;

constexpr int64_t kStripeToleranceSeconds = 300;

// "k1=v1,k2=v2,k2=v3" (Stripe-Signature, x-signature) -> key -> values.
std::multimap<std::string, std::string> ParseSignatureHeader(absl::string_view header) {
  std::multimap<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(header, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(absl::StripAsciiWhitespace(part), absl::MaxSplits('=', 1));
    out.emplace(kv.first, kv.second);
  }
  return out;
}

void SetAmount(pb::Observation& o, int64_t minor, const std::string& currency) {
  if (minor == 0 && currency.empty()) return;
  o.mutable_amount()->set_amount_minor(minor);
  o.mutable_amount()->set_currency(absl::AsciiStrToUpper(currency.empty() ? "BRL" : currency));
}

absl::Status CheckSecretHeader(const WebhookRequest& request, const GatewayCredentials& creds) {
  if (creds.webhook_secret.empty()) return absl::OkStatus();
  if (!ConstantTimeEquals(HeaderValue(request, kUnsignedSecretHeader), creds.webhook_secret)) {
    return absl::UnauthenticatedError("webhook secret header missing or wrong");
  }
  return absl::OkStatus();
}

class StripeAdapter final : public GatewayAdapter {
 public:
  std::string name() const override { return "stripe"; }
  absl::StatusOr<ParsedWebhook> ParseWebhook(const WebhookRequest& request,
                                             const GatewayCredentials& creds) const override {
    const auto signature = ParseSignatureHeader(HeaderValue(request, "stripe-signature"));
    auto t = signature.find("t");
    int64_t timestamp = 0;
    if (t == signature.end() || !absl::SimpleAtoi(t->second, &timestamp) ||
        signature.count("v1") == 0) {
      return absl::UnauthenticatedError("Stripe-Signature header missing or malformed");
    }
    if (std::llabs(request.now_s - timestamp) > kStripeToleranceSeconds) {
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
    if (tx.empty() || absl::StartsWith(type, "payment_intent."))
      tx = fields->Text("data.object.id");
    if (tx.empty() || type.empty()) {
      return absl::InvalidArgumentError("Stripe event without type or data.object.id");
    }
    parsed.transaction_id = tx;
    pb::Observation& o = parsed.observation;
    o.set_gateway_status(type);
    o.set_status(NormalizeStatus("stripe", type));
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
    SetAmount(o, *amount, fields->Text("data.object.currency"));
    int64_t created = 0;
    if (absl::SimpleAtoi(fields->Text("created"), &created))
      o.set_occurred_at_us(created * 1000000);
    return parsed;
  }
};

class MercadoPagoAdapter final : public GatewayAdapter {
 public:
  std::string name() const override { return "mercadopago"; }
  absl::StatusOr<ParsedWebhook> ParseWebhook(const WebhookRequest& request,
                                             const GatewayCredentials& creds) const override {
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
    const auto signature = ParseSignatureHeader(HeaderValue(request, "x-signature"));
    auto ts = signature.find("ts");
    auto v1 = signature.find("v1");
    if (ts == signature.end() || v1 == signature.end()) {
      return absl::UnauthenticatedError("x-signature header missing or malformed");
    }
    std::string id = data_id == query.end() ? "" : data_id->second;
    // Mercado Pago: an alphanumeric data.id enters the manifest in lowercase.
    id = absl::AsciiStrToLower(id);
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
};

// PushinPay, Paradise and Atomopay: unsigned JSON (or form) bodies.
class UnsignedAdapter final : public GatewayAdapter {
 public:
  explicit UnsignedAdapter(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  absl::StatusOr<ParsedWebhook> ParseWebhook(const WebhookRequest& request,
                                             const GatewayCredentials& creds) const override {
    if (absl::Status s = CheckSecretHeader(request, creds); !s.ok()) return s;
    auto fields = PayloadFields::Parse(request.content_type, request.body);
    if (!fields.ok()) return fields.status();
    ParsedWebhook parsed;
    parsed.authenticity = pb::AUTHENTICITY_UNVERIFIED;
    pb::Observation& o = parsed.observation;
    std::string status;
    absl::StatusOr<int64_t> amount = 0;
    if (name_ == "pushinpay") {
      // PushinPay changes the case of its ids between calls: compare them lowercased.
      parsed.transaction_id = absl::AsciiStrToLower(fields->Text("id"));
      status = fields->Text("status");
      amount = fields->MinorUnits("value");
    } else if (name_ == "paradise") {
      parsed.transaction_id = fields->Text("transaction_id");
      o.set_external_reference(fields->Text("external_id"));
      status = fields->Text("status");
      amount = fields->MinorUnits("amount");
    } else {  // atomopay: id and hash both identify the transaction; the hash is preferred
      const std::string id = fields->Text("id");
      const std::string hash = fields->Text("hash");
      parsed.transaction_id = hash.empty() ? id : hash;
      o.set_gateway_transaction_hash(hash);
      status = fields->Text("payment_status");
      if (status.empty()) status = fields->Text("status");
      amount = fields->MinorUnits("amount");
    }
    if (parsed.transaction_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name_, " webhook without a transaction id"));
    }
    if (!amount.ok()) return amount.status();
    o.set_gateway_transaction_id(parsed.transaction_id);
    o.set_gateway_status(status);
    o.set_status(NormalizeStatus(name_, status));
    SetAmount(o, *amount, "BRL");
    return parsed;
  }

 private:
  std::string name_;
};

}  // namespace

const GatewayAdapter* FindAdapter(absl::string_view gateway) {
  static const StripeAdapter stripe;
  static const MercadoPagoAdapter mercadopago;
  static const UnsignedAdapter pushinpay("pushinpay");
  static const UnsignedAdapter paradise("paradise");
  static const UnsignedAdapter atomopay("atomopay");
  if (gateway == "stripe") return &stripe;
  if (gateway == "mercadopago") return &mercadopago;
  if (gateway == "pushinpay") return &pushinpay;
  if (gateway == "paradise") return &paradise;
  if (gateway == "atomopay") return &atomopay;
  return nullptr;
}

absl::StatusOr<int64_t> DecimalToMinorUnits(absl::string_view decimal) {
  const absl::string_view text = absl::StripAsciiWhitespace(decimal);
  const size_t dot = text.find('.');
  absl::string_view whole = text.substr(0, dot);
  absl::string_view fraction = dot == absl::string_view::npos ? "" : text.substr(dot + 1);
  // Trailing zeros beyond the cents carry no value ("19.900000" from a float rendering).
  while (fraction.size() > 2 && fraction.back() == '0') fraction.remove_suffix(1);
  if (whole.empty() || fraction.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an amount with at most two decimals: ", decimal));
  }
  for (char c : absl::StrCat(whole, fraction)) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(absl::StrCat("not a non-negative decimal: ", decimal));
    }
  }
  int64_t units = 0;
  int64_t cents = 0;
  if (whole.size() > 15 || !absl::SimpleAtoi(whole, &units)) {
    return absl::InvalidArgumentError(absl::StrCat("amount out of range: ", decimal));
  }
  if (!fraction.empty()) {
    (void)absl::SimpleAtoi(fraction, &cents);
    if (fraction.size() == 1) cents *= 10;
  }
  return units * 100 + cents;
}

std::string HeaderValue(const WebhookRequest& request, absl::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

}  // namespace tally::gateways
