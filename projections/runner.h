#pragma once
// Keeps one projection live on one partition of the log.
//
// The runner is a ledger::LogFollower named "projection.<name>": across any number of
// `tally serve` processes exactly one runner folds each partition, and the others stand by and
// take over when the holder's session ends. For each batch, in the follower's transaction, the
// runner checks the checkpoint row (taken FOR UPDATE) still says where the batch starts, folds
// the batch into the tables and moves the checkpoint: a crash anywhere applies no event twice
// and skips none. The same transaction NOTIFYs channel tally_projection_committed with
// "<projection>:<partition>:<checkpoint>", so listeners (the dashboard's live feed,
// http/live_feed.h) hear of a batch when its rows become visible.
//
// An event the fold cannot apply (poison), or a stored row the fold cannot read back, stops the
// runner: the events before it in the batch are committed, and the error and its position are
// recorded on the checkpoint row for `tally projections status`. Nothing is skipped. When the
// database serves another version of the projection than this binary folds, the runner waits
// (a rebuild must swap first).
//
// Start/Stop and the accessors are thread-safe; folding happens on the follower's thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "ledger/log_follower.h"
#include "projections/projection.h"

namespace tally::projections {

struct RunnerOptions {
  std::string database_url;
  int partition = 0;
  size_t batch_size = 1000;
  // Fallback when a NOTIFY is missed.
  std::chrono::milliseconds poll_interval{500};
  // How often a standby runner tries the lock, how long to wait for a rebuild to swap, and the
  // first backoff after an error.
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

  State state() const;
  int64_t position() const { return follower_.position(); }
  // The poison error once stopped by one; the last connection error while retrying.
  absl::Status error() const { return follower_.status(); }

 private:
  class Handler;

  std::unique_ptr<Handler> handler_;  // before follower_, which uses it
  ledger::LogFollower follower_;
};

}  // namespace tally::projections
