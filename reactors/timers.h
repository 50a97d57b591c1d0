#pragma once
// Durable timers: timed work that survives any restart (seed 000's upsells lived in an
// in-memory scheduler that was often not running).
//
// A timer is an event: a kind's Scheduled event (`UpsellScheduled{due_at}`) names the timer
// (its id, unique within the kind) and when it is due; the kind's ending events (`UpsellSent`,
// `UpsellCancelled`) end it. TimerFold (reactor "timers") folds them into the `timers` work
// list exactly once; rebuildable, never written by hand.
//
// TimerWorker fires the due timers of one partition, OLDEST DUE FIRST, as the only worker
// across processes (advisory lock; standby takeover). It sleeps until the earliest due time or
// until woken (the fold committed a new timer, maybe earlier), and fires each due timer by
// calling its kind's `fire`, which decides (rechecking its conditions) and appends the kind's
// ending event with a key derived from the timer's identity — so firing twice (a crash between
// the append and the fold, a standby taking over) appends nothing new: a fired or cancelled
// timer never fires again. After any downtime every overdue timer fires once, at restart, in
// due order. A kind may fire several at once (TimerKind::concurrency), each started in due order.
//
// A round (every due timer, page by page) starts at most every 10 ms, so timers that come due
// close together fire together and their appends share commits: a timer may fire up to about
// 10 ms after its time on top of the round's own work.
//
// Pacing: at most `fire_per_second` firings start per partition on average (default 500), in
// bursts of up to the largest concurrency of its kinds, which share a commit. The pace
// protects the database and the deciding reads, not Telegram: an upsell firing is two stream
// reads, a durable append and the fold's update (about 2 ms of PostgreSQL CPU on the 2-core
// benchmark machine, where 500/s takes about one core: docs/PERFORMANCE.md, `tally bench
// timers`), so a backlog after downtime drains at about half that machine rather than starving
// webhook ingestion. The messages a firing decides go out through the outbox, whose sender paces
// them again per bot and per chat (reactors/telegram.h). The pace is also the highest rate at
// which one partition's timers may come due without firing late.
//
// A timer whose firing fails is retried with exponential backoff (5 s doubling, capped at
// 10 min; logged as an error from the fifth failure) while the timers behind it keep firing:
// each round pages through every due timer. Rows of kinds this binary does not know are left
// to a binary that does.
//
// Time comes from the injected clock; `time_scale` is how many clock microseconds pass per real
// one (for a clock that runs faster in demos; 1 in `tally serve` today), so that sleeps until a
// due time are scaled too.
//
// Thread safety: the fold is driven by a ReactorRunner; the worker runs its own thread, and
// its Start/Stop/Wake/stats are thread-safe. Kinds, the store and the clock are not owned.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/reactor.h"

namespace tally::reactors {

// What an event means to a timer kind.
struct TimerEvent {
  // kIgnored: an event of a matched type that means nothing to this timer (a kind whose
  // timers end on some events of a type and not on others).
  enum class Type { kScheduled, kEnded, kIgnored };
  Type type = Type::kScheduled;
  std::string timer_id;
  int64_t due_at_us = 0;   // kScheduled
  bool cancelled = false;  // kEnded: cancelled rather than fired
  std::string tenant_id;   // kScheduled: the partition key of its stream
};

// A due timer, as the worker hands it to its kind.
struct TimerItem {
  std::string kind;
  std::string timer_id;
  std::string stream_id;  // where it was scheduled
  std::string tenant_id;
  int partition = 0;
  int64_t due_at_us = 0;
  int64_t scheduled_position = 0;
  std::string request;  // the Scheduled event's payload
};

struct TimerKind {
  std::string name;  // "upsell", "subscription_expiry": names rows and keys
  std::string scheduled_type;
  std::vector<std::string> ended_types;
  // The event's meaning (the fold has matched its type); DataLoss when it does not parse.
  std::function<absl::StatusOr<TimerEvent>(const ledger::RecordedEvent&)> read;
  // Decides and appends the ending event, keyed by the timer's identity. OK once it is
  // durable (or was already there); an error leaves the timer due (fired again later).
  std::function<absl::Status(const TimerItem&)> fire;
  // How many of this kind's timers one worker fires at once. 1: one after another, on the
  // worker's thread, each called in due order. More: `fire` is called from that many pool
  // threads at once (it must be thread-safe, as it already must be for several partitions),
  // each firing started in due order, so their appends share the event store's group commits
  // instead of each waiting for a commit of its own.
  int concurrency = 1;
};

// Folds the timers of every kind. Name "timers".
class TimerFold final : public Reactor {
 public:
  TimerFold(std::vector<const TimerKind*> kinds, std::function<void()> on_committed = nullptr);
  std::string name() const override { return "timers"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  void Committed(int partition, int64_t position) override;

 private:
  std::vector<const TimerKind*> kinds_;
  std::function<void()> on_committed_;
};

class JobControl;  // reactors/job_control.h

struct TimerWorkerOptions {
  std::string database_url;
  int partition = 0;
  // The longest real sleep between two reads of the due rows.
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds lock_retry{1000};
  double fire_per_second = 500;  // per partition; 0: unpaced
  double time_scale = 1;         // clock time per real time
  // Timers of a kind whose job ("timer:<kind>") it says is paused are not fired (nor read)
  // until it is resumed. Not owned.
  const JobControl* jobs = nullptr;
};

struct TimerWorkerStats {
  uint64_t fired = 0;
  uint64_t errors = 0;
  bool leading = false;
};

class TimerWorker {
 public:
  TimerWorker(std::vector<const TimerKind*> kinds, const ledger::Clock& clock,
              TimerWorkerOptions options);
  ~TimerWorker();
  void Start();
  void Stop();
  void Wake();
  TimerWorkerStats stats() const;
  std::vector<std::string> kind_names() const;

 private:
  void Run();
  absl::Status LeadAndFire();
  bool KindPaused(const std::string& kind) const;
  // The kinds to fire now (the known ones not paused), as a text[] literal.
  std::string RunnableKinds() const;

  std::map<std::string, const TimerKind*> kinds_;
  const ledger::Clock& clock_;
  const TimerWorkerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  TimerWorkerStats stats_;
  std::thread thread_;
};

}  // namespace tally::reactors
