#pragma once
// What the admin API shows of each job (reactors/job_control.h) and how it records an
// operator's command.
//
// Per job and partition, read in one snapshot: the checkpoint of the job's fold against the
// partition's head (lag: events not yet handled, or not yet in the job's work list); the
// backlog of its work list (a reactor: its lag; a sender: outbox items due or in flight; a timer
// kind: timers scheduled; the reconciliation poller: payments pending; the charge reconciler:
// intents open); items parked (outbox items parked, intents unresolved, a reactor stopped by a
// poison event); when the next item is due; and the leader: the PostgreSQL backend holding the
// job's advisory lock for that partition, with its application_name (`tally serve` names its
// sessions "tally serve pid <pid> on <host>").
//
// RecordJobCommand appends JobPaused / JobResumed (only when the job's state changes, checked
// against the stream's version so that concurrent commands cannot interleave) or JobTriggered
// (always) to the `jobs` stream, with `metadata` (the admin key as actor).
//
// Thread-safe (no shared state); each read opens its own connection.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event_store.h"
#include "reactors/job_control.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::reactors {

struct JobPartitionStatus {
  int partition = 0;
  int64_t checkpoint = 0;
  int64_t head = 0;
  int64_t lag = 0;
  int64_t backlog = 0;
  int64_t in_flight = 0;  // outbox items attempted and not answered
  int64_t parked = 0;
  int64_t next_due_at_us = 0;  // 0: nothing waits
  std::string error;           // the poison that stopped a reactor here
  int leader_pid = 0;          // the leader's backend pid; 0: no leader now
  std::string leader_application_name;
};

struct JobStatus {
  JobSpec spec;
  JobState state;
  std::vector<JobPartitionStatus> partitions;
  // Over every partition (next_due_at_us: the earliest).
  int64_t lag = 0;
  int64_t backlog = 0;
  int64_t in_flight = 0;
  int64_t parked = 0;
  int64_t next_due_at_us = 0;
};

// The status of `specs` over `partitions` partitions, with their states from `states`.
absl::StatusOr<std::vector<JobStatus>> ReadJobStatus(const std::string& database_url,
                                                     const std::vector<JobSpec>& specs,
                                                     const JobStates& states, int partitions);

enum class JobCommand { kPause, kResume, kTrigger };

// Records `command` for `job` (the caller has checked that it names a job). Returns whether an
// event was appended: false for pausing a paused job or resuming a running one.
absl::StatusOr<bool> RecordJobCommand(ledger::EventStore& store, const std::string& job,
                                      JobCommand command, const std::string& reason,
                                      const ledger::v1::Metadata& metadata);

}  // namespace tally::reactors
