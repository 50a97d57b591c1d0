// The account limiter as a gateway sees it: never more calls in any second than the rate, dated
// from when they go out; a call that finds room goes at once; one account's calls never slow
// another's; concurrency and pauses hold.

#include "reactors/account_limiter.h"

#include <doctest/doctest.h>

#include <deque>
#include <random>

namespace tally::reactors {
namespace {

constexpr int64_t kSecond = 1'000'000;

TEST_CASE("calls with room go at once, and the next waits until the first leaves the window") {
  AccountLimiter limiter;
  const AccountLimits limits{5, 100};
  for (int i = 0; i < 5; ++i) {
    CHECK(limiter.TryAcquire("t:pushinpay", limits, 1000 + i));
    limiter.Started("t:pushinpay", 1000 + i);
  }
  CHECK_FALSE(limiter.TryAcquire("t:pushinpay", limits, 1005));
  const int64_t ready = limiter.ReadyAtUs("t:pushinpay", limits, 1005);
  CHECK(ready >= 1000 + kSecond);  // a whole second after the first, and a little more
  CHECK(ready <= 1000 + kSecond * 12 / 10);
  CHECK_FALSE(limiter.TryAcquire("t:pushinpay", limits, ready - 1));
  CHECK(limiter.TryAcquire("t:pushinpay", limits, ready));
  // Another account is not slowed.
  CHECK(limiter.TryAcquire("u:pushinpay", limits, 1006));
}

TEST_CASE("a call granted but held up keeps its place, dated from when it goes out") {
  AccountLimiter limiter;
  const AccountLimits limits{1, 100};
  CHECK(limiter.TryAcquire("a", limits, 0));
  // Not started yet: the window is taken, and there is no telling when it frees.
  CHECK_FALSE(limiter.TryAcquire("a", limits, 2 * kSecond));
  CHECK(limiter.ReadyAtUs("a", limits, 2 * kSecond) == 2 * kSecond);
  limiter.Started("a", 2 * kSecond + 300'000);  // it went out late
  CHECK_FALSE(limiter.TryAcquire("a", limits, 3 * kSecond));
  CHECK(limiter.ReadyAtUs("a", limits, 3 * kSecond) > 3 * kSecond + 300'000);
}

TEST_CASE("whatever the attempts and delays, no second holds more calls than the rate") {
  for (const double rate : {0.5, 1.0, 5.0, 10.0, 20.0}) {
    CAPTURE(rate);
    AccountLimiter limiter;
    const AccountLimits limits{rate, 1 << 20};
    std::mt19937_64 random(7);
    std::deque<int64_t> last_second;
    int64_t now = 0, granted = 0, started_at = 0;
    for (int i = 0; i < 20000; ++i) {
      now += random() % 40'000;
      if (!limiter.TryAcquire("a", limits, now)) continue;
      ++granted;
      // Started after a delay of up to 100 ms, never before an earlier call.
      started_at = std::max(started_at, now + static_cast<int64_t>(random() % 100'000));
      limiter.Started("a", started_at);
      limiter.Release("a");
      while (!last_second.empty() && last_second.front() <= started_at - kSecond) {
        last_second.pop_front();
      }
      last_second.push_back(started_at);
      CHECK(last_second.size() <= static_cast<size_t>(std::max(1.0, rate)));
    }
    // ...and a steady demand is served at close to 85% of the rate (the window's margin).
    CHECK(granted >= static_cast<int64_t>(rate * 0.85 * now / kSecond * 0.9));
  }
}

TEST_CASE("concurrency and pauses hold, and lifted rates leave only them") {
  AccountLimiter limiter;
  const AccountLimits two_at_once{0, 2};
  CHECK(limiter.TryAcquire("a", two_at_once, 0));
  CHECK(limiter.TryAcquire("a", two_at_once, 0));
  CHECK_FALSE(limiter.TryAcquire("a", two_at_once, 0));
  limiter.Started("a", 0);
  limiter.Release("a");
  CHECK(limiter.TryAcquire("a", two_at_once, 1));
  limiter.Pause("b", 30 * kSecond);
  CHECK_FALSE(limiter.TryAcquire("b", AccountLimits{5, 4}, 29 * kSecond));
  CHECK(limiter.ReadyAtUs("b", AccountLimits{5, 4}, 29 * kSecond) == 30 * kSecond);
  CHECK(limiter.TryAcquire("b", AccountLimits{5, 4}, 30 * kSecond));
}

}  // namespace
}  // namespace tally::reactors
