#pragma once
// Per-account limits on calls to a gateway (an account is a tenant's configuration of one
// gateway): a rate, a cap on calls in flight, and a pause when the gateway answered 429 (until
// its Retry-After). One account's limits never slow another. Thread-safe.
//
// The rate is a sliding window, as gateways state their limits ("5 queries per second"): at
// most floor(per_second) calls (at least one) in any window of floor(per_second) / per_second
// seconds — a second for a whole rate — stretched to 1/0.85 (about 18% longer) for jitter on the
// way (a loaded machine can hold one call back tens of milliseconds while the next leaves on time).
// A place in the window is dated from when the call goes out (Started), not from when it was
// granted: a call granted and then held up (waiting for a worker) keeps its place until it starts,
// so the calls as the gateway sees them are within the limit whatever the delay between the two. A
// call that finds room goes at once: two payments of one account a few milliseconds apart are
// both polled now, not the second a fifth of a second later; a backlog still drains at the rate.

#include <cstdint>
#include <deque>
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
  // True, taking a place in the window and a concurrency slot, when `account` may call now.
  // Every call granted must be Started, then Released.
  bool TryAcquire(const std::string& account, const AccountLimits& limits, int64_t now_us);
  // The call granted goes out now (`at_us`): its place in the window is dated from then. A call
  // that ends up not being made is Started all the same (its place is kept, which is safe).
  void Started(const std::string& account, int64_t at_us);
  // When `account` may next have a call as far as its rate and its pause go (`now_us` when it
  // may now): the moment to try again after TryAcquire said no, unless a call granted must
  // start or end first.
  int64_t ReadyAtUs(const std::string& account, const AccountLimits& limits, int64_t now_us);
  // Gives the concurrency slot back.
  void Release(const std::string& account);
  // No call for `account` before `until_us`.
  void Pause(const std::string& account, int64_t until_us);

 private:
  struct Account {
    std::deque<int64_t> calls;  // when the calls still in the window started, in order
    int granted = 0;            // granted, not started yet: each holds a place in the window
    int64_t window_us = 0;      // as of the last grant; 0: no rate
    int in_flight = 0;
    int64_t paused_until_us = 0;
  };
  std::mutex mu_;
  std::map<std::string, Account> accounts_;
};

}  // namespace tally::reactors
