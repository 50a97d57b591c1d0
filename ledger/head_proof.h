#pragma once
// Checks signed heads (ledger/head_statement.h) against the log as it is now.
//
// For each signed partition, in one REPEATABLE READ read-only snapshot, the hash chain is
// recomputed from genesis over the rows' contents (SHA-256(prev || canonical(event)), with
// each prev being the hash computed here, never a stored column) up to the signed
// position, and compared with the signed head. Stored prev_hash/hash columns and ledger_heads
// are not trusted: someone who rewrote rows and chain consistently is caught because the
// recomputed head cannot equal the one signed before the rewrite. Rows after the signed
// position (appended later) are not read. Read-only; thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/head_statement.h"

namespace tally::ledger {

enum class HeadMatch {
  kVerified,          // the log holds exactly the signed head at the signed position
  kHeadDiffers,       // the recomputed hash at that position is another, or a position before
                      // it is missing
  kBeyondLog,         // the log holds fewer events than the signed position
  kMissingPartition,  // the log has no such partition
};

struct HeadCheck {
  int partition = 0;
  int64_t position = 0;  // the signed position
  HeadMatch match = HeadMatch::kVerified;
  int64_t log_position = 0;      // kBeyondLog: events present in order from position 1
  std::string log_head_hex;      // kHeadDiffers: the recomputed hash at the signed position
  int64_t missing_position = 0;  // kHeadDiffers: a gap before the signed position (0: none)
};

// One HeadCheck per signed head, in the statement's order. The signature is not looked at:
// check it first (VerifyStatementSignature). Errors: the database's (unreachable, unmigrated).
absl::StatusOr<std::vector<HeadCheck>> CheckSignedHeads(const std::string& database_url,
                                                        const std::vector<SignedHead>& heads);

}  // namespace tally::ledger
