#include "sandbox/stripe.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

// The payment id a search query asks for: metadata['payment_id']:'X', either quote, a backslash
// escaping the next character. The one clause this simulator understands; anything else is
// InvalidArgument.
absl::StatusOr<std::string> SearchedPaymentId(absl::string_view query) {
  query = absl::StripAsciiWhitespace(query);
  if (!absl::ConsumePrefix(&query, "metadata['payment_id']:") &&
      !absl::ConsumePrefix(&query, "metadata[\"payment_id\"]:")) {
    return absl::InvalidArgumentError(
        "this sandbox searches payment intents by metadata['payment_id'] only");
  }
  if (query.size() < 2 || (query.front() != '\'' && query.front() != '"') ||
      query.back() != query.front()) {
    return absl::InvalidArgumentError("the searched value must be quoted");
  }
  const char quote = query.front();
  std::string value;
  for (size_t i = 1; i + 1 < query.size(); ++i) {
    if (query[i] == '\\') {
      if (i + 2 >= query.size()) return absl::InvalidArgumentError("unterminated searched value");
      value += query[++i];
    } else if (query[i] == quote) {
      return absl::InvalidArgumentError("unescaped quote in the searched value");
    } else {
      value += query[i];
    }
  }
  return value;
}

class Stripe final : public SimulatedGateway {
 public:
  absl::string_view name() const override { return "stripe"; }

  ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                const Query& query) const override {
    if (method == "POST" && absl::StrJoin(path, "/") == "v1/payment_intents") {
      return ApiCall::Create();
    }
    if (method == "GET" && absl::StrJoin(path, "/") == "v1/payment_intents/search") {
      auto it = query.find("query");
      if (it == query.end()) return ApiCall::Invalid("Missing required param: query.");
      absl::StatusOr<std::string> payment_id = SearchedPaymentId(it->second);
      if (!payment_id.ok()) return ApiCall::Invalid(std::string(payment_id.status().message()));
      return ApiCall::Lookup(*std::move(payment_id));
    }
    if (method == "GET" && path.size() == 3 && path[1] == "payment_intents") {
      return ApiCall::Status(path[2]);
    }
    return {};
  }

  std::string ApiKey(const http::HttpRequest& request, const Query& query) const override {
    return Bearer(request);
  }

  absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const override {
    Charge c;
    c.amount_minor = fields.MinorUnits("amount").value_or(0);
    c.currency = absl::AsciiStrToUpper(fields.Text("currency"));
    c.reference = fields.Text("metadata[payment_id]");
    c.description = fields.Text("description");
    if (fields.Text("payment_method_types[]") != "pix") {
      return absl::InvalidArgumentError("payment_method_types[] must be pix");
    }
    return c;
  }

  std::string IdempotencyKey(const http::HttpRequest& request) const override {
    return http::HeaderValue(request, "idempotency-key");
  }

  ChargeIds NewIds(uint64_t n, absl::FunctionRef<uint32_t()> random32) const override {
    return ChargeIds(absl::StrFormat("pi_3Sandbox%08x%06d", random32(), n));
  }

  StatusWords statuses() const override {
    return {"requires_action", "succeeded", "succeeded", "canceled"};
  }

  // A PaymentIntent.
  std::string ChargeJson(const Charge& c, bool creation) const override {
    const bool succeeded = c.status == "succeeded";
    std::string next_action = "null";
    if (c.status == "requires_action") {
      next_action = absl::StrCat(
          R"({"type":"pix_display_qr_code","pix_display_qr_code":{"data":)", JsonQuote(c.pix_code),
          R"(,"expires_at":)", c.created_s + kPixLifetimeSeconds,
          R"(,"hosted_instructions_url":"https://payments.stripe.com/pix/instructions/sandbox",)",
          R"("image_url_png":"https://qr.stripe.com/sandbox.png"}})");
    }
    return absl::StrCat(R"({"id":)", JsonQuote(c.id), R"(,"object":"payment_intent","amount":)",
                        c.amount_minor, R"(,"amount_received":)", succeeded ? c.amount_minor : 0,
                        R"(,"currency":)", JsonQuote(absl::AsciiStrToLower(c.currency)),
                        R"(,"status":)", JsonQuote(c.status), R"(,"description":)",
                        JsonQuote(c.description), R"(,"metadata":{"payment_id":)",
                        JsonQuote(c.reference), R"(},"payment_method_types":["pix"],"created":)",
                        c.created_s, R"(,"livemode":false,"next_action":)", next_action, "}");
  }

  http::HttpResponse LookupAnswer(const std::vector<const Charge*>& found) const override {
    std::vector<std::string> rows;
    for (const Charge* c : found) rows.push_back(ChargeJson(*c, /*creation=*/false));
    return Json(
        200, absl::StrCat(R"({"object":"search_result","url":"/v1/payment_intents/search",)",
                          R"("has_more":false,"next_page":null,"data":[)", absl::StrJoin(rows, ","),
                          "]}"));
  }

  std::string RateLimitedJson(int retry_after_s) const override {
    return absl::StrCat(
        R"({"error":{"code":"rate_limit","message":"Request rate limit exceeded. You can learn )",
        R"(more about rate limits here https://stripe.com/docs/rate-limits.",)",
        R"("type":"invalid_request_error","retry_after":)", retry_after_s, "}}");
  }

  http::HttpResponse Unauthorized() const override {
    return Json(
        401, R"({"error":{"message":"Invalid API Key provided","type":"invalid_request_error"}})");
  }

  http::HttpResponse NotFound(const std::string& what) const override {
    return Json(404, absl::StrCat(R"({"error":{"code":"resource_missing","message":)",
                                  JsonQuote("No such payment_intent: '" + what + "'"),
                                  R"(,"type":"invalid_request_error"}})"));
  }

  http::HttpResponse BadRequest(const std::string& message) const override {
    return Json(400, absl::StrCat(R"({"error":{"message":)", JsonQuote(message),
                                  R"(,"type":"invalid_request_error"}})"));
  }

  std::string WebhookUrl(const Charge& charge, const std::string& account_url) const override {
    return account_url;
  }

  // An Event, signed over "{t}.{body}".
  Notification Webhook(const Charge& c, ChargeAction action, const std::string& url,
                       const std::string& secret, int64_t now_s, uint64_t sequence) const override {
    std::string type;
    std::string object;
    if (action == ChargeAction::kRefund) {
      type = "charge.refunded";
      object = absl::StrCat(R"({"id":"ch_)", c.id.substr(3), R"(","object":"charge","amount":)",
                            c.amount_minor, R"(,"amount_refunded":)", c.amount_minor,
                            R"(,"currency":"brl","payment_intent":)", JsonQuote(c.id),
                            R"(,"refunded":true,"status":"succeeded"})");
    } else {
      type = action == ChargeAction::kPay ? "payment_intent.succeeded" : "payment_intent.canceled";
      object = ChargeJson(c, false);
    }
    Notification n;
    n.url = url;
    n.body = absl::StrCat(R"({"id":"evt_sandbox_)", sequence,
                          R"(","object":"event","api_version":"2024-06-20","created":)", now_s,
                          R"(,"livemode":false,"type":)", JsonQuote(type), R"(,"data":{"object":)",
                          object, "}}");
    n.headers = {{"Content-Type", "application/json"},
                 {"Stripe-Signature",
                  absl::StrCat("t=", now_s, ",v1=",
                               gateways::HmacSha256Hex(secret, absl::StrCat(now_s, ".", n.body)))}};
    return n;
  }
};

}  // namespace

std::unique_ptr<SimulatedGateway> NewStripe() { return std::make_unique<Stripe>(); }

}  // namespace tally::sandbox
