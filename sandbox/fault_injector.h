#pragma once
// The faults the sandbox injects, and the one seeded random source behind everything its
// simulators decide by chance: whether a fault strikes, and the ids and codes they invent. All
// services draw from the same source, so one seed reproduces a run (the same calls in the same
// order give the same ids and the same faults). Thread-safe; its lock is held only inside its
// own calls, so callers may hold theirs.

#include <cstdint>
#include <mutex>
#include <random>

#include "absl/functional/function_ref.h"
#include "sandbox/sandbox.h"

namespace tally::sandbox {

class FaultInjector {
 public:
  FaultInjector(Faults faults, uint64_t seed);

  Faults faults() const;
  // Changes the faults in force in one step, so concurrent callers never see half of a change.
  void Update(absl::FunctionRef<void(Faults&)> change);

  // True with probability `rate`; draws nothing when `rate` is not positive.
  bool Chance(double rate);
  // Uniform in [min, max].
  int Uniform(int min, int max);
  uint32_t Random32();

 private:
  mutable std::mutex mu_;
  Faults faults_;
  std::mt19937_64 rng_;
};

}  // namespace tally::sandbox
