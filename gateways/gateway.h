#pragma once
// Everything Tally knows about one payment gateway, behind one interface: how its webhooks are
// authenticated and parsed, its words for a payment's status, how a PIX charge is created and a
// transaction polled through its API, which content types and currencies it takes, and how
// hard it may be polled. One implementation per gateway (gateways/pushinpay.h, …), all listed
// in one GatewayRegistry (gateways/registry.h).
//
// Webhooks:
//  - Stripe and Mercado Pago sign their webhooks: the gateway verifies the HMAC over the raw
//    body (Stripe) or the documented manifest (Mercado Pago); the observation is SIGNED.
//  - PushinPay, Paradise and Atomopay sign nothing: the request is authenticated by the
//    tenant's URL token (checked by the caller) and, when the tenant configured one, a shared
//    secret header compared in constant time. The observation is UNVERIFIED, and a "paid" from
//    them is confirmed by a status poll before anything is delivered.
//
// API calls build requests and parse answers in the gateway's documented shapes; the bytes
// travel through a Transport (in production the TLS-capable http::HttpClient, see
// http/gateway_transport.h). Nothing here knows whether the far end is the real gateway or the
// sandbox simulator: only the base URL differs. Transaction ids are normalized the same way for
// webhooks and API answers (PushinPay lowercased, Atomopay's hash preferred), so a charge and
// its webhooks share one stream, PaymentStreamId(gateway, transaction id).
//
// Gateways are immutable and thread-safe; calls block for as long as the transport does.
// Expected failures are statuses: InvalidArgument for a body that does not parse or lacks the
// transaction id, Unauthenticated for a bad signature, stale timestamp or wrong secret.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::gateways {

// Unsigned gateways: the shared secret, when the tenant configured one, travels in this header
// (the custom header their dashboards let a seller add to webhooks).
inline constexpr char kUnsignedSecretHeader[] = "x-webhook-secret";

// "payment-<gateway>-<transaction id>": the stream of one charge, its webhooks and its polls.
std::string PaymentStreamId(absl::string_view gateway, absl::string_view transaction_id);

struct WebhookRequest {
  std::string query_string;  // without the '?'
  // Header names in lowercase.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;   // raw, exactly as received
  int64_t now_s = 0;  // for signature timestamp tolerance
};

// The value of header `name` (case-insensitive), or "".
std::string HeaderValue(const WebhookRequest& request, absl::string_view name);

struct GatewayCredentials {
  // Stripe: the endpoint's signing secret (whsec_...); Mercado Pago: the webhook secret;
  // unsigned gateways: the value the secret header must carry (empty: not required).
  std::string webhook_secret;
};

struct ParsedWebhook {
  // The gateway's transaction id, normalized (lowercased where the gateway varies its case).
  std::string transaction_id;
  // The gateway's id for this notification; empty when it has none (the caller then uses a
  // hash of the body as the idempotency key).
  std::string event_id;
  payments::v1::Authenticity authenticity = payments::v1::AUTHENTICITY_UNSPECIFIED;
  payments::v1::Observation observation;
  // The notification carries no status, only that something changed: poll the gateway.
  bool poll_hint = false;
};

struct ApiRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Names the call in errors instead of its URL, when the URL holds a secret (a Telegram bot
  // token in the path, a Meta access token in the query).
  std::string description = {};
};

struct ApiResponse {
  int status = 0;
  std::string body;
};

// Sends one request and returns the answer, whatever its status; a Status only when no answer
// was read (Unavailable, DeadlineExceeded, ...).
using Transport = std::function<absl::StatusOr<ApiResponse>(const ApiRequest&)>;

// A tenant's account at a gateway. An empty base_url means the gateway's production URL.
struct ApiAccount {
  std::string base_url;
  std::string api_key;
};

struct ChargeRequest {
  std::string payment_id;  // Tally's id, sent as the gateway's external reference
  payments::v1::Money amount;
  std::string description;
  // Where the gateway should post this charge's webhooks (gateways that take one per charge).
  std::string notification_url;
  // Forwarded where the gateway honours one (Stripe, Mercado Pago), so a retried create call
  // cannot open a second charge there.
  std::string idempotency_key;
  std::string customer_name;
  std::string customer_email;
  std::string customer_document;  // CPF/CNPJ digits
};

