#pragma once
// The event types the log accepts. An event type is the full name of a protobuf message in the
// generated descriptor pool; Append refuses any other type and any payload that does not parse
// as its type, so everything in the log can be rendered for auditors.
//
// Built once at start-up and then only read: const methods are thread-safe.

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::ledger {

class EventRegistry {
 public:
  // Every event type Tally defines (proto/tally/*/v1).
  static EventRegistry Default();

  // `types` are protobuf full names; InvalidArgument if one is not a generated message.
  static absl::StatusOr<EventRegistry> FromTypes(const std::vector<std::string>& types);

  bool Contains(absl::string_view type) const { return types_.contains(type); }

  // OK when `type` is registered and `payload` parses as it.
  absl::Status Validate(absl::string_view type, absl::string_view payload) const;

  // The payload as a JSON object (protobuf's JSON mapping). NotFound for an unknown type,
  // DataLoss when the bytes do not parse.
  absl::StatusOr<std::string> RenderJson(absl::string_view type, absl::string_view payload) const;

  // Renders a serialized tally.ledger.v1.Metadata as JSON.
  static absl::StatusOr<std::string> RenderMetadataJson(absl::string_view metadata);

 private:
  absl::flat_hash_set<std::string> types_;
};

}  // namespace tally::ledger
