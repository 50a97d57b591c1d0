#pragma once
// Welcome recovery (seed 004): every person who starts a seller's bot gets its welcome message
// once — including the ones who started it while something else was broken.
//
//  - WelcomeReactor (reactor "welcome") follows the log. On LeadStarted, when the bot had a
//    welcome text at that point of the log (the latest WelcomeConfigured before it) and the
//    lead's stream held no WelcomeIssued before this /start, it appends WelcomeIssued to the lead's
//    stream with key `welcome:<bot>:<telegram user>`: one welcome per lead, whatever is replayed. A
//    lead who started before the bot had a welcome gets it when they return; one who got it is not
//    sent another. A lead whose welcome failed terminally (they had blocked the bot) and who starts
//    it again is retried: OutboxRetryRequested, key `welcome-retry:<stream>:<position of the
//    /start>`.
//  - WelcomeKind is the outbox kind that sends it through TelegramBots (reactors/telegram.h):
//    WelcomeAttempted before each call, then WelcomeSent or WelcomeFailed (parked when
//    terminal: `tally reactors parked --reactor welcome`).
//
// It decides from the log alone: no projection's schema can stop welcomes (seed 004's deploy
// outran its migration and lost every /start for hours).
//
// Thread-safe as Reactor and OutboxKind require.

#include <string>

#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/outbox.h"
#include "reactors/reactor.h"
#include "reactors/telegram.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

class WelcomeReactor final : public Reactor {
 public:
  WelcomeReactor(ledger::EventStore& store, const ledger::Clock& clock);
  std::string name() const override { return "welcome"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;

 private:
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
};

class WelcomeKind {
 public:
  // Its messages go out through `telegram` (not owned).
  explicit WelcomeKind(TelegramBots& telegram);
  const OutboxKind& kind() const { return kind_; }

 private:
  OutboxKind kind_;
};

}  // namespace tally::reactors
