#pragma once
// Sellers' Telegram bots, kept as events in `bot-<id>` streams (BotRegistered), where the id is
// Telegram's own bot id (the digits before ':' in the token). Like tenants, a bot is found
// through the log alone — by the idempotency key "bot:<id>" of its BotRegistered — so the
// /start webhook never depends on a projection's schema (seeds/004).
//
// The Bot API token is sealed with the master key; the webhook secret (Telegram's
// X-Telegram-Bot-Api-Secret-Token) is shown once and kept only as its SHA-256. Thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "ledger/event_store.h"
#include "tenants/secret_box.h"

namespace tally::tenants {

struct NewBot {
  std::string bot_id;
  std::string webhook_secret;  // show once (or pass to setWebhook); stored only as SHA-256
};

// InvalidArgument for a token that is not "<digits>:<secret>"; NotFound for an unknown tenant;
// AlreadyExists when the bot is registered already.
absl::StatusOr<NewBot> RegisterBot(ledger::EventStore& store, const SecretBox& box,
                                   const std::string& tenant_id, const std::string& bot_token,
                                   const std::string& username);

struct ResolvedBot {
  std::string bot_id;
  std::string tenant_id;
  std::string webhook_secret_sha256;
};

// NotFound for a bot that was never registered.
absl::StatusOr<ResolvedBot> ResolveBot(ledger::EventStore& store, const std::string& bot_id);

}  // namespace tally::tenants
