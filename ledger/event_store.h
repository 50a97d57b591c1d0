#pragma once
// The event store: append to and read from the partitioned log in PostgreSQL.
//
// Append validates the request (limits in ledger/limits.h, the event registry, the expected
// version), picks the partition from the tenant key and hands the request to that partition's
// group-commit appender; it returns after the events are durable. Reads go through a small
// pool of service-role connections.
//
// Thread-safe. The EventStore owns its appenders and connections; destroying it finishes the
// appends already queued.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event.h"
#include "ledger/event_registry.h"
#include "ledger/partition_appender.h"

namespace tally::ledger {

class ConnectionPool;

struct EventStoreOptions {
  std::string database_url;
  EventRegistry registry = EventRegistry::Default();
  // Not owned; must outlive the store. Defaults to the system clock.
  const Clock* clock = nullptr;
  AppenderOptions appender;
  size_t max_read_connections = 8;
};

class EventStore {
 public:
  // Connects, reads the partition count from `ledger_heads` (FailedPrecondition when the schema
  // is missing or has no partitions) and starts one appender per partition.
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(EventStoreOptions options);
  ~EventStore();

  // InvalidArgument for a request that breaks a limit; Aborted for a version conflict;
  // otherwise as PartitionAppender::Append. A repeated idempotency key returns the original
  // positions with duplicate = true.
  absl::StatusOr<AppendResult> Append(AppendRequest request);

  // Append without blocking; see PartitionAppender::AppendAsync. Validation errors are
  // reported through `done` on the calling thread.
  void AppendAsync(AppendRequest request, AppendCallback done);

  // The stream's events in version order (empty when the stream does not exist).
  absl::StatusOr<std::vector<RecordedEvent>> ReadStream(const std::string& tenant_key,
                                                        const std::string& stream_id);
  // The same, for a reader that knows the partition (a reactor handed an event).
  absl::StatusOr<std::vector<RecordedEvent>> ReadStreamInPartition(int partition,
                                                                   const std::string& stream_id);

  // Up to `limit` events of `partition` with position > after_position, in position order.
  absl::StatusOr<std::vector<RecordedEvent>> ReadPartition(int partition, int64_t after_position,
                                                           size_t limit);

  // The event that carries idempotency key `key` (the first event of its append), in any
  // partition; nullopt when no append used it.
  absl::StatusOr<std::optional<RecordedEvent>> FindByIdempotencyKey(const std::string& key);

  int partition_count() const { return static_cast<int>(appenders_.size()); }
  int PartitionFor(const std::string& tenant_key) const;
  const EventRegistry& registry() const { return options_.registry; }

 private:
  explicit EventStore(EventStoreOptions options);

  EventStoreOptions options_;
  SystemClock system_clock_;
  std::unique_ptr<ConnectionPool> readers_;
  std::vector<std::unique_ptr<PartitionAppender>> appenders_;
};

// Checks an append request against the limits and the registry. Exposed for tests and for
// callers that want to reject input before queueing it.
absl::Status ValidateAppend(const AppendRequest& request, const EventRegistry& registry);

// OK for "" (no key) and for keys Append accepts: printable ASCII without spaces or '#', at
// most kMaxIdempotencyKeyBytes.
absl::Status ValidateIdempotencyKey(const std::string& key);

// The partition of a tenant: FNV-1a of the key modulo the partition count. Stable across
// releases; changing it would move streams between partitions.
int PartitionForKey(const std::string& tenant_key, int partition_count);

}  // namespace tally::ledger
