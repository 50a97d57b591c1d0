#include "sandbox/paradise.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

class Paradise final : public SimulatedGateway {
 public:
  absl::string_view name() const override { return "paradise"; }

  ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                const Query& query) const override {
    const std::string joined = absl::StrJoin(path, "/");
    if (method == "POST" && joined == "api/v1/transaction.php") return ApiCall::Create();
    if (method != "GET" || joined != "api/v1/query.php" || !query.count("action")) return {};
    const std::string& action = query.at("action");
    if (action == "get_transaction" && query.count("id")) return ApiCall::Status(query.at("id"));
    if (action == "get_transaction_by_reference" && query.count("reference")) {
      return ApiCall::Lookup(query.at("reference"));
    }
    return {};
  }

  std::string ApiKey(const http::HttpRequest& request, const Query& query) const override {
    return http::HeaderValue(request, "x-api-key");
  }

  absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const override {
    Charge c;
    c.amount_minor = fields.MinorUnits("amount").value_or(0);
    c.reference = fields.Text("reference");
    c.description = fields.Text("description");
    c.notification_url = fields.Text("postback_url");
    return c;
  }

  ChargeIds NewIds(uint64_t n, absl::FunctionRef<uint32_t()> random32) const override {
    return ChargeIds(absl::StrCat(158000 + n));
  }

  StatusWords statuses() const override { return {"pending", "approved", "refunded", "expired"}; }

  std::string ChargeJson(const Charge& c, bool creation) const override {
    if (creation) {
      return absl::StrCat(R"({"status":"success","message":"Transação criada com sucesso",)",
                          R"("transaction_id":)", JsonQuote(c.id), R"(,"id":)",
                          JsonQuote(c.reference), R"(,"qr_code":)", JsonQuote(c.pix_code),
                          R"(,"qr_code_base64":)", JsonQuote(kQrCodePng), R"(,"amount":)",
                          c.amount_minor, R"(,"acquirer":"sandbox","attempts":1,"expires_at":)",
                          JsonQuote(IsoUtc(c.created_s + kPixLifetimeSeconds)), "}");
    }
    return absl::StrCat(R"({"id":)", c.id, R"(,"transaction_id":)", JsonQuote(c.id),
                        R"(,"external_id":)", JsonQuote(c.reference), R"(,"status":)",
                        JsonQuote(c.status), R"(,"amount":)", c.amount_minor,
                        R"(,"payment_method":"pix","created_at":)", JsonQuote(IsoUtc(c.created_s)),
                        R"(,"updated_at":)", JsonQuote(IsoUtc(c.updated_s)), "}");
  }

  // One transaction, as get_transaction answers it: the latest one carrying the reference.
  http::HttpResponse LookupAnswer(const std::vector<const Charge*>& found) const override {
    if (found.empty()) return NotFound("no transaction with this reference");
    return Json(200, ChargeJson(*found.back(), /*creation=*/false));
  }

  http::HttpResponse Unauthorized() const override {
    return Json(401, R"({"status":"error","message":"Invalid API key"})");
  }

  std::string RateLimitedJson(int retry_after_s) const override {
    return absl::StrCat(R"({"status":"error","message":"Too many requests","retry_after":)",
                        retry_after_s, "}");
  }

  Notification Webhook(const Charge& c, ChargeAction action, const std::string& url,
                       const std::string& secret, int64_t now_s, uint64_t sequence) const override {
    Notification n;
    n.url = url;
    n.headers = UnsignedWebhookHeaders("application/json", secret);
    n.body = absl::StrCat(R"({"transaction_id":)", JsonQuote(c.id), R"(,"external_id":)",
                          JsonQuote(c.reference), R"(,"status":)", JsonQuote(c.status),
                          R"(,"amount":)", c.amount_minor,
                          R"(,"payment_method":"pix","timestamp":)", JsonQuote(IsoUtc(now_s)), "}");
    return n;
  }
};

}  // namespace

std::unique_ptr<SimulatedGateway> NewParadise() { return std::make_unique<Paradise>(); }

}  // namespace tally::sandbox
