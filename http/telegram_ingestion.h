#pragma once
// POST /telegram/<bot_id>: a seller's bot's webhook (Telegram Bot API `Update`s).
//
// The request must carry the bot's secret in X-Telegram-Bot-Api-Secret-Token (compared as
// SHA-256 digests in constant time; 401 otherwise; 404 for a bot never registered). A private
// message "/start" or "/start <payload>" (also "/start@bot_name <payload>") appends LeadStarted
// to lead-<bot>-<telegram user> and answers 200 once durable; every other update is answered
// 200 and not recorded (Telegram would otherwise retry it). Telegram redelivers an update until
// it gets a 2xx: the idempotency key telegram-update:<bot>:<update_id> makes a redelivery
// answer 200 and write nothing. 400 for a body that is not an Update; 503 when the database is
// unavailable, so Telegram retries.
//
// Handle blocks on the database for the bot lookup (cached 5 s): call it from a worker
// thread. Thread-safe.

#include <string>

#include "http/message.h"
#include "http/server.h"
#include "http/ttl_cache.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "tenants/bot_directory.h"

namespace tally::http {

class TelegramIngestion {
 public:
  TelegramIngestion(ledger::EventStore& store, const ledger::Clock& clock);

  void Handle(const HttpRequest& request, const std::string& bot_id, Responder respond);

 private:
  absl::StatusOr<tenants::ResolvedBot> Resolve(const std::string& bot_id);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  TtlCache<tenants::ResolvedBot> bots_{5 * 1000000};
};

}  // namespace tally::http
