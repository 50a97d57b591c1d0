#include "gateways/internal/gateway_support.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::gateways::internal {

namespace pb = payments::v1;

std::string BaseUrl(const ApiAccount& account, const GatewayTraits& traits) {
  std::string base = account.base_url.empty() ? traits.production_base_url : account.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

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

CallResult Call(const Transport& transport, const ApiRequest& request, absl::string_view what) {
  CallResult out;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ApiResponse> response = transport(request);
  out.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  if (!response.ok()) {
    out.fields = response.status();
    return out;
  }
  out.http_status = response->status;
  out.raw_response = std::move(response->body);
  out.retry_after_s = response->retry_after_s;
  if (absl::Status s = StatusFromAnswer({out.http_status, out.raw_response}, what); !s.ok()) {
    out.fields = s;
    return out;
  }
  out.fields = PayloadFields::ParseJson(out.raw_response);
  if (!out.fields.ok()) {
    out.fields = absl::InternalError(absl::StrCat(what, ": answer is not a JSON object"));
  }
  return out;
}

PolledStatus Poll(const Transport& transport, const ApiRequest& request, absl::string_view what,
                  const ReadObservation& read) {
  CallResult call = Call(transport, request, what);
  PolledStatus out;
  out.http_status = call.http_status;
  out.raw_response = std::move(call.raw_response);
  out.latency_us = call.latency_us;
  if (!call.fields.ok()) {
    out.status = call.fields.status();
    out.retry_after_s = call.retry_after_s;
    if (out.retry_after_s == 0 && call.http_status == 429) {
      // Some gateways say it in the body only (Stripe under "error").
      if (auto body = PayloadFields::ParseJson(out.raw_response); body.ok()) {
        for (const char* path : {"retry_after", "error.retry_after"}) {
          int64_t seconds = 0;
          if (absl::SimpleAtoi(body->Text(path), &seconds) && seconds > 0) {
            out.retry_after_s = std::min<int64_t>(seconds, 15 * 60);  // bounded
            break;
          }
        }
      }
    }
    return out;
  }
  absl::StatusOr<pb::Observation> observation = read(*call.fields);
  if (observation.ok()) {
    out.observation = *std::move(observation);
  } else {
    out.status = observation.status();
  }
  return out;
}

absl::Status CheckChargeRequest(const Gateway& gateway, const ChargeRequest& request) {
  if (absl::Status s = gateway.CheckCurrency(request.amount.currency()); !s.ok()) return s;
  if (request.amount.amount_minor() <= 0) {
    return absl::InvalidArgumentError("the amount must be positive");
  }
  return absl::OkStatus();
}

pb::Observation Observe(const Gateway& gateway, const std::string& word, int64_t amount_minor,
                        const std::string& currency) {
  pb::Observation o;
  o.set_gateway_status(word);
  o.set_status(gateway.NormalizeStatus(word));
  if (amount_minor > 0) {
    o.mutable_amount()->set_amount_minor(amount_minor);
    o.mutable_amount()->set_currency(absl::AsciiStrToUpper(currency.empty() ? "BRL" : currency));
  }
  return o;
}

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

std::string JsonCustomer(const ChargeRequest& r) {
  using ledger::JsonQuote;
  return absl::StrCat(R"({"name":)", JsonQuote(r.customer_name), R"(,"email":)",
                      JsonQuote(r.customer_email), R"(,"document":)",
                      JsonQuote(r.customer_document), "}");
}

std::multimap<std::string, std::string> ParseSignatureHeader(absl::string_view header) {
  std::multimap<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(header, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(absl::StripAsciiWhitespace(part), absl::MaxSplits('=', 1));
    out.emplace(kv.first, kv.second);
  }
  return out;
}

absl::Status CheckSecretHeader(const WebhookRequest& request,
                               const GatewayCredentials& credentials) {
  if (credentials.webhook_secret.empty()) return absl::OkStatus();
  if (!ConstantTimeEquals(HeaderValue(request, kUnsignedSecretHeader),
                          credentials.webhook_secret)) {
    return absl::UnauthenticatedError("webhook secret header missing or wrong");
  }
  return absl::OkStatus();
}

}  // namespace tally::gateways::internal
