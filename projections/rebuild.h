#pragma once
// Rebuilding and verifying projections from the log.
//
// RebuildProjection builds the binary's version of a projection into its own tables while the
// current version keeps serving: it reads the log up to the current heads in bulk (COPY
// binary), folds in memory, writes with COPY, catches up with the live head in batches, then
// in one transaction — holding the projection's state row FOR UPDATE, which waits for live
// batches in flight — folds the last events, moves the checkpoints and points the views at the
// new tables. Live runners notice and continue from the new checkpoints. A rebuild appends
// nothing and calls nothing outside the database: it cannot trigger a side effect. A rebuild
// that fails undoes itself, on a connection of its own: it clears its `rebuilding` marker and
// drops the tables it had not swapped in; projections it had swapped stay swapped.
//
// VerifyProjection folds the log into scratch tables up to the live checkpoints (read in the
// same snapshot as the live tables) and compares order-independent digests of each table;
// when they differ it lists keys that differ.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "projections/projection.h"

namespace tally::projections {

struct RebuildProgress {
  int64_t events_done = 0;
  int64_t events_total = 0;
  double seconds = 0;
  std::string phase;  // "read+fold", "copy", "catch-up", "swap"
};

struct RebuildOptions {
  std::string database_url;
  // The version to build; must be the one this binary folds (0: that one).
  int version = 0;
  // Drop the tables of the version that served before the swap.
  bool drop_old = false;
  std::function<void(const RebuildProgress&)> progress;
};

struct RebuildReport {
  std::string suffix;
  int64_t events = 0;           // folded in bulk
  int64_t catch_up_events = 0;  // folded after the bulk read, up to the swap
  double read_fold_seconds = 0;
  double copy_seconds = 0;
  double total_seconds = 0;
  std::string dropped;  // suffix of dropped tables, if any
};

absl::StatusOr<RebuildReport> RebuildProjection(const Projection& projection,
                                                const RebuildOptions& options);

// Rebuilds several projections with one read of the log feeding all their folds; each is then
// caught up and swapped on its own. `options.version` must be 0.
absl::StatusOr<std::vector<RebuildReport>> RebuildProjections(
    const std::vector<const Projection*>& projections, const RebuildOptions& options);

struct TableComparison {
  std::string table;
  int64_t live_rows = 0;
  int64_t rebuilt_rows = 0;
  bool equal = false;
  std::vector<std::string> differing_keys;  // a few, as text
};

struct VerifyReport {
  bool equal = true;
  std::vector<int64_t> checkpoints;
  std::vector<TableComparison> tables;
};

absl::StatusOr<VerifyReport> VerifyProjection(const Projection& projection,
                                              const std::string& database_url);

}  // namespace tally::projections
