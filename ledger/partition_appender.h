#pragma once
// Group commit for one partition of the log.
//
// Callers on any thread call Append; a single writer thread gathers every request that is
// waiting into one transaction: lock the partition's `ledger_heads` row, assign positions
// head+1..head+n, chain the hashes, insert, move the head, NOTIFY, COMMIT. Each caller returns
// only after the transaction holding its events is durable (PostgreSQL defaults: fsync on,
// synchronous_commit on), or with an error, in which case none of its events were written.
//
// Requests must already be validated (EventStore::Append does it). The destructor stops taking
// new work, finishes what is queued and joins the writer thread.
//
// Several processes may run appenders for the same partition: the row lock serialises them,
// and the head is re-read under the lock for every batch.

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

#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event.h"

namespace tally::ledger {

struct AppenderOptions {
  // Most events written by one transaction.
  size_t max_batch_events = 2000;
  // Fault injection for tests: called inside the batch transaction after the rows are written
  // and just before COMMIT, with the PostgreSQL backend pid of the appender's connection.
  std::function<void(int backend_pid)> before_commit;
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

 private:
  struct Pending;
  struct Planned;

  void Run();
  void WriteBatch(std::vector<std::unique_ptr<Pending>>& batch);
  absl::Status EnsureConnection();
  // After COMMIT's outcome was lost: waits for the head lock, then checks whether the batch's
  // last row is present with the hash we computed. Unavailable when that cannot be determined.
  absl::StatusOr<bool> BatchCommitted(int64_t last_position, const std::string& last_hash);

  const std::string database_url_;
  const int partition_;
  const Clock& clock_;
  const AppenderOptions options_;

  // The writer thread's connection (pqxx::connection), kept out of this header.
  struct Connection;
  std::unique_ptr<Connection> conn_;
  int64_t last_recorded_at_us_ = 0;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace tally::ledger
