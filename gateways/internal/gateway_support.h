#pragma once
// Mechanics the gateway implementations share: calling an API through a Transport and mapping
// its answer, building observations, reading signature headers. Not for use outside gateways/.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateways/gateway.h"
#include "gateways/payload_fields.h"

namespace tally::gateways::internal {

// The account's base URL, or the gateway's production URL when it has none; no trailing '/'.
std::string BaseUrl(const ApiAccount& account, const GatewayTraits& traits);

// An answer's status mapped onto ours; OK for 2xx. The gateway's message is kept (bounded)
// because it is what an operator needs ("invalid amount"), and answers carry no secrets.
absl::Status StatusFromAnswer(const ApiResponse& response, absl::string_view what);

// One API call, timed, with whatever came back.
struct CallResult {
  int http_status = 0;  // 0 when no answer was read
  std::string raw_response;
  int64_t latency_us = 0;
  int64_t retry_after_s = 0;  // the Retry-After header, in seconds
  // The parsed 2xx answer, or why there is none.
  absl::StatusOr<PayloadFields> fields = absl::UnknownError("not called");
};
CallResult Call(const Transport& transport, const ApiRequest& request, absl::string_view what);

// A status query: `read` turns a 2xx answer into an observation. Every outcome (transport
// error, HTTP error, unreadable answer, observation) lands in the PolledStatus.
using ReadObservation =
    std::function<absl::StatusOr<payments::v1::Observation>(const PayloadFields&)>;
PolledStatus Poll(const Transport& transport, const ApiRequest& request, absl::string_view what,
                  const ReadObservation& read);

// The charge's amount must be positive and in a currency the gateway takes.
absl::Status CheckChargeRequest(const Gateway& gateway, const ChargeRequest& request);

// An observation of `word` (normalized by `gateway`) with the amount when there is one.
payments::v1::Observation Observe(const Gateway& gateway, const std::string& word,
                                  int64_t amount_minor, const std::string& currency);

// RFC 3339 ("2026-11-23T10:00:00.000-04:00", "...Z"), "YYYY-MM-DD HH:MM:SS" (UTC) or epoch
// seconds to epoch seconds; 0 when absent or not understood (the expiry is advisory).
int64_t ParseExpiry(const std::string& text);

// {"name":…,"email":…,"document":…} of the buyer.
std::string JsonCustomer(const ChargeRequest& request);

// "k1=v1,k2=v2,k2=v3" (Stripe-Signature, x-signature) -> key -> values.
std::multimap<std::string, std::string> ParseSignatureHeader(absl::string_view header);

// Unsigned gateways: OK when no secret is configured or the secret header carries it
// (compared in constant time); Unauthenticated otherwise.
absl::Status CheckSecretHeader(const WebhookRequest& request,
                               const GatewayCredentials& credentials);

}  // namespace tally::gateways::internal
