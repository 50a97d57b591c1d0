#pragma once
// Retry delays: exponential backoff with full jitter, capped, never sooner than the service
// asked (Retry-After, Telegram's retry_after). Pure; thread-compatible (the caller owns the
// random engine).

#include <cstdint>
#include <random>

namespace tally::reactors {

struct BackoffPolicy {
  int64_t base_us = 1'000'000;         // the ceiling of the first retry's delay
  int64_t cap_us = 15 * 60 * 1000000;  // no delay ceiling above this
};

// A delay uniform in [0, min(cap, base * 2^(attempt-1))] (attempt >= 1), raised to
// `retry_after_us` when the service asked for at least that.
int64_t RetryDelayUs(const BackoffPolicy& policy, int attempt, int64_t retry_after_us,
                     std::mt19937_64& random);

}  // namespace tally::reactors
