#pragma once
// Group commit for one partition of the log.
//
// Callers on any thread call Append; a single writer thread gathers the requests that are
// waiting, in arrival order, into one batch and writes it with one statement, in one
// transaction. A batch holds at most `max_batch_events` events and `max_batch_bytes` bytes of
// payload and metadata (kMaxAppendBatchBytes, ledger/limits.h), so the memory and the statement
// a batch needs stay bounded however large its events; a single request over either bound is
// written alone, in a batch of its own. Each batch is:
//
//   1. Plan: assign positions head+1..head+n and stream versions, decide conflicts and
//      duplicates, chain the hashes. The plan starts from what this appender already knows
//      (the head it last wrote, the versions of streams it has seen; an unseen stream is
//      assumed new) or, after a miss, from a snapshot read of the head, the streams' versions
//      and the idempotency keys.
//   2. Write: one call of ledger_append_batch (migrations/0001_ledger.sql) takes the
//      partition's `ledger_heads` row lock and, only if the head is where the plan found it
//      (position and hash) and the versions the plan took from callers hold, inserts the rows,
//      moves the head and NOTIFYs; the unique indexes reject a stream assumed new that exists
//      and a key already used. If anything moved (another process appended, a stream existed,
//      a key was used), nothing is written and the batch is planned again from a fresh
//      snapshot. The call commits by itself: one round trip per batch.
//
// Positions are therefore gapless and commit in order, and each caller returns only after the
// transaction holding its events is durable (PostgreSQL defaults: fsync on, synchronous_commit
// on), or with an error, in which case none of its events were written. A connection lost
// after the write was sent is resolved by waiting for the head lock and looking for the batch's
// last hash, never by guessing.
//
// Requests must already be validated (EventStore::Append does it). The destructor stops taking
// new work, finishes what is queued and joins the writer thread. Several processes may append
// to the same partition; they only cost each other re-plans.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event.h"
#include "ledger/limits.h"

namespace pqxx {
class transaction_base;
}

namespace tally::ledger {

using AppendCallback = std::function<void(absl::StatusOr<AppendResult>)>;

// The size of one batch as the writer thread took it from the queue.
struct BatchStats {
  size_t requests = 0;
  size_t events = 0;
  size_t bytes = 0;  // payload and metadata of its events
};

struct AppenderOptions {
  // Most events written by one transaction.
  size_t max_batch_events = 2000;
  // Most payload and metadata bytes written by one transaction.
  size_t max_batch_bytes = kMaxAppendBatchBytes;
  // Fault injection for tests: when set, the batch is written in an explicit transaction and
  // this is called after the write statement (the head lock is held) and just before COMMIT,
  // with the PostgreSQL backend pid of the appender's connection.
  std::function<void(int backend_pid)> before_commit;
  // For tests, a pause: while it returns true for the number of queued requests, the writer
  // takes nothing from the queue, so requests queued meanwhile are planned together (e.g.
  // `[](size_t queued) { return queued < 4; }`). It is asked again each time a request is
  // queued, under the appender's lock: it must be quick and must not append. Shutdown ignores
  // it, so the destructor still finishes what is queued.
  std::function<bool(size_t queued_requests)> hold;
  // For tests, an observer: called on the writer thread with each batch as taken from the
  // queue, before it is planned. Must be quick and must not append.
  std::function<void(const BatchStats&)> on_batch;
};

class PartitionAppender {
 public:
  PartitionAppender(std::string database_url, int partition, const Clock& clock,
                    AppenderOptions options);
  ~PartitionAppender();

  PartitionAppender(const PartitionAppender&) = delete;
  PartitionAppender& operator=(const PartitionAppender&) = delete;

  // Thread-safe. Blocks until the request is durable or failed. Statuses: Aborted (expected
  // version conflict), Unavailable (database unreachable or commit outcome unknown: retry with
  // the same idempotency key), FailedPrecondition (partition not initialised), Internal.
  absl::StatusOr<AppendResult> Append(AppendRequest request);

  // As Append, without blocking: `done` is called exactly once, on the appender's thread (or
  // on the caller's if the appender is shutting down). It must be quick and must not append.
  void AppendAsync(AppendRequest request, AppendCallback done);

 private:
  struct Pending;
  struct Connection;
  // What a plan starts from: the head and, for the batch's streams and keys, their state.
  struct Snapshot {
    int64_t head_position = 0;
    std::string head_hash;
    absl::flat_hash_map<std::string, int64_t> versions;
    absl::flat_hash_set<std::string> keys_in_log;
    // Streams whose version is the caller's claim (ExpectedVersion::Exact) rather than known.
    absl::flat_hash_set<std::string> claimed;
  };
  // A batch decided against one snapshot: an answer per request (final for conflicts and
  // duplicates; true for the rest once `rows` commit), the rows, and the assumptions the write
  // must verify.
  struct Plan {
    int64_t head_position = 0;
    std::string head_hash;
    std::vector<absl::StatusOr<AppendResult>> answers;
    std::vector<RecordedEvent> rows;
    // Claimed versions the write must verify (see Snapshot::claimed).
    std::vector<std::string> claimed_streams;
    std::vector<int64_t> claimed_versions;
  };

  void Run();
  void WriteBatch(std::vector<std::unique_ptr<Pending>>& batch);
  absl::Status EnsureConnection();
  Snapshot SnapshotFromCache(const std::vector<std::unique_ptr<Pending>>& batch) const;
  absl::StatusOr<Snapshot> ReadSnapshot(pqxx::transaction_base& txn,
                                        const std::vector<std::unique_ptr<Pending>>& batch);
  // `txn` may be null when the snapshot has no keys in the log (nothing to look up).
  Plan PlanBatch(const std::vector<std::unique_ptr<Pending>>& batch, const Snapshot& snapshot,
                 pqxx::transaction_base* txn);
  // False when the head or an assumption had moved (nothing was written).
  bool WriteRows(pqxx::transaction_base& txn, const Plan& plan);
  void Remember(const Snapshot& snapshot, const Plan& plan);
  void Forget();
  // After the write's outcome was lost: waits for the head lock, then checks whether the
  // batch's last row is present with the hash we computed. Unavailable when undeterminable.
  absl::StatusOr<bool> BatchCommitted(int64_t last_position, const std::string& last_hash);

  const std::string database_url_;
  const int partition_;
  const Clock& clock_;
  const AppenderOptions options_;

  // Writer-thread state. The cache is valid as of `known_head_position_`: it holds the head
  // this appender last wrote or read and stream versions as of that head.
  std::unique_ptr<Connection> conn_;
  int64_t last_recorded_at_us_ = 0;
  bool head_known_ = false;
  int64_t known_head_position_ = 0;
  std::string known_head_hash_;
  absl::flat_hash_map<std::string, int64_t> known_versions_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace tally::ledger
