#include "sandbox/poll_accounting.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;
using std::chrono::microseconds;

// No earlier poll of the transaction: no gap.
constexpr microseconds kNoGap{-1};

}  // namespace

PollAccounting::PollAccounting(const std::vector<std::string>& gateways) {
  for (const std::string& gateway : gateways) services_[gateway];
}

void PollAccounting::AddAccount(const std::string& gateway, const std::string& api_key) {
  services_[gateway].accounts[api_key];
}

void PollAccounting::Record(const std::string& gateway, const std::string& api_key,
                            const std::string& transaction, Clock::time_point at) {
  Service& service = services_[gateway];
  microseconds gap = kNoGap;
  auto [last, first_poll] = service.last_poll.try_emplace({api_key, transaction}, at);
  if (!first_poll) {
    gap = std::chrono::duration_cast<microseconds>(at - last->second);
    last->second = at;
  }
  service.all.Count(at, gap);
  service.accounts[api_key].Count(at, gap);
}

void PollAccounting::Counter::Count(Clock::time_point at, microseconds gap) {
  ++polls;
  // The window is (at - 1 s, at]: a poll exactly one second before is outside it.
  while (!last_second.empty() && last_second.front() <= at - std::chrono::seconds(1)) {
    last_second.pop_front();
  }
  last_second.push_back(at);
  max_in_any_second = std::max<int64_t>(max_in_any_second, last_second.size());
  if (gap != kNoGap && (min_gap_us < 0 || gap.count() < min_gap_us)) min_gap_us = gap.count();
}

std::string PollAccounting::Counter::Json(const std::string& extra) const {
  return absl::StrCat(R"({"polls":)", polls, R"(,"max_in_any_second":)", max_in_any_second,
                      R"(,"min_gap_ms_same_transaction":)", min_gap_us < 0 ? -1 : min_gap_us / 1000,
                      extra, "}");
}

std::string PollAccounting::Json() const {
  std::vector<std::string> services;
  for (const auto& [name, service] : services_) {
    std::vector<std::string> accounts;
    for (const auto& [key, counter] : service.accounts) {
      accounts.push_back(absl::StrCat(JsonQuote(key), ":", counter.Json("")));
    }
    services.push_back(absl::StrCat(
        JsonQuote(name), ":",
        service.all.Json(absl::StrCat(R"(,"accounts":{)", absl::StrJoin(accounts, ","), "}"))));
  }
  return absl::StrCat(R"({"services":{)", absl::StrJoin(services, ","), "}}");
}

}  // namespace tally::sandbox
