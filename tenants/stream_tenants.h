#pragma once
// Which tenant a stream belongs to, for auditors who may see one tenant's events only (the audit
// API's tenant-bound keys, `tally replay --tenant`).
//
// The log has no tenant column: a tenant's streams live in its partition beside other tenants'.
// A stream belongs to the tenant its first event naming a tenant says (the payload's `tenant_id`
// field: PaymentCreated, webhooks, LeadStarted, BotRegistered, ...), and `tenant-<id>` to <id>.
// Streams no event of which names a tenant (`admin-keys`, `jobs`) belong to no tenant ("").
//
// StreamTenants answers for events read in position order: a stream seen from its first event
// is decided from it; one first seen later (a read that starts mid-partition) is read through
// `read_stream` once. Answers are kept (one entry per stream seen), so memory grows with the
// streams of the partitions read, not with their events. Thread-compatible.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ledger/event.h"

namespace tally::tenants {

// The payload's `tenant_id` field, "" when its type has none or the payload does not parse.
std::string PayloadTenantId(const ledger::RecordedEvent& event);

using StreamReader = std::function<absl::StatusOr<std::vector<ledger::RecordedEvent>>(
    int partition, const std::string& stream_id)>;

class StreamTenants {
 public:
  explicit StreamTenants(StreamReader read_stream) : read_stream_(std::move(read_stream)) {}

  // The tenant of `event`'s stream ("" for none); the reader's error when it had to read it.
  absl::StatusOr<std::string> Of(const ledger::RecordedEvent& event);

  // Streams whose tenant is kept.
  size_t size() const { return known_.size(); }

 private:
  StreamReader read_stream_;
  absl::flat_hash_map<std::pair<int, std::string>, std::string> known_;
};

}  // namespace tally::tenants
