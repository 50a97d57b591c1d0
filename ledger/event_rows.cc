#include "ledger/event_rows.h"

#include "absl/strings/str_cat.h"
#include "ledger/database.h"

namespace tally::ledger {

RecordedEvent RecordedEventFromRow(const pqxx::row& row) {
  RecordedEvent event;
  event.partition = row[0].as<int>();
  event.position = row[1].as<int64_t>();
  event.stream_id = row[2].as<std::string>();
  event.stream_version = row[3].as<int64_t>();
  event.type = row[4].as<std::string>();
  event.payload = BytesFromField(row[5]);
  event.metadata = BytesFromField(row[6]);
  event.idempotency_key = row[7].as<std::string>();
  event.recorded_at_us = row[8].as<int64_t>();
  event.prev_hash = BytesFromField(row[9]);
  event.hash = BytesFromField(row[10]);
  return event;
}

absl::StatusOr<std::vector<RecordedEvent>> ReadEventsAfter(pqxx::transaction_base& txn,
                                                           int partition, int64_t after,
                                                           size_t limit) {
  static const std::string kSql = absl::StrCat(
      "SELECT ", kEventColumns,
      " FROM events WHERE partition_id = $1 AND position > $2 ORDER BY position LIMIT $3");
  try {
    pqxx::result rows = txn.exec_params(kSql, partition, after, static_cast<int64_t>(limit));
    std::vector<RecordedEvent> events;
    events.reserve(rows.size());
    for (const auto& row : rows) events.push_back(RecordedEventFromRow(row));
    return events;
  } catch (const std::exception& e) {
    return StatusFromException(e, absl::StrCat("reading partition ", partition, " after ", after));
  }
}

}  // namespace tally::ledger
