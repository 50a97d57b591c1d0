#pragma once
// Meta Purchase tracking for one payment, folded from MetaPurchaseRequested / Succeeded /
// Failed. `sent` and `meta_event_id` are set together, by MetaPurchaseSucceeded alone (with an
// event id and events_received >= 1), and never unset: the flag cannot exist without the id
// (the field report in seeds/002 had the flag set before the send, with a NULL id). Pure.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/event.h"

namespace tally::projections {

struct PurchaseState {
  std::string state;  // "" | requested | failed | sent
  bool sent = false;
  std::string meta_event_id;
  int32_t attempts = 0;
  std::string last_error;
  int64_t sent_at_us = 0;
};

enum class PurchaseEffect { kNone, kApplied, kSuccessWithoutEventId };

// kNone for an event type that is not a Meta purchase event; DataLoss for a bad payload.
absl::StatusOr<PurchaseEffect> ApplyPurchaseEvent(PurchaseState& state,
                                                  const ledger::RecordedEvent& event);

}  // namespace tally::projections
