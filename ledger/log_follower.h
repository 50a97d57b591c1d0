#pragma once
// Following one partition of the log: the loop behind projections and reactors.
//
// Leadership. A follower has a PostgreSQL session of its own and takes the lead for
// (name, partition) with an advisory lock held on that session, so across any number of
// processes exactly one follower of a name handles a partition. The others stand by, trying the
// lock every `retry_interval`; one of them takes over once the holder's session ends (its
// process died, its connection was lost, or it stopped).
//
// Following. Once leading, the follower asks the handler for its checkpoint (Resume), reads the
// events after it in batches until caught up, then sleeps until a NOTIFY on the partition's
// channel or `poll_interval` (the fallback for a missed notification). Positions are assigned
// under the partition's head lock and commit in order, so reading `position > checkpoint`
// never skips an event whose transaction committed late.
//
// Exactly-once. Each batch is handed to the handler with a transaction open on the follower's
// session. The handler applies the batch AND moves its checkpoint in that transaction, after
// checking, with its checkpoint row locked FOR UPDATE, that the checkpoint still says
// `batch.after`; the follower commits. A handler whose effects live outside this transaction (a
// reactor appending through the appender) makes them durable and idempotent first and moves
// the checkpoint last. After any error (a lost connection, a commit whose outcome is unknown,
// an error Status or exception from the handler) the transaction is rolled back, the session
// closed, giving up the lead, and the follower starts over from the checkpoint Resume reads:
// what the follower remembers never overrides what was committed. It reconnects at once when
// the session had been following (committing batches or caught up), else after a backoff that
// doubles from `retry_interval` up to `max_backoff`.
//
// Poison. An event the handler can never handle is answered with BatchOutcome::Poison: the
// follower commits the transaction (the events before the poison, and whatever record of it
// the handler wrote) and stops. status() says at which position and why; nothing is skipped.
//
// Thread safety: Start and Stop are called by the owner (not concurrently with each other);
// the accessors from any thread. The handler is called on the follower's own thread, one call
// at a time; it is not owned and must outlive the follower.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ledger/database.h"
#include "ledger/event.h"
#include "ledger/wakeup.h"

namespace tally::ledger {

struct LogBatch {
  int partition = 0;
  int64_t after = 0;                  // the checkpoint the batch follows
  std::vector<RecordedEvent> events;  // positions after+1, after+2, ...; never empty
};

// A handler's answer for one batch.
struct BatchOutcome {
  enum class Kind { kHandled, kPoison, kMoved, kWait };

  // Handled events through `position` (> batch.after) and moved the checkpoint there in the
  // transaction. Committed; the next batch follows `position`.
  static BatchOutcome Handled(int64_t position) { return {Kind::kHandled, position, {}}; }
  // The event after `position` can never be handled. What the transaction holds (the events
  // through `position`, >= batch.after) is committed, then the follower stops with `error`.
  static BatchOutcome Poison(int64_t position, absl::Status error) {
    return {Kind::kPoison, position, std::move(error)};
  }
  // The checkpoint is not at batch.after (another writer moved it: a rebuild swapped tables).
  // Rolled back; the follower continues after `checkpoint`.
  static BatchOutcome Moved(int64_t checkpoint) { return {Kind::kMoved, checkpoint, {}}; }
  // Not now (e.g. the projection waits for a rebuild to swap). Rolled back; state() is
  // kWaiting and the batch is offered again after `retry_interval`.
  static BatchOutcome Wait() { return {Kind::kWait, 0, {}}; }

  Kind kind = Kind::kHandled;
  int64_t position = 0;
  absl::Status error;
};

class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  // On taking the lead, in a transaction of its own that the follower commits: the checkpoint
  // to follow from (0: the start of the log).
  virtual absl::StatusOr<int64_t> Resume(pqxx::transaction_base& txn) = 0;
  // Applies `batch` in `txn` as the contract above says. Must not commit or abort `txn`. An
  // error Status means "try again later" (see the backoff above); poison is an outcome. A
  // position outside the batch is a bug: the follower stops with Internal.
  virtual absl::StatusOr<BatchOutcome> Handle(pqxx::transaction_base& txn,
                                              const LogBatch& batch) = 0;
  // After a batch's transaction committed, with the new checkpoint. Must be quick.
  virtual void Committed(int64_t position) {}
};

struct LogFollowerOptions {
  std::string database_url;
  Session session = Session::kService;
  // The lead is the advisory lock (hashtext('tally.' || name), partition).
  std::string name;
  int partition = 0;
  size_t batch_size = 1000;
  std::chrono::milliseconds poll_interval{500};
  // How often a standby tries the lock, how long a kWait lasts, and the first backoff.
  std::chrono::milliseconds retry_interval{1000};
  std::chrono::milliseconds max_backoff{30000};
};

class LogFollower {
 public:
  // kStarting: connecting, or backing off after an error. kStandby: another session leads.
  // kLive: leading and following. kWaiting: leading, the handler said Wait. kStopped: stopped by
  // a poison event, or by Stop.
  enum class State { kStarting, kStandby, kLive, kWaiting, kStopped };

  LogFollower(LogFollowerOptions options, BatchHandler& handler);
  ~LogFollower();  // Stop()

  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  // Starts the follower's thread; no effect if started and not stopped since.
  void Start();
  // Wakes the thread and joins it once a batch in flight has committed; the handler is not
  // called again after Stop returns, and the session, with the lead, is closed.
  void Stop();

  State state() const { return state_.load(); }
  // The checkpoint as last read by Resume or committed.
  int64_t position() const { return position_.load(); }
  // OK while leading or standing by; the last error while backing off; the poison, with its
  // position, once stopped by one.
  absl::Status status() const;

 private:
  void Run();
  // One session: connects, takes the lead, follows. Returns on Stop, on poison (state
  // kStopped) or with the error that ended the session.
  absl::Status FollowSession();
  void SetStatus(absl::Status status);

  const LogFollowerOptions options_;
  BatchHandler& handler_;
  std::chrono::milliseconds backoff_{0};  // the follower thread's
  std::atomic<State> state_{State::kStarting};
  std::atomic<int64_t> position_{0};
  std::atomic<bool> stopping_{false};
  Wakeup wakeup_;
  mutable std::mutex mu_;
  absl::Status status_;
  std::thread thread_;
};

}  // namespace tally::ledger
