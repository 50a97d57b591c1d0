#include "reactors/job_status.h"

#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "tally/jobs/v1/job_events.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::reactors {
namespace {

constexpr const char* kCheckpoints =
    "SELECT name, partition_id, position, COALESCE(error, '') FROM reactor_checkpoints "
    "WHERE name = ANY($1::text[])";
constexpr const char* kHeads = "SELECT partition_id, position FROM ledger_heads";
// The sessions holding the jobs' advisory locks (key1 = hashtext(lock), key2 = partition) in
// this database.
constexpr const char* kLeaders =
    "SELECT k.name, l.objid::int, l.pid, COALESCE(a.application_name, '') "
    "FROM unnest($1::text[]) AS k(name) "
    "JOIN pg_locks l ON l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted "
    "AND l.classid = hashtext(k.name)::oid "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid";
constexpr const char* kOutbox =
    "SELECT reactor, partition_id, count(*) FILTER (WHERE state = 'due'), "
    "count(*) FILTER (WHERE state = 'in_flight'), count(*) FILTER (WHERE state = 'parked'), "
    "COALESCE(min(due_at_us) FILTER (WHERE state IN ('due', 'in_flight')), 0) "
    "FROM outbox WHERE state <> 'done' GROUP BY reactor, partition_id";
constexpr const char* kTimers =
    "SELECT kind, partition_id, count(*), min(due_at_us) FROM timers "
    "WHERE state = 'scheduled' GROUP BY kind, partition_id";
constexpr const char* kQueue =
    "SELECT partition_id, count(*), min(next_poll_at_us) FROM reconciliation_queue "
    "WHERE state = 'pending' GROUP BY partition_id";
constexpr const char* kIntents =
    "SELECT partition_id, count(*) FILTER (WHERE state = 'open'), "
    "count(*) FILTER (WHERE state = 'unresolved'), "
    "COALESCE(min(due_at_us) FILTER (WHERE state = 'open'), 0) "
    "FROM charge_intents WHERE state IN ('open', 'unresolved') GROUP BY partition_id";

// What a work list holds for one (kind, partition).
struct Work {
  int64_t backlog = 0, in_flight = 0, parked = 0, next_due_at_us = 0;
};

int64_t Earliest(int64_t a, int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

}  // namespace

absl::StatusOr<std::vector<JobStatus>> ReadJobStatus(const std::string& database_url,
                                                     const std::vector<JobSpec>& specs,
                                                     const JobStates& states, int partitions) {
  auto connection = ledger::Connect(database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  std::set<std::string> checkpoint_names, lock_names;
  for (const JobSpec& spec : specs) {
    checkpoint_names.insert(spec.checkpoint);
    lock_names.insert(spec.lock);
  }
  // (name, partition) -> (position, error)
  std::map<std::pair<std::string, int>, std::pair<int64_t, std::string>> checkpoints;
  std::map<int, int64_t> heads;
  std::map<std::pair<std::string, int>, std::pair<int, std::string>> leaders;
  // (work list, kind, partition) -> work
  std::map<std::tuple<std::string, std::string, int>, Work> work;
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**connection);
    for (const auto& row : txn.exec_params(
             kCheckpoints,
             ledger::TextArrayLiteral({checkpoint_names.begin(), checkpoint_names.end()}))) {
      checkpoints[{row[0].as<std::string>(), row[1].as<int>()}] = {row[2].as<int64_t>(),
                                                                   row[3].as<std::string>()};
    }
    for (const auto& row : txn.exec(kHeads)) heads[row[0].as<int>()] = row[1].as<int64_t>();
    for (const auto& row : txn.exec_params(
             kLeaders, ledger::TextArrayLiteral({lock_names.begin(), lock_names.end()}))) {
      leaders[{row[0].as<std::string>(), row[1].as<int>()}] = {row[2].as<int>(),
                                                               row[3].as<std::string>()};
    }
    for (const auto& row : txn.exec(kOutbox)) {
      work[{"outbox", row[0].as<std::string>(), row[1].as<int>()}] = {
          row[2].as<int64_t>(), row[3].as<int64_t>(), row[4].as<int64_t>(), row[5].as<int64_t>()};
    }
    for (const auto& row : txn.exec(kTimers)) {
      work[{"timers", row[0].as<std::string>(), row[1].as<int>()}] = {row[2].as<int64_t>(), 0, 0,
                                                                      row[3].as<int64_t>()};
    }
    for (const auto& row : txn.exec(kQueue)) {
      work[{"reconciliation_queue", "", row[0].as<int>()}] = {row[1].as<int64_t>(), 0, 0,
                                                              row[2].as<int64_t>()};
    }
    for (const auto& row : txn.exec(kIntents)) {
      work[{"charge_intents", "", row[0].as<int>()}] = {row[1].as<int64_t>(), 0,
                                                        row[2].as<int64_t>(), row[3].as<int64_t>()};
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading the jobs' status");
  }

  std::vector<JobStatus> out;
  for (const JobSpec& spec : specs) {
    JobStatus job;
    job.spec = spec;
    if (auto it = states.find(spec.name); it != states.end()) job.state = it->second;
    for (int p = 0; p < partitions; ++p) {
      JobPartitionStatus s;
      s.partition = p;
      s.head = heads[p];
      if (auto it = checkpoints.find({spec.checkpoint, p}); it != checkpoints.end()) {
        s.checkpoint = it->second.first;
        s.error = it->second.second;
      }
      s.lag = std::max<int64_t>(0, s.head - s.checkpoint);
      if (spec.work_list == "log") {
        s.backlog = s.lag;
        s.parked = s.error.empty() ? 0 : 1;
      } else if (auto it = work.find({spec.work_list, spec.kind, p}); it != work.end()) {
        s.backlog = it->second.backlog;
        s.in_flight = it->second.in_flight;
        s.parked = it->second.parked;
        s.next_due_at_us = it->second.next_due_at_us;
      }
      if (auto it = leaders.find({spec.lock, p}); it != leaders.end()) {
        s.leader_pid = it->second.first;
        s.leader_application_name = it->second.second;
      }
      job.lag += s.lag;
      job.backlog += s.backlog;
      job.in_flight += s.in_flight;
      job.parked += s.parked;
      job.next_due_at_us = Earliest(job.next_due_at_us, s.next_due_at_us);
      job.partitions.push_back(std::move(s));
    }
    out.push_back(std::move(job));
  }
  return out;
}

absl::StatusOr<bool> RecordJobCommand(ledger::EventStore& store, const std::string& job,
                                      JobCommand command, const std::string& reason,
                                      const ledger::v1::Metadata& metadata) {
  if (command == JobCommand::kTrigger) {
    jobs::v1::JobTriggered triggered;
    triggered.set_job(job);
    triggered.set_reason(reason);
    auto appended = store.Append({tenants::kSystemTenantKey,
                                  kJobsStream,
                                  ledger::ExpectedVersion::Any(),
                                  {{"tally.jobs.v1.JobTriggered", triggered.SerializeAsString(),
                                    metadata.SerializeAsString()}},
                                  ""});
    if (!appended.ok()) return appended.status();
    return true;
  }
  const bool pause = command == JobCommand::kPause;
  // A concurrent command moves the stream's version: read it again and decide again.
  for (int tries = 0;; ++tries) {
    auto events = store.ReadStream(tenants::kSystemTenantKey, kJobsStream);
    if (!events.ok()) return events.status();
    JobStates states;
    for (const ledger::RecordedEvent& event : *events) {
      if (absl::Status applied = ApplyJobEvent(states, event); !applied.ok()) return applied;
    }
    if (states[job].paused == pause) return false;
    ledger::EventData event;
    if (pause) {
      jobs::v1::JobPaused paused;
      paused.set_job(job);
      paused.set_reason(reason);
      event = {"tally.jobs.v1.JobPaused", paused.SerializeAsString(), metadata.SerializeAsString()};
    } else {
      jobs::v1::JobResumed resumed;
      resumed.set_job(job);
      resumed.set_reason(reason);
      event = {"tally.jobs.v1.JobResumed", resumed.SerializeAsString(),
               metadata.SerializeAsString()};
    }
    const int64_t version = events->empty() ? 0 : events->back().stream_version;
    auto appended = store.Append({tenants::kSystemTenantKey,
                                  kJobsStream,
                                  ledger::ExpectedVersion::Exact(version),
                                  {std::move(event)},
                                  ""});
    if (appended.ok()) return true;
    if (appended.status().code() != absl::StatusCode::kAborted || tries >= 5) {
      return appended.status();
    }
  }
}

}  // namespace tally::reactors
