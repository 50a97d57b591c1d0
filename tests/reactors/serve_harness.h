#pragma once
// A seller's world run by real `tally serve` processes, for tests that stop and kill them.
//
//  - A scratch database; the sandbox in this process (so it outlives every kill of a serve
//    process); a tenant with Stripe (signed webhooks) and PushinPay (unsigned: confirmed by a
//    poll) accounts at the sandbox; Telegram bots, each selling product "vip", optionally with a
//    Meta pixel whose Conversions API token the sandbox knows, or does not (it then answers
//    190, invalid token).
//  - An HTTP serve process (charges, webhooks, delivery links; projections by default) on a
//    port fixed for the test, so that a restart keeps the URLs gateways were given, and a
//    reactors serve process that tests kill and restart.
//  - What the sandbox received (Telegram messages per chat, Conversions API events per
//    event_id), the log grouped by stream, the reactors' status, and a bounded wait until
//    every reactor and projection has folded the whole log with nothing due or in flight.
//
// Driven from the test's thread; ChargeAndPay may run on another thread while the test kills
// the reactors process.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/client.h"
#include "ledger/event_store.h"
#include "ledger/scratch_database.h"
#include "reactors/operations.h"
#include "sandbox/sandbox.h"
#include "tenants/secret_box.h"
#include "tests/support/pg.h"
#include "tests/support/serve_process.h"

