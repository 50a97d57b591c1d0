#pragma once
// Upsells and downsells (seed 000: the field system's offers lived in an in-memory scheduler
// that was often not running, so they were never sent). Here each offer is an event and a
// durable timer (reactors/timers.h):
//
//  - UpsellReactor (reactor "upsells") follows the log. On the event that makes a payment (not
//    itself an offer's — no chains — nor a subscription plan's) paid AND confirmed, each upsell
//    offer its bot had at that point of the log — for its product, or for any when the offer names
//    no trigger — is scheduled at paid time + delay; on a charge's creation, each downsell offer
//    likewise, at creation + delay (an offer configured later never reaches back to earlier sales):
//    UpsellScheduled in the payment's stream, key `upsell:<payment_id>:<offer_id>`.
//  - UpsellTimers is the timer kind "upsell". When the timer fires, the conditions are checked
//    again from the log: the offer still active; for an upsell the parent still paid (not
//    refunded or charged back); for a downsell the parent still unpaid; the buyer (the parent's
//    customer, same tenant and bot) does not already own the offer's product — a paid,
//    confirmed, not refunded payment for it, found as reactors/customer_purchases.h says (from
//    the payments projection plus the log it has not folded yet: exact, not lagging; a
//    projection too far behind delays the decision, the timer is retried). Then UpsellSent (the
//    message, with the link <public URL>/offers/<token> that creates the offer's charge,
//    carrying the parent) or UpsellCancelled{reason}, in `offer-<payment_id>-<offer_id>`,
//    both under the one key `offer-decision:<payment_id>:<offer_id>`: a timer fired twice
//    decides once, whatever changed in between.
//  - UpsellMessageKind is the outbox kind "upsell_message" that sends UpsellSent's message
//    through TelegramBots.
//
// GET /offers/<token> (http/offer_page.h) reads the decision and checks again when opened.
//
// Thread-safe as Reactor, TimerKind and OutboxKind require.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "ledger/clock.h"
#include "ledger/connection_pool.h"
#include "ledger/event_store.h"
#include "reactors/outbox.h"
#include "reactors/reactor.h"
#include "reactors/telegram.h"
#include "reactors/timers.h"
#include "tenants/bot_directory.h"

namespace tally::reactors {

// "<payment_id>.<offer_id>.<32 hex digits of HMAC-SHA256(secret, payment_id ":" offer_id)>".
std::string OfferToken(const std::string& secret, const std::string& payment_id,
                       const std::string& offer_id);

// The (payment id, offer id) of a genuine token; nullopt for anything forged or malformed.
std::optional<std::pair<std::string, std::string>> VerifyOfferToken(const std::string& secret,
                                                                    const std::string& token);

// The offer token secret, derived from the master key.
std::string OfferSecretFromMasterKey(const std::string& master_key_hex);

// A bot's offers and products as configured before `before_position` (0: now), read from its
// stream without opening any secret. DataLoss for an event that does not parse.
struct BotOffers {
  std::map<std::string, tenants::OfferSettings> offers;  // active ones
  std::map<std::string, tenants::ProductSettings> products;
};
absl::StatusOr<BotOffers> OffersAsOf(ledger::EventStore& store, const std::string& tenant_id,
                                     const std::string& bot_id, int64_t before_position);

class UpsellReactor final : public Reactor {
 public:
  // `time_scale` > 1 (demos and tests) makes each offer's delay that many times shorter.
  UpsellReactor(ledger::EventStore& store, const ledger::Clock& clock, double time_scale = 1);
  std::string name() const override { return "upsells"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;

 private:
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const double time_scale_;
};

struct OfferOptions {
  std::string public_url;    // where buyers open offer links
  std::string offer_secret;  // signs offer tokens (derive from the master key)
  std::string database_url;  // reads the payments projection (what the buyer owns)
};

class UpsellTimers {
 public:
  UpsellTimers(ledger::EventStore& store, const ledger::Clock& clock, OfferOptions options);
  const TimerKind& kind() const { return kind_; }

 private:
  absl::Status Fire(const TimerItem& item);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const OfferOptions options_;
  std::unique_ptr<ledger::ConnectionPool> readers_;
  TimerKind kind_;
};

class UpsellMessageKind {
 public:
  // Its messages go out through `telegram` (not owned).
  explicit UpsellMessageKind(TelegramBots& telegram);
  const OutboxKind& kind() const { return kind_; }

 private:
  OutboxKind kind_;
};

}  // namespace tally::reactors
