#pragma once
// The appends a deciding reactor (delivery, Meta Purchase) makes while it handles a batch,
// started without waiting and waited for together at the batch's end (Reactor::Settle), before
// its checkpoint moves: the group-commit appender then makes a batch's decisions durable in one
// or a few commits instead of one durable round trip per decision, each in turn on the
// runner's thread. Exactly-once is unchanged: the checkpoint still moves only once every
// decision before it is durable, and a batch handed again repeats the same keys.
//
// A stream with an append started in the current batch is Pending until Settle: a later event
// of that stream in the same batch need not be decided again (the decision, and its key, would
// be the same).
//
// Settle can also name the appends that wrote something new (not a repeated key), each then
// durable: a reactor offers those to its sender (the outbox's fast lane, reactors/outbox.h).
//
// Thread-safe: one instance may serve the runners of several partitions; Start, Pending and
// Settle for one partition come from that partition's runner alone. The store is not owned.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "ledger/event.h"
#include "ledger/event_store.h"
#include "reactors/outbox.h"

namespace tally::reactors {

class BatchAppends {
 public:
  // An append of the batch that wrote its events (the key was new), with its first event.
  struct Written {
    int partition = 0;      // where it was appended
    std::string tenant_id;  // the request's tenant key
    std::string stream_id;
    std::string payload;  // the first event's payload
  };

  explicit BatchAppends(ledger::EventStore& store);

  // Starts `request` as part of `partition`'s current batch.
  void Start(int partition, ledger::AppendRequest request);
  // Whether an append for `stream_id` was started in `partition`'s current batch.
  bool Pending(int partition, const std::string& stream_id);
  // Waits for every append started in `partition`'s current batch and ends the batch: OK when
  // all are durable (a repeated key counts), else the first error. `written`, when given,
  // receives the batch's appends that wrote something new — durable whatever is answered.
  absl::Status Settle(int partition, std::vector<Written>* written = nullptr);
  // Settle, then hands each new append to `offer` (when set) as a fresh outbox item, attempt 1:
  // each is durable whatever is answered (a failed one is not among them).
  absl::Status SettleAndOffer(int partition, const OutboxOffer& offer);

 private:
  struct Partition {
    std::mutex mu;
    std::condition_variable done;
    int outstanding = 0;
    absl::Status error;
    absl::flat_hash_set<std::string> streams;
    std::vector<Written> written;
  };
  Partition& For(int partition);

  ledger::EventStore& store_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Partition>> partitions_;
};

}  // namespace tally::reactors
