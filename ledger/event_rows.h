#pragma once
// How an `events` row is selected and turned into a RecordedEvent; shared by every reader
// (streams, partitions, subscriptions, the auditor) so they cannot drift apart.

#include <pqxx/pqxx>

#include "ledger/event.h"

namespace tally::ledger {

// Column list for SELECT, in the order RecordedEventFromRow expects.
inline constexpr const char* kEventColumns =
    "partition_id, position, stream_id, stream_version, event_type, payload, metadata, "
    "coalesce(idempotency_key, ''), (extract(epoch FROM recorded_at) * 1000000)::bigint, "
    "prev_hash, hash";

RecordedEvent RecordedEventFromRow(const pqxx::row& row);

}  // namespace tally::ledger
