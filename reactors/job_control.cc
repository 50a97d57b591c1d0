#include "reactors/job_control.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "tally/jobs/v1/job_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::reactors {
namespace {

const std::string kNewEvents =
    absl::StrCat("SELECT ", ledger::kEventColumns,
                 " FROM events WHERE partition_id = $1 AND stream_id = $2 AND stream_version > $3 "
                 "ORDER BY stream_version");

template <typename Message>
absl::StatusOr<Message> Parse(const ledger::RecordedEvent& event) {
  Message m;
  if (!m.ParseFromString(event.payload)) {
    return absl::DataLossError(absl::StrCat(Message::descriptor()->name(), " at position ",
                                            event.position, " does not parse"));
  }
  return m;
}

}  // namespace

std::string OutboxJobName(const std::string& kind) { return absl::StrCat("outbox:", kind); }
std::string TimerJobName(const std::string& kind) { return absl::StrCat("timer:", kind); }

absl::Status ApplyJobEvent(JobStates& states, const ledger::RecordedEvent& event) {
  const bool paused = event.type == "tally.jobs.v1.JobPaused";
  const bool resumed = event.type == "tally.jobs.v1.JobResumed";
  const bool triggered = event.type == "tally.jobs.v1.JobTriggered";
  if (!paused && !resumed && !triggered) return absl::OkStatus();
  ledger::v1::Metadata metadata;
  if (!metadata.ParseFromString(event.metadata)) {
    return absl::DataLossError(absl::StrCat("metadata at position ", event.position));
  }
  std::string job, reason;
  if (paused) {
    auto m = Parse<jobs::v1::JobPaused>(event);
    if (!m.ok()) return m.status();
    job = m->job();
    reason = m->reason();
  } else if (resumed) {
    auto m = Parse<jobs::v1::JobResumed>(event);
    if (!m.ok()) return m.status();
    job = m->job();
    reason = m->reason();
  } else {
    auto m = Parse<jobs::v1::JobTriggered>(event);
    if (!m.ok()) return m.status();
    job = m->job();
  }
  JobState& state = states[job];
  if (triggered) {
    state.triggered_at_us = event.recorded_at_us;
    state.triggered_by = metadata.actor();
    ++state.triggers;
    return absl::OkStatus();
  }
  state.paused = paused;
  state.changed_at_us = event.recorded_at_us;
  state.changed_by = metadata.actor();
  state.reason = reason;
  return absl::OkStatus();
}

JobControl::JobControl(const ledger::EventStore& store, JobControlOptions options)
    : partition_(store.PartitionFor(tenants::kSystemTenantKey)), options_(std::move(options)) {}

JobControl::~JobControl() { Stop(); }

void JobControl::AddListener(std::function<void()> on_change) {
  listeners_.push_back(std::move(on_change));
}

void JobControl::Start() {
  if (thread_.joinable()) return;
  if (absl::Status read = Refresh(); !read.ok()) {
    spdlog::warn("jobs: the jobs stream is not readable yet (every job waits): {}",
                 std::string(read.message()));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void JobControl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobControl::Run() {
  bool failing = false;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, options_.refresh, [this] { return stopping_; })) return;
    }
    absl::Status read = Refresh();
    // Said once per outage, not once a second.
    if (!read.ok() && !failing) {
      spdlog::warn("jobs: reading the jobs stream: {}", std::string(read.message()));
    }
    failing = !read.ok();
  }
}

absl::Status JobControl::Refresh() {
  std::lock_guard<std::mutex> read_lock(read_mu_);
  std::vector<ledger::RecordedEvent> events;
  try {
    if (connection_ == nullptr) {
      auto connected = ledger::Connect(options_.database_url, ledger::Session::kService);
      if (!connected.ok()) return connected.status();
      connection_ = std::move(*connected);
    }
    pqxx::nontransaction txn(*connection_);
    for (const auto& row : txn.exec_params(kNewEvents, partition_, kJobsStream, version_)) {
      events.push_back(ledger::RecordedEventFromRow(row));
    }
  } catch (const std::exception& e) {
    connection_.reset();
    return ledger::StatusFromException(e, "reading the jobs stream");
  }
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed = !loaded_ || !events.empty();
    for (const ledger::RecordedEvent& event : events) {
      if (absl::Status applied = ApplyJobEvent(states_, event); !applied.ok()) return applied;
      version_ = event.stream_version;
    }
    loaded_ = true;
  }
  if (changed) {
    for (const auto& listener : listeners_) listener();
  }
  return absl::OkStatus();
}

bool JobControl::Paused(const std::string& job) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!loaded_) return true;
  auto it = states_.find(job);
  return it != states_.end() && it->second.paused;
}

int64_t JobControl::TriggeredAtUs(const std::string& job) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(job);
  return it == states_.end() ? 0 : it->second.triggered_at_us;
}

JobStates JobControl::states() const {
  std::lock_guard<std::mutex> lock(mu_);
  return states_;
}

bool JobControl::loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

}  // namespace tally::reactors
