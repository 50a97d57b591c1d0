#include "reactors/pacer.h"

#include <algorithm>
#include <thread>

namespace tally::reactors {
namespace {
int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Pacer::Pacer(double per_second)
    : spacing_us_(per_second > 0 ? static_cast<int64_t>(1e6 / per_second) : 0) {}

std::chrono::microseconds Pacer::Reserve(const std::string& key) {
  const int64_t now = SteadyMicros();
  std::lock_guard<std::mutex> lock(mu_);
  if (next_us_.size() > 100000) {
    for (auto it = next_us_.begin(); it != next_us_.end();) {
      it = it->second < now ? next_us_.erase(it) : std::next(it);
    }
  }
  int64_t& next = next_us_[key];
  const int64_t slot = std::max(next, now);
  next = slot + spacing_us_;
  return std::chrono::microseconds(slot - now);
}

void Pacer::Wait(const std::string& key) {
  const std::chrono::microseconds wait = Reserve(key);
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

}  // namespace tally::reactors
