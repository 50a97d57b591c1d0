#pragma once
// `tally sandbox`: loopback simulators of the five gateways, Meta's Conversions API and
// Telegram's Bot API, on one HTTP port, each under its own path prefix (the base URL Tally is
// configured with):
//
//   /pushinpay    POST /api/pix/cashIn, GET /api/transactions/{id}
//   /paradise     POST /api/v1/transaction.php, GET /api/v1/query.php?action=get_transaction&id=
//   /atomopay     POST /api/public/v1/transactions?api_token=, GET .../transactions/{hash}
//   /mercadopago  POST /v1/payments, GET /v1/payments/{id}
//   /stripe       POST /v1/payment_intents, GET /v1/payment_intents/{id}
//   /meta         POST /{version}/{pixel_id}/events?access_token=
//   /telegram     POST|GET /bot{token}/{sendMessage|setWebhook|deleteWebhook|getMe}
//
// They answer in each service's documented shapes and send webhooks the way the real services
// do: signed (Stripe-Signature, Mercado Pago x-signature) or carrying the account's secret
// header (the unsigned gateways; Telegram's X-Telegram-Bot-Api-Secret-Token), retried with
// backoff on anything but 2xx. Faults are injected at configured rates: webhooks dropped,
// duplicated, delayed, reordered; polls failed with 5xx or answered too late; Meta 5xx.
//
// Control API (JSON), for tests and the demo:
//   POST /sandbox/accounts      {"service","api_key","webhook_secret","webhook_url"}
//                               an account the service accepts; webhook_url is where Stripe
//                               sends events (others take a URL per charge)
//   POST /sandbox/faults        Faults fields, any subset
//   POST /sandbox/charges/{service}/{id}/{pay|refund|expire}
//   GET  /sandbox/charges       every charge, with its status
//   POST /sandbox/telegram/updates {"token","user_id","text","first_name","username"}
//   GET  /sandbox/meta/events   the Conversions API requests received
//   GET  /sandbox/telegram/messages   the messages bots sent
//   GET  /sandbox/stats         webhook counters and deliveries still pending
//
// Each service lives in a file of its own beside this one; the gateways share the charge book
// (charge_book.h) and differ only through SimulatedGateway (simulated_gateway.h).
//
// Nothing in Tally's production path knows it is talking to the sandbox. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tally::sandbox {

struct Faults {
  double drop_rate = 0;       // webhooks never sent
  double duplicate_rate = 0;  // webhooks sent twice (same bytes)
  int delay_min_ms = 0;       // each webhook waits a uniform delay in [min, max]
  int delay_max_ms = 0;
  double reorder_rate = 0;  // webhooks held back reorder_hold_ms so later ones overtake
  int reorder_hold_ms = 300;
  double poll_error_rate = 0;    // status polls answered 503
  double poll_timeout_rate = 0;  // status polls answered after poll_timeout_ms
  int poll_timeout_ms = 15000;
  double meta_error_rate = 0;  // Conversions API calls answered 500
};

struct SandboxOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: a free port
  Faults faults;
  uint64_t seed = 1;  // fault decisions and ids are reproducible for a seed
  // Webhook delivery attempts per notification (the first plus retries with backoff).
  int delivery_attempts = 5;
  int retry_base_ms = 200;
};

struct SandboxStats {
  uint64_t webhooks_sent = 0;  // attempts answered 2xx
  uint64_t webhooks_failed_attempts = 0;
  uint64_t webhooks_dropped = 0;
  uint64_t webhooks_duplicated = 0;
  uint64_t webhooks_given_up = 0;
  uint64_t pending = 0;  // deliveries and late answers not yet done
};

class Sandbox {
 public:
  static absl::StatusOr<std::unique_ptr<Sandbox>> Start(SandboxOptions options);
  virtual ~Sandbox() = default;

  virtual uint16_t port() const = 0;
  // http://host:port/<service>
  virtual std::string BaseUrl(const std::string& service) const = 0;
  virtual SandboxStats stats() const = 0;
  virtual void Wait() = 0;
  virtual void Stop() = 0;
};

}  // namespace tally::sandbox
