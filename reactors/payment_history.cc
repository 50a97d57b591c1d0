#include "reactors/payment_history.h"

#include "absl/strings/str_cat.h"

namespace tally::reactors {

absl::StatusOr<PaymentHistory> ReadPaymentHistory(ledger::EventStore& store, int partition,
                                                  const std::string& stream_id,
                                                  int64_t through_position,
                                                  projections::PaymentState* before) {
  auto events = store.ReadStreamInPartition(partition, stream_id);
  if (!events.ok()) return events.status();
  PaymentHistory history;
  for (const auto& e : *events) {
    if (through_position > 0 && e.position > through_position) break;
    if (before != nullptr && e.position == through_position) *before = history.state;
    auto applied = projections::ApplyPaymentEvent(history.state, e);
    if (!applied.ok()) return applied.status();
    if (e.type == "tally.payments.v1.PaymentCreated" && history.created_at_us == 0) {
      if (!history.created.ParseFromString(e.payload)) {
        return absl::DataLossError(absl::StrCat("PaymentCreated at ", e.position));
      }
      history.created_at_us = e.recorded_at_us;
      history.created_position = e.position;
    }
  }
  return history;
}

}  // namespace tally::reactors
