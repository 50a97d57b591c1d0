#include "ledger/event_rows.h"

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

}  // namespace tally::ledger
