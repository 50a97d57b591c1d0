#include "sandbox/simulated_gateway.h"

#include "absl/strings/str_cat.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

// Spelled here, not taken from the adapters that check it, so that a wrong name on either side
// fails the tests.
constexpr char kSecretHeader[] = "x-webhook-secret";

}  // namespace

http::HttpResponse SimulatedGateway::LookupAnswer(const std::vector<const Charge*>& found) const {
  return NotFound("lookup by reference");
}

std::string SimulatedGateway::RateLimitedJson(int retry_after_s) const {
  return absl::StrCat(R"({"message":"Too Many Attempts.","retry_after":)", retry_after_s, "}");
}

http::HttpResponse SimulatedGateway::Unauthorized() const {
  return Json(401, R"({"message":"Unauthenticated."})");
}

http::HttpResponse SimulatedGateway::NotFound(const std::string& what) const {
  return Json(404, absl::StrCat(R"({"message":)", ledger::JsonQuote("not found: " + what), "}"));
}

http::HttpResponse SimulatedGateway::BadRequest(const std::string& message) const {
  return Json(400, absl::StrCat(R"({"message":)", ledger::JsonQuote(message), "}"));
}

std::string SimulatedGateway::WebhookUrl(const Charge& charge,
                                         const std::string& account_url) const {
  return charge.notification_url.empty() ? account_url : charge.notification_url;
}

std::vector<std::pair<std::string, std::string>> UnsignedWebhookHeaders(
    absl::string_view content_type, const std::string& secret) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", std::string(content_type)}};
  if (!secret.empty()) headers.emplace_back(kSecretHeader, secret);
  return headers;
}

}  // namespace tally::sandbox
