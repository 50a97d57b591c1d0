#pragma once
// What the simulated gateways saw of status polls, so that tests and benchmarks can assert that
// Tally kept within a gateway's limits: per (gateway, API key) and per gateway, the polls made,
// the most made in any sliding one-second window, and the smallest gap between two polls of one
// transaction. Every authenticated status request counts, whatever it was answered (404, 429,
// 503, late). Lookups by reference and creations are not polls.
//
// Not thread-safe: the charge book calls it under its own lock.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tally::sandbox {

class PollAccounting {
 public:
  using Clock = std::chrono::steady_clock;

  // `gateways`: the names shown (with zero polls) before any poll.
  explicit PollAccounting(const std::vector<std::string>& gateways);

  // An account shown (with zero polls) before its first poll.
  void AddAccount(const std::string& gateway, const std::string& api_key);

  // A status request of `transaction` (as the gateway compares ids) by `api_key`, at `at`.
  // Times must not go backwards.
  void Record(const std::string& gateway, const std::string& api_key,
              const std::string& transaction, Clock::time_point at);

  // {"services":{"<gateway>":{"polls","max_in_any_second","min_gap_ms_same_transaction",
  //   "accounts":{"<api key>":{"polls","max_in_any_second","min_gap_ms_same_transaction"}}}}}
  // min_gap_ms_same_transaction is whole milliseconds rounded down, -1 when no transaction was
  // polled twice. Keyed by name so that a dotted path (services.atomopay.accounts.k.polls)
  // reads one number.
  std::string Json() const;

 private:
  struct Counter {
    int64_t polls = 0;
    int64_t max_in_any_second = 0;
    int64_t min_gap_us = -1;
    std::deque<Clock::time_point> last_second;  // the polls of the last second, oldest first

    void Count(Clock::time_point at, std::chrono::microseconds gap_since_last_of_transaction);
    std::string Json(const std::string& extra) const;
  };
  struct Service {
    Counter all;
    std::map<std::string, Counter> accounts;  // by API key
    // (API key, transaction) -> when it was last polled
    std::map<std::pair<std::string, std::string>, Clock::time_point> last_poll;
  };

  std::map<std::string, Service> services_;  // by gateway name
};

}  // namespace tally::sandbox
