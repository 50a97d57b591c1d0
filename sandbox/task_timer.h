#pragma once
// Runs tasks at their due time on a few threads of its own: the sandbox's webhook deliveries
// (delayed, duplicated, reordered) and its deliberately late answers. Tasks due at the same
// time run in the order they were added. Destruction (or Shutdown) drops tasks not yet due
// and joins.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace tally::sandbox {

class TaskTimer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TaskTimer(int threads = 2);
  ~TaskTimer();
  TaskTimer(const TaskTimer&) = delete;
  TaskTimer& operator=(const TaskTimer&) = delete;

  void RunAt(Clock::time_point due, std::function<void()> task);
  void RunAfter(std::chrono::milliseconds delay, std::function<void()> task) {
    RunAt(Clock::now() + delay, std::move(task));
  }
  // Tasks waiting or running.
  size_t pending() const;
  // Drops the tasks not yet due, waits for running ones and joins the threads (idempotent);
  // RunAt after it does nothing.
  void Shutdown();

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::pair<Clock::time_point, uint64_t>, std::function<void()>> tasks_;
  uint64_t sequence_ = 0;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tally::sandbox
