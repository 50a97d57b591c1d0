#pragma once
// Reactor checkpoints (table reactor_checkpoints): how far a reactor or work-list fold has
// handled a partition of the log, and the poison that stopped it. Every function works in the
// caller's transaction, so a checkpoint moves atomically with what the reactor wrote.
// Library exceptions become Status here. Thread-safe (no shared state).

#include <cstdint>
#include <string>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tally::reactors {

// The checkpoint of (name, partition), created at 0 when missing. With `lock`, the row is
// taken FOR UPDATE, so a concurrent writer of the same checkpoint waits.
absl::StatusOr<int64_t> ReadCheckpoint(pqxx::transaction_base& txn, const std::string& name,
                                       int partition, bool lock);

// Moves the checkpoint to `position` and clears a recorded poison.
absl::Status MoveCheckpoint(pqxx::transaction_base& txn, const std::string& name, int partition,
                            int64_t position);

// Records the poison event at `position` and why, for `tally reactors status`.
absl::Status RecordPoison(pqxx::transaction_base& txn, const std::string& name, int partition,
                          int64_t position, const std::string& error);

}  // namespace tally::reactors
