#pragma once
// Jobs: the background work of the reactors role as operators see and steer it (seed 003's
// admin jobs). Every reactor (deciding reactors and work-list folds), every outbox kind's
// sender, every timer kind, the reconciliation poller and the charge reconciler is a job.
// ReactorHost::Jobs() lists what the host wires (JobSpec), so a reactor or kind added to the
// host is a job without being named anywhere else.
//
// Names: a reactor by its own name ("delivery", "outbox", "timers"); an outbox kind's sender
// "outbox:<kind>" ("outbox:delivery"); a timer kind "timer:<kind>" ("timer:upsell"); the
// pollers "reconciliation" and "charge_reconciler".
//
// Pause, resume and trigger are events (tally.jobs.v1.JobPaused, JobResumed, JobTriggered) in
// the `jobs` stream, appended under the system tenant key (tenants/tenant_directory.h) with the
// admin key's id as actor: a pause survives restarts and is audited. A reactors process learns
// them through one JobControl, which reads the stream's new events every `refresh` (1 s) on a
// thread of its own and then calls its listeners if anything changed. Until its first
// successful read JobControl answers that every job is paused: a process that cannot read the
// stream never runs a job an operator paused.
//
// What a pause means (each component checks the JobControl in its options once per loop):
//  - a reactor's runner answers BatchOutcome::Wait: its checkpoint stays where it is, and the
//    events after it are handled, in order, on resume (within the follower's retry interval);
//  - a sender takes no new item, from its table or offered; calls in flight finish;
//  - the timer worker fires no timer of a paused kind;
//  - a poller takes no new payment or intent; polls in flight finish.
// A trigger: the reconciliation poller owes one poll to every payment pending at the trigger's
// time, made as soon as the gateways' limits allow, oldest due first (durable: a restart still
// owes them); senders, the timer worker and the charge reconciler read their work lists now; a
// reactor follows the log continuously, so triggering one records the event and nothing more.
//
// Thread safety: JobControl's accessors and Refresh may be called from any thread; Start, Stop
// and AddListener by the owner. ApplyJobEvent is a pure function.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "ledger/event.h"
#include "ledger/event_store.h"

namespace tally::reactors {

inline constexpr char kJobsStream[] = "jobs";
inline constexpr char kReconciliationJob[] = "reconciliation";
inline constexpr char kChargeReconcilerJob[] = "charge_reconciler";

std::string OutboxJobName(const std::string& kind);  // "outbox:<kind>"
std::string TimerJobName(const std::string& kind);   // "timer:<kind>"

// One job, as the host wires it.
struct JobSpec {
  std::string name;
  std::string type;  // "reactor", "outbox", "timer", "poller"
  // The fold whose checkpoint measures how far behind the job's input is: the reactor itself,
  // or the fold of the work list the job takes its items from.
  std::string checkpoint;
  // Its leader holds the advisory lock (hashtext(lock), partition) on its own session.
  std::string lock;
  // Where its work waits: "log" (a reactor: the events after its checkpoint), "outbox",
  // "timers", "reconciliation_queue", "charge_intents"; and the kind within it.
  std::string work_list;
  std::string kind;
};

// What the jobs stream says of one job.
struct JobState {
  bool paused = false;
  int64_t changed_at_us = 0;  // of the last pause or resume
  std::string changed_by;     // its actor
  std::string reason;
  int64_t triggered_at_us = 0;  // of the last trigger
  std::string triggered_by;
  int64_t triggers = 0;
};
using JobStates = std::map<std::string, JobState>;

// Folds one event of the jobs stream into `states` (other types are ignored); DataLoss when
// its payload or metadata does not parse.
absl::Status ApplyJobEvent(JobStates& states, const ledger::RecordedEvent& event);

struct JobControlOptions {
  std::string database_url;
  std::chrono::milliseconds refresh{1000};
};

class JobControl {
 public:
  // The stream is read in the partition `store` gives the system tenant key.
  JobControl(const ledger::EventStore& store, JobControlOptions options);
  ~JobControl();

  // Calls `on_change` (on the refresh thread) after a read that changed some job's state.
  void AddListener(std::function<void()> on_change);
  // Reads once now (so that a process knows every pause before its jobs start), then every
  // `refresh` on a thread of its own.
  void Start();
  void Stop();
  // Reads the stream's new events now.
  absl::Status Refresh();

  bool Paused(const std::string& job) const;
  // The last trigger's time (the event's), 0 when never triggered.
  int64_t TriggeredAtUs(const std::string& job) const;
  bool loaded() const;
  JobStates states() const;

 private:
  void Run();

  const int partition_;
  const JobControlOptions options_;
  std::vector<std::function<void()>> listeners_;
  std::mutex read_mu_;  // one read at a time, on connection_
  std::unique_ptr<pqxx::connection> connection_;
  int64_t version_ = 0;  // the stream version folded so far (under read_mu_)
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool loaded_ = false;
  JobStates states_;
  std::thread thread_;
};

}  // namespace tally::reactors
