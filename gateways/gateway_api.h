#pragma once
// A gateway's API, as Tally calls it: create a PIX charge and poll a transaction's status.
// Requests are built and answers parsed here, in each gateway's documented shapes; the bytes
// travel through a Transport, which in production is the TLS-capable http::HttpClient (see
// http/gateway_transport.h). Nothing here knows whether the far end is the real gateway or
// the sandbox simulator: only the base URL differs.
//
//  - PushinPay:   POST /api/pix/cashIn (Bearer), GET /api/transactions/{id}; amounts in cents.
//  - Paradise:    POST /api/v1/transaction.php (X-API-Key), GET /api/v1/query.php?action=
//                 get_transaction&id={transaction_id}; amounts in cents; `reference` is ours.
//  - Atomopay:    POST /api/public/v1/transactions?api_token=…, GET
//                 /api/public/v1/transactions/{hash}?api_token=…; amounts in cents.
//  - Mercado Pago: POST /v1/payments (Bearer, X-Idempotency-Key), GET /v1/payments/{id};
//                 amounts in reais, converted exactly to cents.
//  - Stripe:      POST /v1/payment_intents (form body, Bearer, Idempotency-Key) confirmed with
//                 payment_method_data[type]=pix, GET /v1/payment_intents/{id}.
//
// Transaction ids are normalized exactly as the webhook adapters normalize them (PushinPay
// lowercased, Atomopay's hash preferred), so a charge and its webhooks share one stream.
// Stateless and thread-safe; calls block for as long as the transport does.

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

struct ApiRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
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
  std::string transaction_id;    // normalized; the stream is payment-<gateway>-<transaction_id>
  std::string transaction_hash;  // Atomopay only
  std::string pix_copy_paste;    // the "PIX copia e cola" code (EMV BR Code)
  int64_t expires_at_s = 0;      // 0: the gateway did not say
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

class GatewayApi {
 public:
  virtual ~GatewayApi() = default;
  virtual std::string name() const = 0;
  // Errors: whatever the transport returned; PermissionDenied when the gateway refuses the API
  // key (401/403); InvalidArgument for the gateway's other 4xx answers and for requests it
  // cannot take (e.g. a currency other than BRL on a PIX-only gateway); ResourceExhausted for
  // 429; Unavailable for 5xx; Internal when a 2xx answer lacks the transaction id.
  virtual absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account,
                                                     const ChargeRequest& request,
                                                     const Transport& transport) const = 0;
  // `transaction_hash` is used by gateways that look transactions up by it (Atomopay).
  virtual PolledStatus PollStatus(const ApiAccount& account, const std::string& transaction_id,
                                  const std::string& transaction_hash,
                                  const Transport& transport) const = 0;
};

// The API of `gateway` (pushinpay, paradise, atomopay, mercadopago, stripe), or null.
const GatewayApi* FindGatewayApi(absl::string_view gateway);

// The production base URL of `gateway` ("" for an unknown one).
std::string DefaultBaseUrl(absl::string_view gateway);

}  // namespace tally::gateways
