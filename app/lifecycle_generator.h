#pragma once
// Realistic synthetic payment lifecycles for benchmarks: tenants (some in zones with DST),
// bots, the five gateways, PaymentCreated (one in ten an upsell, one a downsell), pending and paid
// webhooks (signed or not, some duplicated), confirming polls, deliveries, Meta purchase attempts
// and successes, refunds, expiries. Deterministic for a seed.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ledger/event.h"

namespace tally::app {

struct Lifecycle {
  std::string tenant_id;
  std::string stream_id;
  std::vector<ledger::EventData> events;
};

class LifecycleGenerator {
 public:
  explicit LifecycleGenerator(uint64_t seed, int tenants = 20) : random_(seed), tenants_(tenants) {}

  // One TenantCreated per tenant, to append first.
  std::vector<Lifecycle> Tenants();
  // The whole life of payment number `n`.
  Lifecycle Payment(int64_t n);

 private:
  std::mt19937_64 random_;
  int tenants_;
};

}  // namespace tally::app
