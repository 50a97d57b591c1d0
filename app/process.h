#pragma once
// Runs a child process and captures its output (for pgbench baselines). No shell is involved,
// so arguments need no quoting.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tally::app {

struct ProcessResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr, interleaved
};

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv);

// The first of `candidates` that is an executable file, or of PATH's entries for `name`.
std::string FindExecutable(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace tally::app
