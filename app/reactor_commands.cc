// tally reactors status | parked | retry.

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/operations.h"

namespace tally::app {

int RunReactorsStatus(const std::string& database_url) {
  ledger::SystemClock clock;
  auto status = reactors::ReadReactorStatus(database_url, clock.NowMicros());
  if (!status.ok()) return Fail(2, std::string(status.status().message()));
  if (status->empty()) {
    std::cout << "no reactor has run yet (start `tally serve` with the reactors role)\n";
    return 0;
  }
  for (const auto& s : *status) {
    std::cout << absl::StrFormat("%-22s partition %d: checkpoint %d of %d, lag %d events",
                                 s.reactor, s.partition, s.checkpoint, s.head,
                                 s.head - s.checkpoint);
    if (s.backlog + s.in_flight + s.parked + s.done > 0) {
      std::cout << absl::StrFormat(
          ", backlog %d, in flight %d, parked %d, done %d, unresolved attempts %d, oldest due "
          "%.1f s ago",
          s.backlog, s.in_flight, s.parked, s.done, s.unresolved_attempts,
          s.oldest_due_age_us / 1e6);
    }
    if (!s.error.empty()) {
      std::cout << absl::StrFormat(", STOPPED at %d: %s", s.error_position, s.error);
    }
    std::cout << "\n";
  }
  return 0;
}

int RunReactorsParked(const std::string& database_url, const std::string& reactor) {
  auto parked = reactors::ReadParked(database_url, reactor);
  if (!parked.ok()) return Fail(2, std::string(parked.status().message()));
  for (const auto& item : *parked) {
    std::cout << absl::StrFormat("%s\tpartition %d\t%s\tattempts %d\t%s\n", item.reactor,
                                 item.partition, item.stream_id, item.attempts, item.last_error);
  }
  std::cerr << parked->size() << " parked\n";
  return 0;
}

int RunReactorsRetry(const std::string& database_url, const std::string& stream, bool all,
                     const std::string& reactor, const std::string& reason) {
  if (stream.empty() == !all) return Fail(2, "name one stream, or --all (not both)");
  ledger::EventStoreOptions options;
  options.database_url = database_url;
  auto store = ledger::EventStore::Open(std::move(options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  const char* user = std::getenv("USER");
  ledger::SystemClock clock;
  auto requested = reactors::RequestRetry(
      **store, database_url, stream, reactor,
      absl::StrCat("operator:", user == nullptr ? "unknown" : user), reason, clock.NowMicros());
  if (!requested.ok()) return Fail(2, std::string(requested.status().message()));
  std::cout << "retry requested for " << *requested << " parked item(s)\n";
  return 0;
}

}  // namespace tally::app
