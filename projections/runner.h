#pragma once
// Keeps one projection live on one partition of the log.
//
// The runner holds a PostgreSQL advisory lock for (projection, partition) while it works, so
// across any number of `tally serve` processes exactly one folds each partition; the others
// stand by and take over within `lock_retry` when the holder's session ends. While live it
// reads batches after its checkpoint and, in one transaction per batch, checks the checkpoint
// row (taken FOR UPDATE) still says where the batch starts, folds the batch into the tables and
// moves the checkpoint: a crash anywhere applies no event twice and skips none.
//
// An event the fold cannot apply (poison) stops the runner: the events before it in the batch
// are committed, and the error and its position are recorded on the checkpoint row for
// `tally projections status`. Nothing is skipped. When the database serves another version
// of the projection than this binary folds, the runner waits (a rebuild must swap first).
//
// Start/Stop and the accessors are thread-safe; folding happens on the runner's thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "ledger/wakeup.h"
#include "projections/projection.h"

namespace tally::projections {

struct RunnerOptions {
  std::string database_url;
  int partition = 0;
  size_t batch_size = 1000;
  // Fallback when a NOTIFY is missed.
  std::chrono::milliseconds poll_interval{500};
  // How often a standby runner tries the lock, and how long to back off after an error.
  std::chrono::milliseconds lock_retry{1000};
  // Called on the runner's thread after each committed batch with its last position.
  std::function<void(int64_t position)> on_applied;
};

class ProjectionRunner {
 public:
  enum class State { kStarting, kStandby, kLive, kWaitingForRebuild, kStopped };

  ProjectionRunner(const Projection& projection, RunnerOptions options);
  ~ProjectionRunner();

  void Start();
  void Stop();

  State state() const { return state_.load(); }
  int64_t position() const { return position_.load(); }
  // The poison error once stopped by one; the last connection error while retrying.
  absl::Status error() const;

 private:
  void Run();
  // Returns when stopped, stopped by poison (error set) or on a connection error.
  absl::Status Follow();

  const Projection& projection_;
  const RunnerOptions options_;
  std::atomic<State> state_{State::kStarting};
  std::atomic<int64_t> position_{0};
  std::atomic<bool> stopping_{false};
  ledger::Wakeup wakeup_;
  mutable std::mutex mu_;
  absl::Status error_;
  std::thread thread_;
};

}  // namespace tally::projections
