#pragma once
// Meta Purchase (seed 002): every confirmed sale reported to the seller's pixel exactly once,
// and "purchase sent" derived only from Meta's acceptance.
//
//  - MetaPurchaseReactor (reactor "meta_purchase") follows the log. When a payment is paid and
//    confirmed (and not refunded) and its bot has a Meta pixel, it appends MetaPurchaseRequested
//    to the payment's stream with key `meta-purchase:<payment_id>` — on the bot's trigger:
//    "delivery_access" (default: when the buyer first opens the delivery link, whose browser
//    also gives the event its client IP and user agent when the charge carried none) or "paid".
//    The request holds the CAPI event exactly as it will be sent (reactors/meta_capi.h):
//    event_id = the PageView's event id when tracked, else "purchase_<payment_id>", so Meta
//    deduplicates a browser Pixel and this server event, and any repeat of this one.
//    A bot without Meta configuration gets no request: nothing is attempted, and
//    purchase_tracking shows it as not sent. As for delivery, each payment's state is folded as
//    its events pass (reactors/payment_states.h), and the stream is read back only after an
//    event that leaves the payment paid, confirmed and without a Purchase requested. As for
//    delivery, each new request is offered to its sender once durable (SetOffer; the outbox's
//    fast lane, reactors/outbox.h).
//  - MetaKind is the outbox kind that sends it: POST /{version}/{pixel}/events with the bot's
//    current access token (never logged). MetaPurchaseSucceeded only when Meta answered
//    events_received >= 1; otherwise MetaPurchaseFailed, retried with backoff (5xx, timeouts,
//    codes 1/2/4/17/341, events_received 0) or terminal and parked (190 token, permissions,
//    invalid parameter, no configuration, an event that could not be built, an event older than
//    7 days — checked at send time, as Meta would reject the whole request).
//
// purchase_tracking.purchase_sent and meta_event_id come from MetaPurchaseSucceeded alone.

#include <string>

#include "gateways/gateway.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/batch_appends.h"
#include "reactors/outbox.h"
#include "reactors/payment_states.h"
#include "reactors/reactor.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

struct MetaOptions {
  std::string api_base = "https://graph.facebook.com";
  std::string api_version = "v21.0";
  // event_source_url when the charge tracked none (Tally's public URL).
  std::string fallback_source_url;
};

class MetaPurchaseReactor final : public Reactor {
 public:
  MetaPurchaseReactor(ledger::EventStore& store, tenants::SecretBox box, const ledger::Clock& clock,
                      MetaOptions options);
  std::string name() const override { return "meta_purchase"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  // Makes the batch's decisions durable, then offers each new one (not a repeated key) to
  // the sender of its kind and partition (the outbox's fast lane; reactors/outbox.h).
  absl::Status Settle(int partition) override;
  // Where new MetaPurchaseRequested events go once durable; set before the runners start
  // (optional).
  void SetOffer(OutboxOffer offer) { offer_ = std::move(offer); }

 private:
  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const ledger::Clock& clock_;
  const MetaOptions options_;
  PaymentStates states_;
  BatchAppends appends_;  // the batch's decisions, durable before its checkpoint moves
  OutboxOffer offer_;
};

class MetaKind {
 public:
  MetaKind(ledger::EventStore& store, tenants::SecretBox box, gateways::Transport transport,
           const ledger::Clock& clock, MetaOptions options);
  const OutboxKind& kind() const { return kind_; }

 private:
  SendResult Send(const OutboxItem& item);

  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::Transport transport_;
  const ledger::Clock& clock_;
  const MetaOptions options_;
  OutboxKind kind_;
};

}  // namespace tally::reactors
