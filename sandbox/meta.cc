#include "sandbox/meta.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"

namespace tally::sandbox {

using ledger::JsonQuote;

Meta::Meta(FaultInjector& faults) : faults_(faults) {}

void Meta::AddAccessToken(const std::string& token) {
  std::lock_guard lock(mu_);
  access_tokens_.insert(token);
}

http::HttpResponse Meta::Handle(const http::HttpRequest& request,
                                const std::vector<std::string>& path, const Query& query) {
  if (request.method != "POST" || path.size() != 3 || path[2] != "events") {
    return Json(
        400,
        R"({"error":{"message":"Unsupported request","type":"GraphMethodException","code":100}})");
  }
  auto token = query.find("access_token");
  std::string access_token = token == query.end() ? "" : token->second;
  auto fields =
      gateways::PayloadFields::Parse(http::HeaderValue(request, "content-type"), request.body);
  if (access_token.empty() && fields.ok()) access_token = fields->Text("access_token");
  std::lock_guard lock(mu_);
  if (access_token.empty() || !access_tokens_.contains(access_token)) {
    return Json(
        400,
        R"({"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"Asandbox190"}})");
  }
  if (faults_.Chance(faults_.faults().meta_error_rate)) {
    return Json(
        500,
        R"({"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"Asandbox2"}})");
  }
  const int64_t received = fields.ok() ? fields->ArraySize("data") : -1;
  if (received <= 0) {
    return Json(
        400,
        R"({"error":{"message":"(#100) The parameter data is required","type":"OAuthException","code":100,"fbtrace_id":"Asandbox100"}})");
  }
  requests_.push_back(
      absl::StrCat(R"({"pixel_id":)", JsonQuote(path[1]), R"(,"body":)", request.body, "}"));
  return Json(200,
              absl::StrCat(R"({"events_received":)", received, R"(,"messages":[],"fbtrace_id":)",
                           JsonQuote(absl::StrFormat("Asandbox%08x", faults_.Random32())), "}"));
}

std::string Meta::RequestsJson() const {
  std::lock_guard lock(mu_);
  return absl::StrCat(R"({"requests":[)", absl::StrJoin(requests_, ","), "]}");
}

}  // namespace tally::sandbox
