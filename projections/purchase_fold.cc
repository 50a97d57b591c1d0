#include "projections/purchase_fold.h"

#include "absl/strings/str_cat.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::projections {

namespace pb = payments::v1;

absl::StatusOr<PurchaseEffect> ApplyPurchaseEvent(PurchaseState& state,
                                                  const ledger::RecordedEvent& event) {
  auto bad_payload = [&] {
    return absl::DataLossError(
        absl::StrCat("position ", event.position, ": payload of ", event.type, " does not parse"));
  };
  if (event.type == "tally.payments.v1.MetaPurchaseRequested") {
    if (!state.sent) state.state = "requested";
    return PurchaseEffect::kApplied;
  }
  if (event.type == "tally.payments.v1.MetaPurchaseSucceeded") {
    pb::MetaPurchaseSucceeded succeeded;
    if (!succeeded.ParseFromString(event.payload)) return bad_payload();
    ++state.attempts;
    if (succeeded.event_id().empty() || succeeded.events_received() < 1) {
      return PurchaseEffect::kSuccessWithoutEventId;
    }
    if (!state.sent) {
      state.sent = true;
      state.meta_event_id = succeeded.event_id();
      state.sent_at_us = event.recorded_at_us;
      state.state = "sent";
    }
    return PurchaseEffect::kApplied;
  }
  if (event.type == "tally.payments.v1.MetaPurchaseFailed") {
    pb::MetaPurchaseFailed failed;
    if (!failed.ParseFromString(event.payload)) return bad_payload();
    ++state.attempts;
    state.last_error = failed.error();
    if (!state.sent) state.state = "failed";
    return PurchaseEffect::kApplied;
  }
  return PurchaseEffect::kNone;
}

}  // namespace tally::projections
