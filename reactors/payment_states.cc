#include "reactors/payment_states.h"

namespace tally::reactors {

PaymentStates::PaymentStates(ledger::EventStore& store, size_t capacity)
    : store_(store), capacity_(capacity) {}

absl::StatusOr<PaymentStates::Entry> PaymentStates::ReadThrough(
    const ledger::RecordedEvent& event) {
  auto events = store_.ReadStreamInPartition(event.partition, event.stream_id);
  if (!events.ok()) return events.status();
  Entry entry;
  for (const ledger::RecordedEvent& e : *events) {
    if (e.stream_version > event.stream_version) break;
    if (auto applied = projections::ApplyPaymentEvent(entry.state, e); !applied.ok()) {
      return applied.status();
    }
    entry.version = e.stream_version;
  }
  return entry;
}

absl::StatusOr<projections::PaymentState> PaymentStates::Through(
    const ledger::RecordedEvent& event) {
  Partition* partition;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<Partition>& slot = partitions_[event.partition];
    if (slot == nullptr) slot = std::make_unique<Partition>();
    partition = slot.get();
  }
  std::lock_guard<std::mutex> lock(partition->mu);
  auto it = partition->entries.find(event.stream_id);
  if (it != partition->entries.end()) {
    Entry& entry = it->second;
    if (entry.version == event.stream_version) return entry.state;  // handed again
    if (entry.version == event.stream_version - 1) {
      if (auto applied = projections::ApplyPaymentEvent(entry.state, event); !applied.ok()) {
        return applied.status();
      }
      entry.version = event.stream_version;
      return entry.state;
    }
  }
  Entry entry;
  if (event.stream_version == 1) {
    if (auto applied = projections::ApplyPaymentEvent(entry.state, event); !applied.ok()) {
      return applied.status();
    }
    entry.version = 1;
  } else {
    auto read = ReadThrough(event);
    if (!read.ok()) return read.status();
    entry = *std::move(read);
  }
  if (it != partition->entries.end()) {
    it->second = std::move(entry);
    return it->second.state;
  }
  partition->order.push_back(event.stream_id);
  const projections::PaymentState state = entry.state;
  partition->entries.emplace(event.stream_id, std::move(entry));
  while (partition->entries.size() > capacity_ && !partition->order.empty()) {
    partition->entries.erase(partition->order.front());
    partition->order.pop_front();
  }
  return state;
}

}  // namespace tally::reactors
