#pragma once
// A live, ordered feed of one partition of the log.
//
// The subscription LISTENs on the partition's channel, then repeatedly reads the events after
// its position and hands them to the handler in position order, in batches. When it has caught
// up it sleeps until a NOTIFY arrives or `poll_interval` passes (the fallback for a missed
// notification). Positions are assigned under the partition's head lock and commit in order,
// so reading `position > last seen` never skips an event whose transaction committed late.
//
// With a checkpoint name, the position is loaded from and saved to `subscription_checkpoints`
// after each batch the handler accepted (at-least-once across restarts; a handler that must be
// exactly-once keeps its own checkpoint in its own transaction and leaves the name empty).
//
// A handler error stops the subscription: status() then reports it and the position of the
// batch that failed. Lost connections are retried with backoff. Start/Stop and the accessors
// are thread-safe; the handler runs on the subscription's own thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "ledger/event.h"
#include "ledger/wakeup.h"

namespace tally::ledger {

struct SubscriptionOptions {
  std::string database_url;
  int partition = 0;
  std::string checkpoint_name;
  // Where to begin when there is no checkpoint (0: the beginning of the log).
  int64_t start_after = 0;
  size_t batch_size = 1000;
  std::chrono::milliseconds poll_interval{1000};
};

using EventBatchHandler = std::function<absl::Status(const std::vector<RecordedEvent>&)>;

class Subscription {
 public:
  Subscription(SubscriptionOptions options, EventBatchHandler handler);
  ~Subscription();

  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  void Start();
  // Wakes the thread and joins it; the handler is not called again after Stop returns.
  void Stop();

  // The last position handed to the handler successfully.
  int64_t position() const { return position_.load(); }
  // OK while running or cleanly stopped; the handler's error once it failed.
  absl::Status status() const;

 private:
  void Run();
  // Returns when stopped or the connection fails (its status).
  absl::Status Follow();

  const SubscriptionOptions options_;
  const EventBatchHandler handler_;
  std::atomic<int64_t> position_{0};
  std::atomic<bool> stopping_{false};
  Wakeup wakeup_;
  mutable std::mutex mu_;
  absl::Status status_;
  std::thread thread_;
};

}  // namespace tally::ledger
