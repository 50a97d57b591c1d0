#pragma once
// Where projections live in the database: which versioned tables serve each one
// (projection_state), how far each partition is folded (projection_checkpoints), creating
// those tables and pointing the stable views at them.
//
// Functions taking a transaction do their work in it, so callers can make a table swap and
// its checkpoints one atomic change. Thread-safe (no shared state).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "projections/projection.h"

namespace tally::projections {

// "_v<version>": the suffix of a version's tables.
std::string SuffixFor(int version);

struct LiveVersion {
  int version = 0;
  std::string suffix;
};

// The version serving `name` now (nullopt before the first start). With `lock`, takes the
// row FOR SHARE (live folding) so a swap, which takes it FOR UPDATE, waits for the batch.
std::optional<LiveVersion> ReadLiveVersion(pqxx::transaction_base& txn, const std::string& name,
                                           bool lock);

// Drops and creates the projection's tables under `suffix`, readable by the service role.
// Without primary keys for a bulk load, which adds them afterwards.
void CreateTables(pqxx::transaction_base& txn, const Projection& projection,
                  const std::string& suffix, bool primary_keys = true);

// Points the views (payments, revenue_daily, ...) at the tables under `suffix`.
void PointViews(pqxx::transaction_base& txn, const Projection& projection,
                const std::string& suffix);

// Makes `suffix` the live version with the given checkpoints (index = partition).
void SetLive(pqxx::transaction_base& txn, const Projection& projection, const std::string& suffix,
             const std::vector<int64_t>& checkpoints);

// First start: creates the binary's version with checkpoints at 0 unless some version exists.
// Safe when several runners start at once.
absl::Status EnsureInitialized(const std::string& database_url, const Projection& projection);

struct PartitionStatus {
  int partition = 0;
  int64_t checkpoint = 0;
  int64_t head = 0;
  double lag_seconds = 0;  // age of the oldest event not yet folded
  std::string error;       // set when stopped by a poison event
  int64_t error_position = 0;
};

struct ProjectionStatus {
  std::string name;
  int binary_version = 0;
  int live_version = 0;  // 0: not initialized
  std::string rebuilding;
  std::vector<PartitionStatus> partitions;
  // live | rebuilding | stopped: <error> | behind binary (rebuild needed) | not started
  std::string state;
};

absl::StatusOr<std::vector<ProjectionStatus>> ReadStatus(
    const std::string& database_url, const std::vector<std::unique_ptr<Projection>>& projections);

}  // namespace tally::projections
