#include "ledger/event_store.h"

#include <google/protobuf/message.h>

#include "absl/strings/str_cat.h"
#include "ledger/connection_pool.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "ledger/limits.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::ledger {
absl::Status ValidateIdempotencyKey(const std::string& key) {
  if (key.empty()) return absl::OkStatus();
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "idempotency key is ", key.size(), " bytes; the limit is ", kMaxIdempotencyKeyBytes));
  }
  for (unsigned char c : key) {
    if (c <= 0x20 || c >= 0x7f || c == kIdempotencySuffixSeparator) {
      return absl::InvalidArgumentError(
          "idempotency key must be printable ASCII without spaces or '#'");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAppend(const AppendRequest& request, const EventRegistry& registry) {
  if (request.stream_id.empty()) return absl::InvalidArgumentError("stream id is empty");
  if (request.stream_id.size() > kMaxStreamIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("stream id is ", request.stream_id.size(),
                                                   " bytes; the limit is ", kMaxStreamIdBytes));
  }
  for (unsigned char c : request.stream_id) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("stream id contains a control character");
    }
  }
  if (request.expected.kind() == ExpectedVersion::Kind::kExact && request.expected.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected version ", request.expected.version(), " is negative"));
  }
  if (request.events.empty()) return absl::InvalidArgumentError("an append needs events");
  if (request.events.size() > kMaxEventsPerAppend) {
    return absl::InvalidArgumentError(absl::StrCat("append of ", request.events.size(),
                                                   " events; the limit is ", kMaxEventsPerAppend));
  }
  if (absl::Status status = ValidateIdempotencyKey(request.idempotency_key); !status.ok()) {
    return status;
  }
  for (const EventData& event : request.events) {
    if (event.payload.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat("payload of ", event.type, " is ",
                                                     event.payload.size(), " bytes; the limit is ",
                                                     kMaxPayloadBytes));
    }
    if (event.metadata.size() > kMaxMetadataBytes) {
      return absl::InvalidArgumentError(absl::StrCat("metadata is ", event.metadata.size(),
                                                     " bytes; the limit is ", kMaxMetadataBytes));
    }
    if (absl::Status status = registry.Validate(event.type, event.payload); !status.ok()) {
      return status;
    }
    v1::Metadata metadata;
    if (!metadata.ParseFromString(event.metadata)) {
      return absl::InvalidArgumentError("metadata does not parse as tally.ledger.v1.Metadata");
    }
  }
  return absl::OkStatus();
}

int PartitionForKey(const std::string& tenant_key, int partition_count) {
  if (partition_count <= 1) return 0;
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : tenant_key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<uint64_t>(partition_count));
}

EventStore::EventStore(EventStoreOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &system_clock_;
  readers_ = std::make_unique<ConnectionPool>(options_.database_url, Session::kService,
                                              options_.max_read_connections);
}

EventStore::~EventStore() = default;

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(EventStoreOptions options) {
  std::unique_ptr<EventStore> store(new EventStore(std::move(options)));
  std::vector<int> partitions;
  {
    auto lease = store->readers_->Acquire();
    if (!lease.ok()) return lease.status();
    try {
      pqxx::read_transaction txn(**lease);
      for (const auto& row :
           txn.exec("SELECT partition_id FROM ledger_heads ORDER BY partition_id")) {
        partitions.push_back(row[0].as<int>());
      }
    } catch (const std::exception& e) {
      return StatusFromException(e, "reading ledger_heads (has `tally migrate` run?)");
    }
  }
  if (partitions.empty()) {
    return absl::FailedPreconditionError("ledger_heads has no partitions: run `tally migrate`");
  }
  for (size_t i = 0; i < partitions.size(); ++i) {
    if (partitions[i] != static_cast<int>(i)) {
      return absl::FailedPreconditionError("ledger_heads partitions are not 0..N-1");
    }
  }
  for (int partition : partitions) {
    store->appenders_.push_back(std::make_unique<PartitionAppender>(
        store->options_.database_url, partition, *store->options_.clock, store->options_.appender));
  }
  return store;
}

int EventStore::PartitionFor(const std::string& tenant_key) const {
  return PartitionForKey(tenant_key, partition_count());
}

absl::StatusOr<AppendResult> EventStore::Append(AppendRequest request) {
  if (absl::Status status = ValidateAppend(request, options_.registry); !status.ok()) {
    return status;
  }
  const int partition = PartitionFor(request.tenant_key);
  return appenders_[partition]->Append(std::move(request));
}

void EventStore::AppendAsync(AppendRequest request, AppendCallback done) {
  if (absl::Status status = ValidateAppend(request, options_.registry); !status.ok()) {
    done(status);
    return;
  }
  const int partition = PartitionFor(request.tenant_key);
  appenders_[partition]->AppendAsync(std::move(request), std::move(done));
}

absl::StatusOr<std::vector<RecordedEvent>> EventStore::ReadStream(const std::string& tenant_key,
                                                                  const std::string& stream_id) {
  return ReadStreamInPartition(PartitionFor(tenant_key), stream_id);
}

absl::StatusOr<std::vector<RecordedEvent>> EventStore::ReadStreamInPartition(
    int partition, const std::string& stream_id) {
  auto lease = readers_->Acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::read_transaction txn(**lease);
    pqxx::result rows =
        txn.exec_params(absl::StrCat("SELECT ", kEventColumns,
                                     " FROM events WHERE partition_id = $1 AND stream_id = $2 "
                                     "ORDER BY stream_version"),
                        partition, stream_id);
    std::vector<RecordedEvent> events;
    events.reserve(rows.size());
    for (const auto& row : rows) events.push_back(RecordedEventFromRow(row));
    return events;
  } catch (const std::exception& e) {
    return StatusFromException(e, "reading a stream");
  }
}

absl::StatusOr<std::optional<RecordedEvent>> EventStore::FindByIdempotencyKey(
    const std::string& key) {
  auto lease = readers_->Acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::read_transaction txn(**lease);
    // One probe of the (partition_id, idempotency_key) index per partition.
    pqxx::result rows = txn.exec_params(
        absl::StrCat("SELECT ", kEventColumns,
                     " FROM events WHERE partition_id = ANY(SELECT generate_series(0, $2 - 1)) "
                     "AND idempotency_key = $1 LIMIT 1"),
        key, partition_count());
    if (rows.empty()) return std::optional<RecordedEvent>();
    return std::optional<RecordedEvent>(RecordedEventFromRow(rows[0]));
  } catch (const std::exception& e) {
    return StatusFromException(e, "looking up an idempotency key");
  }
}

absl::StatusOr<std::vector<RecordedEvent>> EventStore::ReadPartition(int partition,
                                                                     int64_t after_position,
                                                                     size_t limit) {
  if (partition < 0 || partition >= partition_count()) {
    return absl::InvalidArgumentError(absl::StrCat("no partition ", partition));
  }
  auto lease = readers_->Acquire();
  if (!lease.ok()) return lease.status();
  try {
    pqxx::read_transaction txn(**lease);
    return ReadEventsAfter(txn, partition, after_position, limit);
  } catch (const std::exception& e) {
    return StatusFromException(e, "reading a partition");
  }
}

}  // namespace tally::ledger
