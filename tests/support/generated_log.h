#pragma once
// For tests on real PostgreSQL: a log of generated tenants and payment lifecycles
// (app/lifecycle_generator.h), appended one event at a time as webhooks would arrive.

#include <map>
#include <string>

#include "app/lifecycle_generator.h"
#include "ledger/event_store.h"

namespace tally::testing {

// Appends the generator's tenants, then payments 0..payments-1; REQUIREs each append. Returns
// the tenant of every stream appended to.
std::map<std::string, std::string> AppendGeneratedLog(ledger::EventStore& store,
                                                      app::LifecycleGenerator& generator,
                                                      int payments);

}  // namespace tally::testing
