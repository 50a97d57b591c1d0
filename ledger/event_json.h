#pragma once
// Renders recorded events as JSON for auditors (`tally events`, the auditor API). An event whose
// type is not in the registry, or whose payload does not parse, is still rendered: its payload
// appears as base64 under "payload_base64" together with "render_error".

#include <string>

#include "absl/strings/string_view.h"
#include "ledger/event.h"
#include "ledger/event_registry.h"

namespace tally::ledger {

// A JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

// RFC 3339 in UTC with microseconds: 2026-11-22T10:00:00.123456Z.
std::string FormatMicros(int64_t micros);

// One JSON object on one line: partition, position, stream_id, stream_version, event_type,
// recorded_at, idempotency_key (when any), payload, metadata, prev_hash and hash (hex).
std::string EventToJson(const RecordedEvent& event, const EventRegistry& registry);

}  // namespace tally::ledger