namespace tally::testing {

inline constexpr char kHarnessMasterKey[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct BotSpec {
  std::string token;     // "<bot id>:<secret>"
  std::string pixel_id;  // "": no Meta configuration
  std::string meta_trigger = "paid";
  // false: the sandbox answers every call for the pixel 400, code 190 (invalid OAuth token).
  bool meta_token_valid = true;
};

struct ChargeSpec {
  std::string gateway;      // "stripe" or "pushinpay"
  std::string bot_id;       // sells product "vip"
  std::string customer_id;  // "tg:<chat>" is delivered through Telegram
};

struct Payment {
  std::string payment_id;
  std::string gateway;
  std::string transaction_id;
  std::string stream_id;
  std::string bot_id;
  std::string customer_id;
};

// How many of `events` have `type` ("tally.payments.v1.DeliveryIssued").
int CountOf(const std::vector<ledger::RecordedEvent>& events, const std::string& type);

// Attempts of an outbox kind ("Delivery", "MetaPurchase") recorded in a stream with no outcome:
// lost in a crash (the process died between the attempt and its outcome), each a possible
// duplicate.
int LostAttempts(const std::vector<ledger::RecordedEvent>& events, const std::string& kind);

class ServeHarness {
 public:
  ServeHarness(std::vector<BotSpec> bots, sandbox::Faults faults = {});
  ~ServeHarness();

  // The process that serves HTTP (roles e.g. "http,projections", or every role), on the
  // test's fixed port; StopHttp sends SIGTERM and REQUIREs exit 0.
  void StartHttp(const std::string& roles = "http,projections",
                 std::vector<std::string> extra_args = {});
  void StopHttp();
  // The process that runs the reactors (roles e.g. "reactors"), with `extra_args` (e.g.
  // {"--gateway-timeout-ms", "1500"}); KillRepeatedly restarts it the same way.
  void StartReactors(const std::string& roles = "reactors",
                     std::vector<std::string> extra_args = {});
  void KillReactors();
  void StopReactors();  // SIGTERM; REQUIREs exit 0
  ServeProcess& reactors_process() { return *reactors_; }

  // Creates each charge through POST /v1/payments and pays it at the sandbox at once, on
  // `threads` client threads. Asserts nothing, so it may run on a thread of its own: the
  // caller REQUIREs `errors` to be empty.
  struct Charged {
    std::vector<Payment> payments;
    std::vector<std::string> errors;
  };
  Charged ChargeAndPay(const std::vector<ChargeSpec>& charges, int threads = 8);
  // POST /v1/payments for `spec` with `idempotency_key` ("": none); the answer, whatever it is.
  http::ClientResponse CreateCharge(const ChargeSpec& spec, const std::string& idempotency_key);
  // The charges the sandbox's gateways hold with Tally's payment id as their reference.
  // (PushinPay keeps no reference: count its charges with ChargesAt("pushinpay").)
  int ChargesAtGateways(const std::string& payment_id);
  int ChargesAt(const std::string& gateway);
  // Waits (at most `limit`) until the sandbox has delivered every webhook, and REQUIREs that
  // every payment's stream holds its gateway's webhook: acknowledged means in the log.
  void WaitWebhooksAcknowledged(const std::vector<Payment>& payments,
                                std::chrono::seconds limit = std::chrono::seconds(60));

  // Kills the reactors process with SIGKILL after a random 0.5–2 s (seeded), restarts it at
  // once, and again, until `enough()` holds or `limit` has passed. Returns the kills.
  int KillRepeatedly(const std::function<bool()>& enough, std::chrono::seconds limit,
                     uint64_t seed);

  // Telegram delivers "/start" from person `user` (a private chat of the same id) to the bot's
  // webhook at the HTTP process, as update `update_id`; the HTTP status answered.
  int StartBot(const std::string& bot_id, int64_t user, int64_t update_id);

  // The person in `chat` blocks the bots (Telegram answers 403), or allows them again.
  bool BlockChat(int64_t chat);
  bool UnblockChat(int64_t chat);

  // Messages the Telegram simulator received, per chat; the texts sent to one chat, in order.
  std::map<int64_t, int> TelegramMessagesPerChat();
  std::vector<std::string> TelegramTexts(int64_t chat);
  // The HTTP process's base URL ("http://127.0.0.1:<port>").
  std::string HttpUrl() const;
  // GET `url`.
  http::ClientResponse Get(const std::string& url);
  // Pays (or refunds, or expires: `action`) a charge at the sandbox.
  int ActOnCharge(const std::string& gateway, const std::string& transaction_id,
                  const std::string& action);
  // The Conversions API events the Meta simulator kept, deduplicated as Meta counts them
  // (pixel, event name, event id): how often each was received, and at which pixel.
  struct MetaEvent {
    std::string pixel_id;
    std::string event_name;
    int receipts = 0;
  };
  struct MetaEvents {
    int64_t unique = 0;
    int64_t raw_receipts = 0;
    std::multimap<std::string, MetaEvent> by_event_id;  // one entry per event kept
  };
  MetaEvents MetaEventsReceived();

  // Every event, grouped by stream, in position order.
  std::map<std::string, std::vector<ledger::RecordedEvent>> Streams();
  std::vector<reactors::ReactorPartitionStatus> Status();
  // Waits (at most `limit`) until every reactor and projection has folded the whole log, no
  // outbox item is due or in flight, and `also()` holds. REQUIREs it, printing the status.
  void WaitQuiet(std::chrono::seconds limit, const std::function<bool()>& also = nullptr);
  // Runs `tally <args> --database <url>`.
  CommandResult Tally(const std::string& args);

  const std::string& url() const { return db_->url(); }
  ledger::EventStore& store() { return *store_; }
  const std::string& tenant_id() const { return tenant_id_; }
  // The tenant's owner API key, and the sandbox's base URL (its /sandbox/... control routes).
  const std::string& api_key() const { return api_key_; }
  std::string SandboxUrl() const;
  // A request to the HTTP role's `path` with `key` as the bearer token (a JSON body if any).
  http::ClientResponse Api(const std::string& method, const std::string& path,
                           const std::string& key, const std::string& body = "");

 private:
  // Why the reactors are not quiet yet; "" when they are.
  std::string NotQuiet();
  http::ClientResponse Send(const std::string& method, const std::string& url,
                            const std::string& body,
                            std::vector<std::pair<std::string, std::string>> headers = {});

  std::unique_ptr<ledger::ScratchDatabase> db_;
  std::unique_ptr<ledger::EventStore> store_;
  tenants::SecretBox box_ = *tenants::SecretBox::FromHex(kHarnessMasterKey);
  std::vector<BotSpec> bots_;
  std::map<std::string, std::string> webhook_secrets_;  // bot id -> Telegram's secret token
  http::HttpClient client_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::string tenant_id_, api_key_, webhook_token_;
  int http_port_ = 0;
  std::unique_ptr<ServeProcess> http_;
  std::unique_ptr<ServeProcess> reactors_;
  std::string reactors_roles_ = "reactors";
  std::vector<std::string> reactors_extra_args_;
};

}  // namespace tally::testing
