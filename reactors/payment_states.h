#pragma once
// What a deciding reactor (delivery, Meta Purchase) knows of a payment as of the event it was
// handed: the payment's state folded incrementally from its stream's events as they pass, in
// position order. The reactors use it as a gate: only an event after which the payment could
// need their decision (paid, confirmed, created, not decided yet) is worth reading the stream
// back for; they then decide on what they read, as before. The conditions a decision needs
// become true only at an event of the payment's own stream, and the gate opens at that event,
// so a decision can come no later than it did with a read per event.
//
// A stream is folded from its first event on. One first seen further on (after a restart, a
// takeover, an eviction) or out of step (a batch handed again after a rollback) is read from
// the store once, through the event's version. At most `capacity` streams are kept per
// partition, the oldest out first.
//
// Thread-safe: one instance may serve the runners of several partitions (each partition's
// streams are folded by that partition's runner alone). The store is not owned.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ledger/event.h"
#include "ledger/event_store.h"
#include "projections/payment_fold.h"

namespace tally::reactors {

class PaymentStates {
 public:
  explicit PaymentStates(ledger::EventStore& store, size_t capacity = 10000);

  // The state of `event`'s payment stream through `event`, which must be of a payment stream.
  // DataLoss when an event does not parse; the store's errors as they come.
  absl::StatusOr<projections::PaymentState> Through(const ledger::RecordedEvent& event);

 private:
  struct Entry {
    projections::PaymentState state;
    int64_t version = 0;  // the stream version folded through
  };
  struct Partition {
    std::mutex mu;
    absl::flat_hash_map<std::string, Entry> entries;
    std::deque<std::string> order;  // streams, oldest first
  };

  absl::StatusOr<Entry> ReadThrough(const ledger::RecordedEvent& event);

  ledger::EventStore& store_;
  const size_t capacity_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Partition>> partitions_;
};

}  // namespace tally::reactors
