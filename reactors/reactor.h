#pragma once
// A reactor follows the log and reacts to events: it appends decision events (a delivery to
// make, a Purchase to send) or folds events into its work list (the outbox, the
// reconciliation queue). ReactorRunner runs one reactor on one partition with the shared
// ledger::LogFollower: one leader per (reactor, partition) across processes, standby takeover,
// catch-up from the checkpoint in reactor_checkpoints, NOTIFY wake-up.
//
// Exactly-once effects. For each batch, in the follower's transaction: the checkpoint row is
// locked and checked; React is called for each event in position order; Settle is called; the
// checkpoint moves to the batch's end; the transaction commits. A reactor that writes tables
// writes them in `txn` (exactly once). A reactor that appends events makes each append durable
// before React returns, or starts it and waits for it in Settle (reactors/batch_appends.h), with
// an idempotency key derived from the cause (`delivery:<payment_id>`): after a crash the batch
// is handed over again, the same keys are appended again, and nothing new is written — the
// checkpoint moves only after the appends are durable.
//
// Errors. DataLoss from React (an event that can never be handled) is poison: the events
// before it are committed, the poison and its position recorded on the checkpoint row, and the
// runner stops on that partition, saying where. Any other error rolls the batch back and the
// follower retries with backoff. Rebuilding projections never involves reactors: their
// checkpoints are their own.
//
// React is called on the runner's thread, one call at a time per runner; one reactor object
// may serve the runners of several partitions, so React must be safe to call concurrently for
// different partitions (the reactors here keep no state between calls but the payment states
// they fold, kept per partition: reactors/payment_states.h). Start and Stop are
// called by the owner, not concurrently; the accessors are thread-safe. The reactor is not
// owned and must outlive the runner.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "ledger/event.h"
#include "ledger/log_follower.h"

namespace tally::reactors {

class JobControl;  // reactors/job_control.h

class Reactor {
 public:
  virtual ~Reactor() = default;
  // Names the checkpoint and the leadership lock ("delivery", "outbox", ...).
  virtual std::string name() const = 0;
  virtual absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) = 0;
  // After the batch's last React, before the checkpoint moves (and after a failed React too,
  // whose batch is then rolled back whatever this answers): effects React started without
  // waiting for them (reactors/batch_appends.h) must be durable when it returns OK. An error
  // rolls the batch back, and it is handed again.
  virtual absl::Status Settle(int partition) { return absl::OkStatus(); }
  // After a batch committed, with the new checkpoint, on the runner's thread. Must be quick.
  virtual void Committed(int partition, int64_t position) {}
};

struct ReactorRunnerOptions {
  std::string database_url;
  int partition = 0;
  size_t batch_size = 500;
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds retry_interval{1000};
  // While it says the job (the reactor's name) is paused, a batch is answered Wait: the
  // checkpoint stays and the batch is offered again after retry_interval. Not owned.
  const JobControl* jobs = nullptr;
};

class ReactorRunner {
 public:
  ReactorRunner(Reactor& reactor, ReactorRunnerOptions options);
  ~ReactorRunner();

  void Start();
  void Stop();

  ledger::LogFollower::State state() const;
  int64_t position() const;
  absl::Status status() const;
  const std::string& reactor_name() const;

 private:
  class Handler;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<ledger::LogFollower> follower_;
};

}  // namespace tally::reactors
