#pragma once
// Delivery: every confirmed paid payment is delivered to its buyer once (a subscription plan's
// payment is delivered as its subscription's access message: reactors/subscriptions.h).
//
//  - DeliveryReactor (reactor "delivery") follows the log. When a payment stream's events make
//    the payment paid AND confirmed (a signed webhook or a confirming poll; an unsigned "paid"
//    alone never delivers) and not refunded, it appends DeliveryIssued to the payment's stream
//    with key `delivery:<payment_id>`: the Telegram chat (the buyer's customer id "tg:<chat>"),
//    the product and the message text, whose delivery link <public URL>/delivery/<token> the
//    sender puts in at send time (the log holds a placeholder: the link is a bearer
//    credential, and the token is kept only as its SHA-256). The token is deterministic (payment id
//    + HMAC of it under the server's delivery secret), so deciding again yields the same link and,
//    by the key, no second event. A payment without a Telegram buyer or bot is not delivered (its
//    delivery state stays empty). Each payment's state is folded as its events pass
//    (reactors/payment_states.h); the stream is read back, and the decision made on what it holds
//    then, only after an event that leaves the payment deliverable. Once a batch's DeliveryIssued
//    events are durable (Settle), each new one (not a repeated key) is offered to the delivery
//    sender of its partition (SetOffer; the outbox's fast lane, reactors/outbox.h), which sends it
//    at once when it leads; otherwise it is sent once the outbox fold has it, as before.
//  - DeliveryKind is the outbox kind that sends it: Telegram `sendMessage` through TelegramBots
//    (reactors/telegram.h), paced per bot (about 30/s) and per chat (about 1/s) before each
//    attempt is recorded; 429 waits `retry_after`; 403 (blocked by the user) and 400 (chat not
//    found) are terminal and parked; 5xx and transport errors are retried.
//  - VerifyDeliveryToken checks a link's token in constant time and names its payment.
//
// Thread-safe as Reactor and OutboxKind require.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gateways/gateway.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/batch_appends.h"
#include "reactors/outbox.h"
#include "reactors/payment_states.h"
#include "reactors/reactor.h"
#include "reactors/telegram.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

// Where DeliveryIssued.message_text puts the delivery link: the link is a bearer credential,
// so the log holds this placeholder and the sender substitutes <public URL>/delivery/<token>
// at send time (texts recorded before hold the link itself and are sent as they are).
inline constexpr char kDeliveryLinkPlaceholder[] = "{delivery_link}";

// "<payment_id>.<32 hex digits of HMAC-SHA256(secret, payment_id)>".
std::string DeliveryToken(const std::string& secret, const std::string& payment_id);

// The payment id of a genuine token; nullopt for anything forged, truncated or malformed.
std::optional<std::string> VerifyDeliveryToken(const std::string& secret, const std::string& token);

// The delivery secret, derived from the master key so that no other secret needs keeping.
std::string DeliverySecretFromMasterKey(const std::string& master_key_hex);

struct DeliveryOptions {
  std::string public_url;       // where buyers open delivery links
  std::string delivery_secret;  // see DeliverySecretFromMasterKey
};

class DeliveryReactor final : public Reactor {
 public:
  DeliveryReactor(ledger::EventStore& store, const ledger::Clock& clock, DeliveryOptions options);
  std::string name() const override { return "delivery"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  // Makes the batch's decisions durable, then offers each new one (not a repeated key) to
  // the sender of its kind and partition (the outbox's fast lane; reactors/outbox.h).
  absl::Status Settle(int partition) override;
  // Where new DeliveryIssued events go once durable; set before the runners start (optional).
  void SetOffer(OutboxOffer offer) { offer_ = std::move(offer); }

 private:
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const DeliveryOptions options_;
  PaymentStates states_;
  BatchAppends appends_;  // the batch's decisions, durable before its checkpoint moves
  OutboxOffer offer_;
};

// The delivery outbox kind: its messages go out through `telegram` (not owned).
class DeliveryKind {
 public:
  // `options` builds each message's link at send time (the log keeps only a placeholder).
  DeliveryKind(TelegramBots& telegram, DeliveryOptions options);
  const OutboxKind& kind() const { return kind_; }

 private:
  const DeliveryOptions options_;
  OutboxKind kind_;
};

}  // namespace tally::reactors
