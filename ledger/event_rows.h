#pragma once
// How an `events` row is selected and turned into a RecordedEvent; shared by every reader
// (streams, partitions, the log follower, the auditor) so they cannot drift apart.

#include <pqxx/pqxx>

#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event.h"

namespace tally::ledger {

// Column list for SELECT, in the order RecordedEventFromRow expects.
inline constexpr const char* kEventColumns =
    "partition_id, position, stream_id, stream_version, event_type, payload, metadata, "
    "coalesce(idempotency_key, ''), (extract(epoch FROM recorded_at) * 1000000)::bigint, "
    "prev_hash, hash";

RecordedEvent RecordedEventFromRow(const pqxx::row& row);

// Up to `limit` events of `partition` with position > `after`, in position order. A failed
// read (its code from StatusFromException) leaves `txn` aborted: roll it back.
absl::StatusOr<std::vector<RecordedEvent>> ReadEventsAfter(pqxx::transaction_base& txn,
                                                           int partition, int64_t after,
                                                           size_t limit);

}  // namespace tally::ledger
