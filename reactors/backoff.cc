#include "reactors/backoff.h"

#include <algorithm>

namespace tally::reactors {

int64_t RetryDelayUs(const BackoffPolicy& policy, int attempt, int64_t retry_after_us,
                     std::mt19937_64& random) {
  int64_t ceiling = policy.base_us;
  for (int i = 1; i < attempt && ceiling < policy.cap_us; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, policy.cap_us);
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(ceiling, 0));
  return std::max(jitter(random), retry_after_us);
}

}  // namespace tally::reactors
