#include "ledger/event_json.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "ledger/hash_chain.h"

namespace tally::ledger {

std::string JsonQuote(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  // Runs that need no escaping are copied whole: most text (ids, names) is one run.
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append(absl::StrFormat("\\u%04x", c));
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
  return out;
}

std::string FormatMicros(int64_t micros) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

std::string EventToJson(const RecordedEvent& event, const EventRegistry& registry) {
  std::string out = absl::StrCat(
      "{\"partition\":", event.partition, ",\"position\":", event.position,
      ",\"stream_id\":", JsonQuote(event.stream_id), ",\"stream_version\":", event.stream_version,
      ",\"event_type\":", JsonQuote(event.type),
      ",\"recorded_at\":", JsonQuote(FormatMicros(event.recorded_at_us)));
  if (!event.idempotency_key.empty()) {
    absl::StrAppend(&out, ",\"idempotency_key\":", JsonQuote(event.idempotency_key));
  }
  auto payload = registry.RenderJson(event.type, event.payload);
  if (payload.ok()) {
    absl::StrAppend(&out, ",\"payload\":", *payload);
  } else {
    absl::StrAppend(&out, ",\"payload_base64\":", JsonQuote(absl::Base64Escape(event.payload)),
                    ",\"render_error\":", JsonQuote(payload.status().message()));
  }
  auto metadata = EventRegistry::RenderMetadataJson(event.metadata);
  if (metadata.ok()) {
    absl::StrAppend(&out, ",\"metadata\":", *metadata);
  } else {
    absl::StrAppend(&out, ",\"metadata_base64\":", JsonQuote(absl::Base64Escape(event.metadata)));
  }
  absl::StrAppend(&out, ",\"prev_hash\":", JsonQuote(HexEncode(event.prev_hash)),
                  ",\"hash\":", JsonQuote(HexEncode(event.hash)), "}");
  return out;
}

}  // namespace tally::ledger
