#pragma once
// `tally sandbox`: loopback simulators of the five gateways, Meta's Conversions API and
// Telegram's Bot API, on one HTTP port, each under its own path prefix (the base URL Tally is
// configured with):
//
//   /pushinpay    POST /api/pix/cashIn, GET /api/transactions/{id}
//   /paradise     POST /api/v1/transaction.php, GET /api/v1/query.php?action=get_transaction&id=,
//                 GET /api/v1/query.php?action=get_transaction_by_reference&reference=
//   /atomopay     POST /api/public/v1/transactions?api_token=, GET .../transactions/{hash},
//                 GET .../transactions?external_reference=&api_token=
//   /mercadopago  POST /v1/payments, GET /v1/payments/{id},
//                 GET /v1/payments/search?external_reference=
//   /stripe       POST /v1/payment_intents, GET /v1/payment_intents/{id},
//                 GET /v1/payment_intents/search?query=metadata['payment_id']:'X'
//   /meta         POST /{version}/{pixel_id}/events?access_token=
//   /telegram     POST|GET /bot{token}/{sendMessage|setWebhook|deleteWebhook|getMe}
//
// They answer in each service's documented shapes and send webhooks the way the real services
// do: signed (Stripe-Signature, Mercado Pago x-signature) or carrying the account's secret
// header (the unsigned gateways; Telegram's X-Telegram-Bot-Api-Secret-Token), retried with
// backoff on anything but 2xx. The searches by reference find the caller's charges carrying the
// reference Tally sent at creation (Paradise `reference`, Atomopay and Mercado Pago
// `external_reference`, Stripe `metadata[payment_id]`; PushinPay has none).
//
// Faults (the Faults fields below) strike at configured rates, each decided by the one seeded
// random source, which draws nothing for a fault whose rate is 0:
//   webhooks    dropped, duplicated, delayed, reordered; none at all from silent_gateways
//   gateways    status polls answered 429 (Retry-After and `retry_after` in the gateway's error
//               shape), 503, or after poll_timeout_ms; create answers held back
//               create_answer_lost_ms after the charge is made (the server cannot close a
//               connection unanswered, so a "lost" answer is one that comes after the caller's
//               deadline: keep create_answer_lost_ms above it)
//   meta        500 {"error":{…,"code":1}}; 200 {"events_received":0} keeping nothing; the
//               answer a call would get, only after meta_timeout_ms (its events are kept: Meta
//               got them)
//   telegram    sendMessage answered 429 {"parameters":{"retry_after"}} or 500
// and, set through their own calls, Meta pixels whose token is invalid and blocked Telegram
// chats. Meta also rejects, as it does, a request with an event older than 7 days (400, code
// 100), and dedupes events by pixel + event_name + event_id. A call answered with an error keeps
// nothing; Telegram keeps only the messages it accepted.
//
// Control API (JSON), for tests and the demo:
//   POST /sandbox/accounts      {"service","api_key","webhook_secret","webhook_url"}
//                               an account the service accepts; webhook_url is where Stripe
//                               sends events (others take a URL per charge)
//   POST /sandbox/faults        Faults fields, any subset; silent_gateways a list of gateway
//                               names (400 naming an unknown one, nothing changed)
//   POST /sandbox/charges/{service}/{id}/{pay|refund|expire}
//   GET  /sandbox/charges       every charge, with its status and reference
//   GET  /sandbox/polls         status polls per gateway and per (gateway, api key): polls,
//                               max_in_any_second, min_gap_ms_same_transaction (-1: none twice)
//   POST /sandbox/telegram/updates {"token","user_id","text","first_name","username"}
//   POST /sandbox/telegram/blocked {"chat_id"[,"bot_id"]}  sendMessage to the chat (from that
//                               bot, or any) answers 403 "bot was blocked by the user";
//                               "blocked":false unblocks it
//   GET  /sandbox/telegram/messages[?bot_id=B][&chat_id=C]  the messages bots sent:
//                               {"messages":[{"bot_id","chat_id","message_id","text",
//                               "received_at_us"}…],"count":N}
//   GET  /sandbox/telegram/members[?chat_id=C]  invite links created, bans and unbans in VIP
//                               chats: {"actions":[{"bot_id","method","chat_id","user_id",
//                               "member_limit","expire_date","at_us"}…],"count":N}
//   POST /sandbox/meta/invalid_token {"pixel_id"}  every call for the pixel answers 400, code 190
//   GET  /sandbox/meta/events[?pixel_id=P]  the events received, deduplicated:
//                               {"unique":U,"raw_receipts":R,"events":[{"pixel_id","event_name",
//                               "event_id","event_time","value","currency","receipts",
//                               "user_data"}…]}
//   GET  /sandbox/stats         webhook counters and deliveries still pending
//
// Each service lives in a file of its own beside this one; the gateways share the charge book
// (charge_book.h) and differ only through SimulatedGateway (simulated_gateway.h).
//
// Nothing in Tally's production path knows it is talking to the sandbox. Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tally::sandbox {

struct Faults {
  double drop_rate = 0;       // webhooks never sent
  double duplicate_rate = 0;  // webhooks sent twice (same bytes)
  int delay_min_ms = 0;       // each webhook waits a uniform delay in [min, max]
  int delay_max_ms = 0;
  double reorder_rate = 0;  // webhooks held back reorder_hold_ms so later ones overtake
  int reorder_hold_ms = 300;
  // Gateways (by name) that send no webhook at all: pay, refund and expire change the charge
  // and nothing goes out (seed 001: Atomopay, for weeks).
  std::vector<std::string> silent_gateways;
  double poll_429_rate = 0;  // status polls answered 429, Retry-After poll_retry_after_s
  int poll_retry_after_s = 2;
  double poll_error_rate = 0;    // status polls answered 503
  double poll_timeout_rate = 0;  // status polls answered after poll_timeout_ms
  int poll_timeout_ms = 15000;
  // Charges created, their answer sent only after create_answer_lost_ms (past the caller's
  // deadline: Tally's default is 10 s).
  double create_answer_lost_rate = 0;
  int create_answer_lost_ms = 15000;
  double meta_error_rate = 0;    // Conversions API calls answered 500 (code 1)
  double meta_timeout_rate = 0;  // answered only after meta_timeout_ms, events kept
  int meta_timeout_ms = 3000;
  double meta_zero_received_rate = 0;  // 200 with events_received 0, events not kept
  double telegram_429_rate = 0;  // sendMessage answered 429, retry_after telegram_retry_after_s
  int telegram_retry_after_s = 1;
  double telegram_error_rate = 0;  // sendMessage answered 500
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
  // InvalidArgument when options.faults.silent_gateways names something that is not a simulated
  // gateway; Unavailable when the address cannot be bound.
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
