#include "sandbox/atomopay.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

class Atomopay final : public SimulatedGateway {
 public:
  absl::string_view name() const override { return "atomopay"; }

  ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                const Query& query) const override {
    if (method == "POST" && absl::StrJoin(path, "/") == "api/public/v1/transactions") {
      return ApiCall::Create();
    }
    if (method == "GET" && path.size() == 5 && path[3] == "transactions") {
      return ApiCall::Status(path[4]);
    }
    if (method == "GET" && absl::StrJoin(path, "/") == "api/public/v1/transactions" &&
        query.count("external_reference")) {
      return ApiCall::Lookup(query.at("external_reference"));
    }
    return {};
  }

  std::string ApiKey(const http::HttpRequest& request, const Query& query) const override {
    auto it = query.find("api_token");
    return it == query.end() ? "" : it->second;
  }

  absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const override {
    Charge c;
    c.amount_minor = fields.MinorUnits("amount").value_or(0);
    c.reference = fields.Text("external_reference");
    c.notification_url = fields.Text("postback_url");
    if (fields.Text("payment_method") != "pix") {
      return absl::InvalidArgumentError("payment_method must be pix");
    }
    return c;
  }

  ChargeIds NewIds(uint64_t n, absl::FunctionRef<uint32_t()> random32) const override {
    return ChargeIds(absl::StrCat(700000 + n), absl::StrFormat("%08x%02x", random32(), n & 0xff));
  }

  StatusWords statuses() const override {
    return {"waiting_payment", "paid", "refunded", "expired"};
  }

  std::string ChargeJson(const Charge& c, bool creation) const override {
    return absl::StrCat(R"({"hash":)", JsonQuote(c.hash), R"(,"id":)", c.id, R"(,"amount":)",
                        c.amount_minor, R"(,"payment_method":"pix","payment_status":)",
                        JsonQuote(c.status), R"(,"external_reference":)", JsonQuote(c.reference),
                        R"(,"pix":{"pix_qr_code":)", JsonQuote(c.pix_code),
                        R"(,"expiration_date":)",
                        JsonQuote(IsoUtc(c.created_s + kPixLifetimeSeconds)), R"(},"created_at":)",
                        JsonQuote(IsoUtc(c.created_s)), "}");
  }

  http::HttpResponse LookupAnswer(const std::vector<const Charge*>& found) const override {
    std::vector<std::string> rows;
    for (const Charge* c : found) rows.push_back(ChargeJson(*c, /*creation=*/false));
    return Json(200, absl::StrCat(R"({"data":[)", absl::StrJoin(rows, ","), "]}"));
  }

  Notification Webhook(const Charge& c, ChargeAction action, const std::string& url,
                       const std::string& secret, int64_t now_s, uint64_t sequence) const override {
    Notification n;
    n.url = url;
    n.headers = UnsignedWebhookHeaders("application/json", secret);
    n.body =
        absl::StrCat(R"({"hash":)", JsonQuote(c.hash), R"(,"id":)", c.id, R"(,"payment_status":)",
                     JsonQuote(c.status), R"(,"amount":)", c.amount_minor,
                     R"(,"payment_method":"pix","updated_at":)", JsonQuote(IsoUtc(now_s)), "}");
    return n;
  }
};

}  // namespace

std::unique_ptr<SimulatedGateway> NewAtomopay() { return std::make_unique<Atomopay>(); }

}  // namespace tally::sandbox
