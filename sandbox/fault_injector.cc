#include "sandbox/fault_injector.h"

namespace tally::sandbox {

FaultInjector::FaultInjector(Faults faults, uint64_t seed) : faults_(faults), rng_(seed) {}

Faults FaultInjector::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

void FaultInjector::Update(absl::FunctionRef<void(Faults&)> change) {
  std::lock_guard lock(mu_);
  change(faults_);
}

bool FaultInjector::Chance(double rate) {
  if (rate <= 0) return false;
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
}

int FaultInjector::Uniform(int min, int max) {
  std::lock_guard lock(mu_);
  return std::uniform_int_distribution<int>(min, max)(rng_);
}

uint32_t FaultInjector::Random32() {
  std::lock_guard lock(mu_);
  return static_cast<uint32_t>(rng_());
}

}  // namespace tally::sandbox
