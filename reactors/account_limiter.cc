#include "reactors/account_limiter.h"

#include <algorithm>

namespace tally::reactors {
namespace {

// Paced 20% under the limit: a call is sent by a worker some time after its token is taken, and a
// loaded machine can delay one call by tens of milliseconds while the next leaves on time; the
// margin keeps their arrival at the gateway within its limit.
constexpr double kPacing = 0.8;

}  // namespace

bool AccountLimiter::TryAcquire(const std::string& account, const AccountLimits& limits,
                                int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[account];
  // A burst of one: calls are spaced at least 1/per_second apart, so no window of a second
  // ever holds more than the rate allows (plus the one at its edge).
  const double burst = 1.0;
  if (!b.started) {
    b.started = true;
    b.tokens = burst;
    b.refilled_at_us = now_us;
  }
  const bool rated = limits.per_second > 0;
  if (rated && now_us > b.refilled_at_us) {
    b.tokens =
        std::min(burst, b.tokens + (now_us - b.refilled_at_us) * limits.per_second * kPacing / 1e6);
    b.refilled_at_us = now_us;
  }
  if (now_us < b.paused_until_us || b.in_flight >= limits.concurrency ||
      (rated && b.tokens < 1.0)) {
    return false;
  }
  if (rated) b.tokens -= 1.0;
  ++b.in_flight;
  return true;
}

void AccountLimiter::Release(const std::string& account) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[account];
  if (b.in_flight > 0) --b.in_flight;
}

void AccountLimiter::Pause(const std::string& account, int64_t until_us) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[account];
  b.paused_until_us = std::max(b.paused_until_us, until_us);
  b.tokens = 0;
}

}  // namespace tally::reactors
