#pragma once
// Stale pending charges (issue 10, seed 003's monthly cleanup done continuously): a payment still
// open 7 days after Tally first saw it ends as PaymentAbandoned{reason "stale"}, key
// `stale:<stream>`, exactly once.
//
// The reconciliation poller (reactors/reconciliation.h) abandons a payment at its expiry plus
// the gateway's grace, but only for payments in its queue, of gateways this binary knows, and
// only once that expiry passes: a charge whose gateway set a far expiry, or one reopened by a
// late webhook, or of a gateway since removed, could stay pending for ever. This timer kind
// ("stale_payment") needs none of that:
//  - The stream's first event (stream version 1: PaymentCreated, or a webhook or poll that beat
//    it) schedules the timer `<stream>` at its recorded time + 7 days, unless that event
//    already settles the payment. A signed webhook or a poll that settles it (paid, refunded,
//    charged back, cancelled, expired, refused) ends the timer, as does any PaymentAbandoned;
//    other events mean nothing to it. An unsigned "paid" does not end it: it is not confirmed.
//  - When it fires, the stream is folded (projections/payment_fold.h): still pending (or never
//    seen a status), or paid only by an unconfirmed webhook, it is abandoned as stale; already
//    abandoned (fired before, or the poller's expiry), nothing more is appended.
//    Anything else means the log disagrees with the events that should have ended the timer:
//    FailedPrecondition, retried with backoff and logged, not guessed at.
// A paid observation after the abandonment still counts (the payment fold flags it late), so
// a late payment is never lost; an abandonment that reaches an unconfirmed paid is recorded by
// the fold as the anomaly abandon_after_close and changes no status.
//
// Only payments whose first event the timers fold sees are covered: on a database whose
// `timers` checkpoint is past older payments, those keep the poller's expiry rule alone.
//
// Thread-safe as TimerKind requires. The store and clock are not owned.

#include <cstdint>

#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/timers.h"

namespace tally::reactors {

inline constexpr int64_t kStaleAfterUs = 7LL * 24 * 3600 * 1'000'000;

class StalePaymentTimers {
 public:
  StalePaymentTimers(ledger::EventStore& store, const ledger::Clock& clock);
  const TimerKind& kind() const { return kind_; }

 private:
  absl::Status Fire(const TimerItem& item);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  TimerKind kind_;
};

}  // namespace tally::reactors
