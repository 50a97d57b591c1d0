#pragma once
// Verifies the log against its hash chain, partition by partition.
//
// For each partition, in one REPEATABLE READ snapshot: positions must be exactly 1..N, each
// row's prev_hash must be the previous row's hash (32 zero bytes for the first), each hash must
// equal SHA-256(prev_hash || canonical(event)) recomputed here, and `ledger_heads` must point at
// the last row. The first violation is reported with its position. Read-only; thread-safe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tally::ledger {

struct PartitionVerification {
  int partition = 0;
  int64_t events = 0;    // events verified before the first problem (all when ok)
  std::string head_hex;  // hash of the last verified event (hex)
  bool ok = true;
  int64_t bad_position = 0;  // first position that failed, when !ok
  std::string problem;       // what failed there
};

using VerifyProgress = std::function<void(int partition, int64_t events_done)>;

absl::StatusOr<std::vector<PartitionVerification>> VerifyLog(const std::string& database_url,
                                                             const VerifyProgress& progress = {});

}  // namespace tally::ledger