struct CreatedCharge {
  std::string transaction_id;             // normalized
  std::string transaction_hash;           // Atomopay only
  std::string pix_copy_paste;             // the "PIX copia e cola" code (EMV BR Code)
  int64_t expires_at_s = 0;               // 0: the gateway did not say
  payments::v1::Observation observation;  // status right after creation
  int http_status = 0;
  std::string raw_response;
};

// What one poll produced, shaped like GatewayStatusPolled: an observation when `status` is OK,
// otherwise the error; the HTTP status and raw answer whenever there was one.
struct PolledStatus {
  absl::Status status;
  int http_status = 0;
  std::string raw_response;
  payments::v1::Observation observation;
  int64_t latency_us = 0;
};

// One of the gateway's words for a payment's status, and what it means to Tally.
struct StatusWord {
  const char* word;
  payments::v1::ObservedStatus status;
};

// How hard the reconciliation reactor may poll a gateway, per tenant account. Defaults come
// from ../shared/EXTERNAL_APIS.md; where the gateway documents nothing they are conservative.
struct PollPolicy {
  // At most one status query per transaction in this many seconds.
  int64_t min_interval_per_transaction_s = 15;
  // Status queries per second per account, and how many may be in flight at once.
  double account_queries_per_second = 5;
  int account_concurrency = 4;
  // How long a charge stays payable when the create answer does not say, and how long after
  // that it is still polled (a late payment still counts).
  int64_t default_expiry_s = 30 * 60;
  int64_t grace_after_expiry_s = 15 * 60;
};

struct GatewayTraits {
  std::string name;  // lowercase, as in URLs and streams
  std::string production_base_url;
  bool signs_webhooks = false;
  // Webhook bodies it sends: JSON always; form-encoded for some; an empty body for others
  // (Mercado Pago's legacy IPN carries everything in the query string).
  bool webhook_form_bodies = false;
  bool webhook_empty_bodies = false;
  // ISO 4217 codes it charges in; empty: whatever the account supports (the gateway answers).
  std::vector<std::string> currencies = {"BRL"};
  // Whether a charge can be found at the gateway by Tally's payment id (its external
  // reference) when the create answer was lost.
  bool finds_charges_by_reference = false;
  PollPolicy poll;
  std::vector<StatusWord> vocabulary;
};

class Gateway {
 public:
  virtual ~Gateway() = default;

  virtual const GatewayTraits& traits() const = 0;
  const std::string& name() const { return traits().name; }

  // Authenticates and parses one webhook request.
  virtual absl::StatusOr<ParsedWebhook> ParseWebhook(
      const WebhookRequest& request, const GatewayCredentials& credentials) const = 0;

  // Errors: whatever the transport returned; PermissionDenied when the gateway refuses the API
  // key (401/403); InvalidArgument for the gateway's other 4xx answers and for requests it
  // cannot take (a currency it does not charge in); ResourceExhausted for 429; Unavailable for
  // 5xx; Internal when a 2xx answer lacks the transaction id.
  virtual absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account,
                                                     const ChargeRequest& request,
                                                     const Transport& transport) const = 0;
  // `transaction_hash` is used by gateways that look transactions up by it (Atomopay).
  virtual PolledStatus PollStatus(const ApiAccount& account, const std::string& transaction_id,
                                  const std::string& transaction_hash,
                                  const Transport& transport) const = 0;

  // The charge created with Tally's `payment_id` as its reference, for a create call whose
  // answer was lost (the charge may exist though Tally never learned its id). NotFound when
  // the gateway has none; Unimplemented when it cannot look charges up by reference
  // (traits().finds_charges_by_reference is false: PushinPay); other errors as CreateCharge.
  virtual absl::StatusOr<CreatedCharge> FindChargeByReference(const ApiAccount& account,
                                                              const std::string& payment_id,
                                                              const Transport& transport) const;

  // The gateway's word mapped onto Tally's status, case-insensitively;
  // OBSERVED_STATUS_UNSPECIFIED for a word it does not use.
  payments::v1::ObservedStatus NormalizeStatus(absl::string_view word) const;

  // OK when a webhook may carry this content type and body; InvalidArgument naming what the
  // gateway sends otherwise.
  absl::Status CheckWebhookContentType(absl::string_view content_type,
                                       absl::string_view body) const;

  // OK when the gateway charges in `currency` (ISO 4217, any case); InvalidArgument otherwise.
  absl::Status CheckCurrency(absl::string_view currency) const;
};

}  // namespace tally::gateways
