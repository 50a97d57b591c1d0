#include "sandbox/pushinpay.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

std::string NullOr(const std::string& text) { return text.empty() ? "null" : JsonQuote(text); }

class PushinPay final : public SimulatedGateway {
 public:
  absl::string_view name() const override { return "pushinpay"; }

  ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                const Query& query) const override {
    if (method == "POST" && absl::StrJoin(path, "/") == "api/pix/cashIn") return ApiCall::Create();
    if (method == "GET" && path.size() == 3 && path[0] == "api" && path[1] == "transactions") {
      return ApiCall::Status(path[2]);
    }
    return {};
  }

  std::string ApiKey(const http::HttpRequest& request, const Query& query) const override {
    return Bearer(request);
  }

  absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const override {
    Charge c;
    c.amount_minor = fields.MinorUnits("value").value_or(0);
    c.notification_url = fields.Text("webhook_url");
    return c;
  }

  ChargeIds NewIds(uint64_t n, absl::FunctionRef<uint32_t()> random32) const override {
    // Three draws in a fixed order, the one GCC gave them as arguments of a single call (where
    // the order is the compiler's), so a seed gives the same ids whatever compiles the sandbox.
    const uint32_t clock_seq = random32() & 0xfff;
    const uint32_t time_high = random32() & 0xfff;
    const uint32_t time_low = random32();
    return ChargeIds(absl::StrFormat("%08x-%04x-4%03x-a%03x-%012x", time_low, n & 0xffff, time_high,
                                     clock_seq, n));
  }

  std::string LookupKey(absl::string_view id) const override { return absl::AsciiStrToLower(id); }

  StatusWords statuses() const override { return {"created", "paid", "refunded", "expired"}; }

  std::string ChargeJson(const Charge& c, bool creation) const override {
    return absl::StrCat(
        R"({"id":)", JsonQuote(c.id), R"(,"qr_code":)", JsonQuote(c.pix_code), R"(,"status":)",
        JsonQuote(c.status), R"(,"value":)", c.amount_minor, R"(,"webhook_url":)",
        JsonQuote(c.notification_url), R"(,"qr_code_base64":)", JsonQuote(kQrCodePng),
        R"(,"webhook":null,"split_rules":[],"end_to_end_id":)", NullOr(c.end_to_end_id),
        R"(,"payer_name":null,"payer_national_registration":null})");
  }

  Notification Webhook(const Charge& c, ChargeAction action, const std::string& url,
                       const std::string& secret, int64_t now_s, uint64_t sequence) const override {
    Notification n;
    n.url = url;
    n.headers = UnsignedWebhookHeaders("application/x-www-form-urlencoded", secret);
    n.body = gateways::FormEncode({{"id", absl::AsciiStrToUpper(c.id)},
                                   {"status", c.status},
                                   {"value", absl::StrCat(c.amount_minor)},
                                   {"end_to_end_id", c.end_to_end_id},
                                   {"payer_name", "Comprador Sandbox"},
                                   {"payer_national_registration", "00000000000"}});
    return n;
  }
};

}  // namespace

std::unique_ptr<SimulatedGateway> NewPushinPay() { return std::make_unique<PushinPay>(); }

}  // namespace tally::sandbox
