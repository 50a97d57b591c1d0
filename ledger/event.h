#pragma once
// The values that cross the event store's API: what a caller appends and what a reader gets.
// Plain data, no behaviour beyond construction helpers; safe to copy and move between threads.

#include <cstdint>
#include <string>
#include <vector>

namespace tally::ledger {

// One event to append. `type` is the protobuf message's full name ("tally.payments.v1.
// PaymentCreated"); `payload` and `metadata` are serialized protobuf messages.
struct EventData {
  std::string type;
  std::string payload;
  std::string metadata;
};

// What the caller knows about the stream it appends to.
class ExpectedVersion {
 public:
  enum class Kind { kAny, kNoStream, kExact };

  static ExpectedVersion Any() { return ExpectedVersion(Kind::kAny, 0); }
  // The stream must not exist yet.
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kNoStream, 0); }
  // The stream's last event has this version (versions start at 1; 0 means "empty stream").
  // A negative value is rejected by Append.
  static ExpectedVersion Exact(int64_t version) { return ExpectedVersion(Kind::kExact, version); }

  Kind kind() const { return kind_; }
  int64_t version() const { return version_; }

 private:
  ExpectedVersion(Kind kind, int64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  int64_t version_;
};

struct AppendRequest {
  // Picks the partition (a hash of it); for payments, the tenant id.
  std::string tenant_key;
  std::string stream_id;
  ExpectedVersion expected = ExpectedVersion::Any();
  std::vector<EventData> events;
  // Empty: no idempotency. Otherwise a repeat of the key returns the original positions.
  std::string idempotency_key;
};

struct AppendResult {
  int partition = 0;
  // One position per event, in order.
  std::vector<int64_t> positions;
  // The stream version of the last event written (or originally written, when duplicate).
  int64_t last_version = 0;
  // True when the idempotency key had been used before: nothing new was written.
  bool duplicate = false;
};

struct RecordedEvent {
  int partition = 0;
  int64_t position = 0;
  std::string stream_id;
  int64_t stream_version = 0;
  std::string type;
  std::string payload;
  std::string metadata;
  // Empty when the event was appended without a key.
  std::string idempotency_key;
  // Microseconds since the Unix epoch, set by the appender.
  int64_t recorded_at_us = 0;
  std::string prev_hash;
  std::string hash;
};

}  // namespace tally::ledger
