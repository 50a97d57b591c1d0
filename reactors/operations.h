#pragma once
// What operators see of the reactors and what they may do to them: per reactor and partition
// the checkpoint, lag, backlog, in flight, parked and oldest due; the parked items; and a
// retry, which is an event (OutboxRetryRequested, the operator as actor) so that it is
// audited and survives restarts like any decision. Used by `tally reactors …`. Thread-safe (no
// shared state); each call opens its own connection.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event_store.h"

namespace tally::reactors {

struct ReactorPartitionStatus {
  std::string reactor;
  int partition = 0;
  int64_t checkpoint = 0;
  int64_t head = 0;   // the partition's last position
  std::string error;  // the poison that stopped it, if any
  int64_t error_position = 0;
  // Work lists (outbox kinds and the reconciliation queue); zero for decision reactors.
  int64_t backlog = 0;    // due now or later
  int64_t in_flight = 0;  // attempted, not answered
  int64_t parked = 0;
  int64_t done = 0;
  int64_t unresolved_attempts = 0;  // attempts lost in a crash (possible duplicates)
  int64_t oldest_due_age_us = 0;    // how overdue the oldest due item is (0: none overdue)
};

absl::StatusOr<std::vector<ReactorPartitionStatus>> ReadReactorStatus(
    const std::string& database_url, int64_t now_us);

struct ParkedItem {
  std::string reactor;
  int partition = 0;
  std::string stream_id;
  std::string tenant_id;
  int attempts = 0;
  std::string last_error;
};

// Parked items, of `reactor` only when not empty: outbox items and unresolved charge intents
// (reactor "charge_intents", stream `charge-<payment_id>`).
absl::StatusOr<std::vector<ParkedItem>> ReadParked(const std::string& database_url,
                                                   const std::string& reactor);

// Appends OutboxRetryRequested for the parked item of `stream_id` (every parked item when
// empty), of `reactor` only when not empty, with `actor` in the metadata. Returns how many
// retries were requested; NotFound when nothing parked matched.
absl::StatusOr<int> RequestRetry(ledger::EventStore& store, const std::string& database_url,
                                 const std::string& stream_id, const std::string& reactor,
                                 const std::string& actor, const std::string& reason,
                                 int64_t now_us);

}  // namespace tally::reactors
