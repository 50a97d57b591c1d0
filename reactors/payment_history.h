#pragma once
// One payment's history read back from its stream for a deciding reactor or timer: its state
// folded through a position (with the state just before that position's event, to tell the
// event that made it paid from later ones), and its PaymentCreated when it has one (a Stripe
// invoice's payment, say, has only webhooks). Thread-safe (stateless; the store is).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/event_store.h"
#include "projections/payment_fold.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {

struct PaymentHistory {
  projections::PaymentState state;
  payments::v1::PaymentCreated created;  // empty unless state.created
  int64_t created_at_us = 0;
  int64_t created_position = 0;
};

// The payment of `stream_id` folded through `through_position` (0: all of it); `before`, when
// given, receives its state just before that position's event. DataLoss for an event that does
// not parse; the store's errors as they come.
absl::StatusOr<PaymentHistory> ReadPaymentHistory(ledger::EventStore& store, int partition,
                                                  const std::string& stream_id,
                                                  int64_t through_position = 0,
                                                  projections::PaymentState* before = nullptr);

// Paid and, for gateways that do not sign their webhooks, confirmed by a poll.
inline bool PaidAndConfirmed(const projections::PaymentState& s) {
  return s.status == projections::PaymentStatus::kPaid && s.paid_confirmed;
}

}  // namespace tally::reactors
