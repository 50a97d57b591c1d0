#pragma once
// Input limits of the event store. Every one is checked before anything reaches the database,
// and exceeding one is an InvalidArgument status that names the limit.

#include <cstddef>

namespace tally::ledger {

inline constexpr size_t kMaxStreamIdBytes = 200;
inline constexpr size_t kMaxEventTypeBytes = 200;
inline constexpr size_t kMaxPayloadBytes = 1 << 20;
inline constexpr size_t kMaxMetadataBytes = 64 << 10;
inline constexpr size_t kMaxIdempotencyKeyBytes = 200;
inline constexpr size_t kMaxEventsPerAppend = 1000;
// Events of one append after the first carry "<key>#<n>" so each row's key stays unique;
// '#' is therefore not allowed in a caller's key.
inline constexpr char kIdempotencySuffixSeparator = '#';

// Not an input limit: the most payload and metadata bytes the appender writes in one batch
// (one statement, one transaction). A count of events alone let a batch of 2000 events of up to
// kMaxPayloadBytes each reach 2 GiB, held in memory several times over while it is built and
// sent; a single request larger than this is still written, in a batch of its own.
inline constexpr size_t kMaxAppendBatchBytes = 16 << 20;

}  // namespace tally::ledger
