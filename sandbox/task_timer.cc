#include "sandbox/task_timer.h"

namespace tally::sandbox {

TaskTimer::TaskTimer(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskTimer::~TaskTimer() { Shutdown(); }

void TaskTimer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  tasks_.clear();
}

void TaskTimer::RunAt(Clock::time_point due, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    tasks_.emplace(std::make_pair(due, sequence_++), std::move(task));
  }
  cv_.notify_one();
}

size_t TaskTimer::pending() const {
  std::lock_guard lock(mu_);
  return tasks_.size() + running_;
}

void TaskTimer::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (tasks_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = tasks_.begin();
    if (first->first.first > Clock::now()) {
      cv_.wait_until(lock, first->first.first);
      continue;
    }
    std::function<void()> task = std::move(first->second);
    tasks_.erase(first);
    ++running_;
    lock.unlock();
    task();
    lock.lock();
    --running_;
  }
}

}  // namespace tally::sandbox
