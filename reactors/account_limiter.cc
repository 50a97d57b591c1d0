#include "reactors/account_limiter.h"

#include <algorithm>
#include <cmath>

namespace tally::reactors {
namespace {

// The window is stretched to 1/0.85 of the gateway's, so that jitter on the way cannot make the
// calls arrive closer together than the gateway allows.
constexpr double kStretch = 1.0 / 0.85;

// How many calls the window holds, and how long it is.
struct Window {
  size_t calls;
  int64_t length_us;
};

Window WindowOf(const AccountLimits& limits) {
  const double calls = std::max(1.0, std::floor(limits.per_second));
  return {static_cast<size_t>(calls),
          static_cast<int64_t>(std::ceil(calls / limits.per_second * 1e6 * kStretch))};
}

}  // namespace

bool AccountLimiter::TryAcquire(const std::string& account, const AccountLimits& limits,
                                int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  Account& a = accounts_[account];
  if (now_us < a.paused_until_us || a.in_flight >= limits.concurrency) return false;
  int64_t window_us = 0;
  if (limits.per_second > 0) {
    const Window window = WindowOf(limits);
    while (!a.calls.empty() && a.calls.front() <= now_us - window.length_us) a.calls.pop_front();
    if (a.calls.size() + a.granted >= window.calls) return false;
    window_us = window.length_us;
  }
  a.window_us = window_us;
  ++a.granted;
  ++a.in_flight;
  return true;
}

void AccountLimiter::Started(const std::string& account, int64_t at_us) {
  std::lock_guard<std::mutex> lock(mu_);
  Account& a = accounts_[account];
  if (a.granted > 0) --a.granted;
  if (a.window_us == 0) return;  // no rate to keep
  while (!a.calls.empty() && a.calls.front() <= at_us - a.window_us) a.calls.pop_front();
  // Workers start calls in about the order they were granted; keep the window sorted anyway.
  a.calls.insert(std::upper_bound(a.calls.begin(), a.calls.end(), at_us), at_us);
}

int64_t AccountLimiter::ReadyAtUs(const std::string& account, const AccountLimits& limits,
                                  int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = accounts_.find(account);
  if (it == accounts_.end()) return now_us;
  const Account& a = it->second;
  int64_t ready = std::max(now_us, a.paused_until_us);
  if (limits.per_second > 0) {
    const Window window = WindowOf(limits);
    const size_t started_places = window.calls - std::min<size_t>(window.calls, a.granted);
    if (started_places == 0) return ready;  // a granted call must start first
    if (a.calls.size() >= started_places) {
      // The started call whose leaving the window makes room.
      ready = std::max(ready, a.calls[a.calls.size() - started_places] + window.length_us);
    }
  }
  return ready;
}

void AccountLimiter::Release(const std::string& account) {
  std::lock_guard<std::mutex> lock(mu_);
  Account& a = accounts_[account];
  if (a.in_flight > 0) --a.in_flight;
}

void AccountLimiter::Pause(const std::string& account, int64_t until_us) {
  std::lock_guard<std::mutex> lock(mu_);
  Account& a = accounts_[account];
  a.paused_until_us = std::max(a.paused_until_us, until_us);
}

}  // namespace tally::reactors
