#pragma once
// The log's hash chain: hash = SHA-256(prev_hash || Canonical(event)). The encoding is written
// down byte by byte in docs/LOG_FORMAT.md; change it only together with that document and a
// new format version. Pure functions, thread-safe.

#include <string>

#include "absl/strings/string_view.h"
#include "ledger/event.h"

namespace tally::ledger {

inline constexpr size_t kHashBytes = 32;

// 32 zero bytes: the prev_hash of each partition's first event.
std::string GenesisHash();

// The canonical encoding of `event` (its prev_hash and hash fields are not part of it).
std::string CanonicalEncoding(const RecordedEvent& event);

// SHA-256(prev_hash || CanonicalEncoding(event)), 32 raw bytes.
std::string ChainHash(absl::string_view prev_hash, const RecordedEvent& event);

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);

std::string HexEncode(absl::string_view bytes);

}  // namespace tally::ledger
