#pragma once
// A gateway adapter turns one webhook HTTP request into a normalized observation, after
// checking that it is authentic. One adapter per gateway, registered by name.
//
//  - Stripe and Mercado Pago sign their webhooks: the adapter verifies the HMAC over the raw
//    body (Stripe) or the documented manifest (Mercado Pago); the observation is SIGNED.
//  - PushinPay, Paradise and Atomopay sign nothing: the request is authenticated by the
//    tenant's URL token (checked by the caller) and, when the tenant configured one, a shared
//    secret header compared in constant time. The observation is UNVERIFIED, and a "paid" from
//    them is confirmed by a status poll before anything is delivered.
//
// Adapters are stateless and thread-safe. Expected failures are statuses: InvalidArgument for
// a body that does not parse or lacks the transaction id, Unauthenticated for a bad signature,
// stale timestamp or wrong secret.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::gateways {

// Unsigned gateways: the shared secret, when the tenant configured one, travels in this header
// (the custom header their dashboards let a seller add to webhooks).
inline constexpr char kUnsignedSecretHeader[] = "x-webhook-secret";

struct WebhookRequest {
  std::string query_string;  // without the '?'
  // Header names in lowercase.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;   // raw, exactly as received
  int64_t now_s = 0;  // for signature timestamp tolerance
};

struct GatewayCredentials {
  // Stripe: the endpoint's signing secret (whsec_...); Mercado Pago: the webhook secret;
  // unsigned gateways: the value the secret header must carry (empty: not required).
  std::string webhook_secret;
};

struct ParsedWebhook {
  // The gateway's transaction id, normalized (lowercased where the gateway varies its case):
  // the stream is payment-<gateway>-<transaction_id>.
  std::string transaction_id;
  // The gateway's id for this notification; empty when it has none (the caller then uses a
  // hash of the body as the idempotency key).
  std::string event_id;
  payments::v1::Authenticity authenticity = payments::v1::AUTHENTICITY_UNSPECIFIED;
  payments::v1::Observation observation;
  // The notification carries no status, only that something changed: poll the gateway.
  bool poll_hint = false;
};

class GatewayAdapter {
 public:
  virtual ~GatewayAdapter() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<ParsedWebhook> ParseWebhook(
      const WebhookRequest& request, const GatewayCredentials& credentials) const = 0;
};

// The adapter for `gateway` (pushinpay, paradise, atomopay, mercadopago, stripe), or null.
const GatewayAdapter* FindAdapter(absl::string_view gateway);

// Decimal amount text ("19.9", "19.90", "20") in major units to minor units, exactly (no
// floating point). InvalidArgument for anything else or more than two decimals.
absl::StatusOr<int64_t> DecimalToMinorUnits(absl::string_view decimal);

// The value of header `name` (lowercase), or "".
std::string HeaderValue(const WebhookRequest& request, absl::string_view name);

}  // namespace tally::gateways
