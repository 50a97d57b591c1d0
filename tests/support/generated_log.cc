#include "tests/support/generated_log.h"

#include <doctest/doctest.h>

namespace tally::testing {

std::map<std::string, std::string> AppendGeneratedLog(ledger::EventStore& store,
                                                      app::LifecycleGenerator& generator,
                                                      int payments) {
  std::map<std::string, std::string> tenant_of;
  for (auto& t : generator.Tenants()) {
    REQUIRE(store.Append({t.tenant_id, t.stream_id, ledger::ExpectedVersion::Any(), t.events, ""})
                .ok());
    tenant_of[t.stream_id] = t.tenant_id;
  }
  for (int n = 0; n < payments; ++n) {
    app::Lifecycle life = generator.Payment(n);
    tenant_of[life.stream_id] = life.tenant_id;
    for (auto& event : life.events) {
      REQUIRE(store
                  .Append({life.tenant_id,
                           life.stream_id,
                           ledger::ExpectedVersion::Any(),
                           {std::move(event)},
                           ""})
                  .ok());
    }
  }
  return tenant_of;
}

}  // namespace tally::testing
