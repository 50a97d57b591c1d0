#pragma once
// For tests on real PostgreSQL: every projection's runner on every partition, as `tally serve`
// starts them, and waiting until they have folded the whole log.

#include <memory>
#include <string>
#include <vector>

#include "projections/projection.h"
#include "projections/runner.h"

namespace tally::testing {

struct ProjectionRunners {
  // `base` gives the runners' timings; its database_url and partition are set here.
  ProjectionRunners(const std::string& url, int partitions, projections::RunnerOptions base = {});
  ~ProjectionRunners();  // stops them

  std::vector<std::unique_ptr<projections::Projection>> projections = projections::AllProjections();
  std::vector<std::unique_ptr<projections::ProjectionRunner>> runners;
};

// The log's head position per partition, in partition order.
std::vector<int64_t> LogHeads(const std::string& url);

// REQUIREs (within 60 s) that every projection of the binary exists on every partition and its
// checkpoints reach the heads the log had when called.
void WaitProjectionsCaughtUp(const std::string& url);

}  // namespace tally::testing
