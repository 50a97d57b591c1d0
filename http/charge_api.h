#pragma once
// POST /v1/payments: a tenant creates a PIX charge at one of its gateways.
//
//   Authorization: Bearer <tenant API key>        (401 unauthorized; 403 forbidden: not owner)
//   Idempotency-Key: <1..200 printable characters>  (optional, recommended)
//   Content-Type: application/json                  (415 otherwise)
//   {"gateway":"pushinpay","amount_minor":1990,"currency":"BRL","description":"…",
//    "bot_id":"…","customer":{"id":"…","name":"…","email":"…","document":"…"},
//    "product_id":"…","parent_payment_id":"…","plan_id":"…",
//    "tracking":{"utm_source":"…","fbp":"…",…}}
//
// The decisions are pure (http/charge_decisions.h). The charge is created through the
// gateway's API (gateways/gateway.h), telling the gateway
// to post its webhooks to <public_url>/webhooks/<gateway>/<tenant token>; then PaymentCreated
// (with the PIX copy-and-paste code) is appended to payment-<gateway>-<txid> — the stream its
// webhooks use, so a webhook that beats this append lands beside it — and the answer (201) is
// sent once that append is durable.
//
// With an Idempotency-Key the payment id is derived from (tenant, key), and the gateway gets it
// as its own idempotency key where it honours one (Stripe, Mercado Pago): a retry answers 200
// with the recorded payment and `Idempotent-Replayed: true`, whether the first call finished
// or was cut off after the gateway answered. The same key with a different body is 422
// idempotency_key_reused. Without the header every call is a new charge.
//
// No orphan charges: before calling the gateway, ChargeRequested is appended to
// `charge-<payment_id>` (key `charge-requested:<payment_id>`, then `…:<attempt>`). Only the
// request whose intent append was not a duplicate calls the gateway: concurrent retries with
// one key are answered 409 charge_in_doubt, never a second charge. A retry with the same key
// that finds an intent but no recorded payment knows the earlier call's answer was lost: once
// that call has certainly ended (`gateway_deadline_us`, the deadline plus a margin), a gateway that
// finds charges by reference is asked for it — found, it is recorded and answered as the payment;
// not found, a charge is created as the next attempt — and otherwise (PushinPay, or the earlier
// call may still be running) the answer is 409 charge_in_doubt. Intents nobody retries are settled
// by the charge reconciler (reactors/charge_recovery.h).
//
// A key is tried at most 10 times (then 409: a new charge needs a new key).
//
// Other answers: 400 invalid_json / invalid_request (names the field); 422
// gateway_not_configured, unknown_bot (bot_id names no bot of this tenant), unknown_product
// (product_id names no product of that bot: `tally products set`), unknown_plan (plan_id names
// no plan of that bot: `tally plans set`), amount_mismatch (a plan's charge must cost the plan's
// price; its customer.id must be "tg:<chat>"); 502 gateway_rejected /
// gateway_credentials_rejected / gateway_unavailable; 504 gateway_timeout (the charge may exist:
// retry with the same key); 503 database_unavailable.
//
// Handle blocks on the gateway and the database: call it from a worker thread. Thread-safe.

#include <chrono>
#include <string>

#include <optional>

#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "http/charge_decisions.h"
#include "http/message.h"
#include "http/server.h"
#include "http/ttl_cache.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "tenants/secret_box.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

struct ChargeApiOptions {
  // Tally's public base URL, as gateways reach it ("https://pay.example.com").
  std::string public_url;
  // When an earlier attempt with the same Idempotency-Key has certainly ended, answered or not:
  // longer than the transport's deadline, with a margin (`tally serve` uses
  // --charge-settle-after-ms, as the charge reconciler does).
  int64_t gateway_deadline_us = 70 * 1000000;
};

class ChargeApi {
 public:
  // `transport` carries the gateway calls (in production http::GatewayTransport).
  ChargeApi(ledger::EventStore& store, tenants::SecretBox box,
            const gateways::GatewayRegistry& gateways, const ledger::Clock& clock,
            gateways::Transport transport, ChargeApiOptions options);

  void Handle(const HttpRequest& request, Responder respond);

  // Everything after the request was authenticated and read: the charge of `input` for
  // `tenant_id`, `actor` (an API key id) in the metadata, `request_sha256` naming the request
  // for its Idempotency-Key. Also used by the offer page (an offer link creates its charge).
  HttpResponse Create(const HttpRequest& request, const std::string& request_id,
                      const std::string& tenant_id, const std::string& actor,
                      const std::string& request_sha256, const std::string& idempotency_header,
                      ChargeInput input);

 private:
  // API keys are resolved through the log and kept for a few seconds.
  absl::StatusOr<tenants::ApiPrincipal> Authenticate(const std::string& api_key);
  // The refusal when the charge names a bot that is not this tenant's (422 unknown_bot) or a
  // product the bot does not sell (422 unknown_product); nullopt when it may go on.
  std::optional<HttpResponse> CheckBotAndProduct(const std::string& tenant_id,
                                                 const payments::v1::PaymentCreated& payment);
  // What earlier attempts with this Idempotency-Key left: none (attempt 1: create the
  // charge); an intent and no payment, with the charge that attempt made if the gateway finds
  // it, or the number of the attempt to make (none found: create one); an HTTP refusal when in
  // doubt.
  struct InDoubt {
    std::optional<gateways::CreatedCharge> found;
    std::optional<HttpResponse> refusal;
    int attempt = 1;
  };
  InDoubt ResolveInDoubt(const payments::v1::PaymentCreated& payment,
                         const gateways::Gateway& gateway, const gateways::ApiAccount& account);
  // After the gateway refused attempt `attempt` (a 4xx answer: nothing was created), settles
  // its intent with ChargeUnresolved{NOT_AT_GATEWAY}, so that neither a retry nor the charge
  // reconciler treats it as in doubt. Other failures leave the intent open.
  void RecordRefusal(const payments::v1::PaymentCreated& payment, int attempt,
                     const absl::Status& status);
  // The recorded answer for `append_key`, if a charge was recorded under it.
  absl::StatusOr<std::optional<HttpResponse>> Replay(const std::string& append_key,
                                                     const std::string& request_sha256,
                                                     const std::string& request_id);

  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::GatewayRegistry& gateways_;
  const ledger::Clock& clock_;
  const gateways::Transport transport_;
  const ChargeApiOptions options_;
  TtlCache<tenants::ApiPrincipal> principals_{5 * 1000000};
};

}  // namespace tally::http
