#include "sandbox/mercadopago.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

// Mercado Pago shows times in Sao Paulo, with milliseconds: 2024-06-20T09:00:00.000-03:00
std::string IsoSaoPaulo(int64_t s) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S-03:00", absl::FromUnixSeconds(s),
                          absl::FixedTimeZone(-3 * 3600));
}

// 1990 -> "19.9", 2000 -> "20", 1905 -> "19.05": a decimal as a JSON number.
std::string DecimalFromMinor(int64_t minor) {
  std::string out = absl::StrCat(minor / 100);
  const int64_t cents = minor % 100;
  if (cents == 0) return out;
  if (cents % 10 == 0) return absl::StrCat(out, ".", cents / 10);
  return absl::StrCat(out, ".", absl::StrFormat("%02d", cents));
}

class MercadoPago final : public SimulatedGateway {
 public:
  absl::string_view name() const override { return "mercadopago"; }

  ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                const Query& query) const override {
    if (method == "POST" && absl::StrJoin(path, "/") == "v1/payments") return ApiCall::Create();
    if (method == "GET" && absl::StrJoin(path, "/") == "v1/payments/search") {
      if (!query.count("external_reference")) return {};
      return ApiCall::Lookup(query.at("external_reference"));
    }
    if (method == "GET" && path.size() == 3 && path[1] == "payments") {
      return ApiCall::Status(path[2]);
    }
    return {};
  }

  std::string ApiKey(const http::HttpRequest& request, const Query& query) const override {
    return Bearer(request);
  }

  absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const override {
    Charge c;
    c.amount_minor = fields.DecimalMinorUnits("transaction_amount").value_or(0);
    c.reference = fields.Text("external_reference");
    c.description = fields.Text("description");
    c.notification_url = fields.Text("notification_url");
    if (fields.Text("payment_method_id") != "pix") {
      return absl::InvalidArgumentError("payment_method_id must be pix");
    }
    if (fields.Text("payer.email").empty()) {
      return absl::InvalidArgumentError("payer.email required");
    }
    return c;
  }

  std::string IdempotencyKey(const http::HttpRequest& request) const override {
    return http::HeaderValue(request, "x-idempotency-key");
  }

  int CreatedStatus() const override { return 201; }

  ChargeIds NewIds(uint64_t n, absl::FunctionRef<uint32_t()> random32) const override {
    return ChargeIds(absl::StrCat(1320000000 + n));
  }

  StatusWords statuses() const override { return {"pending", "approved", "refunded", "cancelled"}; }

  std::string ChargeJson(const Charge& c, bool creation) const override {
    const bool approved = c.status == "approved" || c.refunded;
    return absl::StrCat(
        R"({"id":)", c.id, R"(,"status":)", JsonQuote(c.status), R"(,"status_detail":)",
        JsonQuote(c.status == "pending" ? "pending_waiting_transfer" : "accredited"),
        R"(,"transaction_amount":)", DecimalFromMinor(c.amount_minor),
        R"(,"currency_id":"BRL","payment_method_id":"pix","payment_type_id":"bank_transfer",)",
        R"("description":)", JsonQuote(c.description), R"(,"external_reference":)",
        JsonQuote(c.reference), R"(,"date_created":)", JsonQuote(IsoSaoPaulo(c.created_s)),
        R"(,"date_approved":)", approved ? JsonQuote(IsoSaoPaulo(c.updated_s)) : "null",
        R"(,"date_of_expiration":)", JsonQuote(IsoSaoPaulo(c.created_s + kPixLifetimeSeconds)),
        R"(,"point_of_interaction":{"type":"PIX","transaction_data":{"qr_code":)",
        JsonQuote(c.pix_code), R"(,"qr_code_base64":"iVBORw0KGgo=","ticket_url":)",
        JsonQuote(absl::StrCat("https://sandbox.tally.example/payments/", c.id, "/ticket")), "}}}");
  }

  http::HttpResponse LookupAnswer(const std::vector<const Charge*>& found) const override {
    std::vector<std::string> rows;
    for (const Charge* c : found) rows.push_back(ChargeJson(*c, /*creation=*/false));
    return Json(200,
                absl::StrCat(R"({"results":[)", absl::StrJoin(rows, ","), R"(],"paging":{"total":)",
                             found.size(), R"(,"limit":30,"offset":0}})"));
  }

  std::string RateLimitedJson(int retry_after_s) const override {
    return absl::StrCat(
        R"({"message":"Too many requests","error":"too_many_requests","status":429,"cause":[],)",
        R"("retry_after":)", retry_after_s, "}");
  }

  http::HttpResponse Unauthorized() const override {
    return Json(
        401,
        R"({"message":"invalid access token","error":"unauthorized","status":401,"cause":[]})");
  }

  Notification Webhook(const Charge& c, ChargeAction action, const std::string& url,
                       const std::string& secret, int64_t now_s, uint64_t sequence) const override {
    const std::string request_id = absl::StrFormat("%08x-sandbox-%d", sequence, now_s);
    const std::string manifest = absl::StrCat("id:", absl::AsciiStrToLower(c.id),
                                              ";request-id:", request_id, ";ts:", now_s, ";");
    Notification n;
    n.url = absl::StrCat(url, absl::StrContains(url, '?') ? "&" : "?", "data.id=", c.id,
                         "&type=payment");
    n.headers = {{"Content-Type", "application/json"},
                 {"x-request-id", request_id},
                 {"x-signature",
                  absl::StrCat("ts=", now_s, ",v1=", gateways::HmacSha256Hex(secret, manifest))}};
    n.body = absl::StrCat(R"({"action":"payment.updated","api_version":"v1","data":{"id":)",
                          JsonQuote(c.id), R"(},"date_created":)", JsonQuote(IsoUtc(now_s)),
                          R"(,"id":)", 20000000000 + sequence,
                          R"(,"live_mode":false,"type":"payment","user_id":"1234567"})");
    return n;
  }
};

}  // namespace

std::unique_ptr<SimulatedGateway> NewMercadoPago() { return std::make_unique<MercadoPago>(); }

}  // namespace tally::sandbox
