#pragma once
// Per-account limits on calls to a gateway (an account is a tenant's configuration of one
// gateway): a rate (token bucket with a burst of one: calls evenly spaced, 20% under the limit), a
// cap on calls in flight, and a pause when the gateway answered 429 (until its Retry-After). One
// account's limits never slow another. Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace tally::reactors {

struct AccountLimits {
  double per_second = 5;  // 0: no rate (the limits lifted); pauses and concurrency still hold
  int concurrency = 4;
};

class AccountLimiter {
 public:
  // True, taking a token and a concurrency slot, when `account` may call now.
  bool TryAcquire(const std::string& account, const AccountLimits& limits, int64_t now_us);
  // Gives the concurrency slot back.
  void Release(const std::string& account);
  // No call for `account` before `until_us`.
  void Pause(const std::string& account, int64_t until_us);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t refilled_at_us = 0;
    int in_flight = 0;
    int64_t paused_until_us = 0;
    bool started = false;
  };
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace tally::reactors
