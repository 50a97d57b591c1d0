#include "ledger/log_follower.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/event_rows.h"

namespace tally::ledger {
namespace {

constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext('tally.' || $1), $2)";

// The position of the first event after `position` in `batch`: the poison event.
int64_t PoisonPosition(const LogBatch& batch, int64_t position) {
  for (const auto& event : batch.events) {
    if (event.position > position) return event.position;
  }
  return position + 1;
}

}  // namespace

LogFollower::LogFollower(LogFollowerOptions options, BatchHandler& handler)
    : options_(std::move(options)), handler_(handler) {}

LogFollower::~LogFollower() { Stop(); }

void LogFollower::Start() {
  if (thread_.joinable()) return;
  wakeup_.Reset();
  stopping_ = false;
  state_ = State::kStarting;
  SetStatus(absl::OkStatus());
  thread_ = std::thread([this] { Run(); });
}

void LogFollower::Stop() {
  stopping_ = true;
  wakeup_.Notify();
  if (thread_.joinable()) thread_.join();
  state_ = State::kStopped;
}

absl::Status LogFollower::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void LogFollower::SetStatus(absl::Status status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
}

void LogFollower::Run() {
  backoff_ = std::chrono::milliseconds(0);
  while (!stopping_) {
    absl::Status status = FollowSession();
    if (stopping_ || state_ == State::kStopped) return;
    // The session is gone and the lead with it; say why while waiting to try again.
    state_ = State::kStarting;
    SetStatus(std::move(status));
    wakeup_.Wait(-1, backoff_);
    backoff_ = std::min(std::max(backoff_ * 2, options_.retry_interval),
                        std::max(options_.max_backoff, options_.retry_interval));
  }
}

absl::Status LogFollower::FollowSession() {
  auto conn_or = Connect(options_.database_url, options_.session);
  if (!conn_or.ok()) return conn_or.status();
  pqxx::connection& conn = **conn_or;
  const int partition = options_.partition;
  try {
    // The session-level lock lasts as long as this connection: a crash or a lost connection
    // hands the lead to a standby without anyone having to notice.
    for (;;) {
      pqxx::nontransaction txn(conn);
      if (txn.exec_params(kTryLead, options_.name, partition)[0][0].as<bool>()) break;
      state_ = State::kStandby;
      SetStatus(absl::OkStatus());
      wakeup_.Wait(-1, options_.retry_interval);
      if (stopping_) return absl::OkStatus();
    }
    {
      // Before reading the checkpoint, so an append committed after the catch-up read wakes us.
      pqxx::nontransaction txn(conn);
      txn.exec(absl::StrCat("LISTEN tally_events_", partition));
    }
    {
      pqxx::work txn(conn);
      absl::StatusOr<int64_t> resumed = handler_.Resume(txn);
      if (!resumed.ok()) return resumed.status();
      txn.commit();
      position_ = *resumed;
    }
    state_ = State::kLive;
    SetStatus(absl::OkStatus());

    while (!stopping_) {
      LogBatch batch;
      batch.partition = partition;
      batch.after = position_.load();
      {
        pqxx::nontransaction txn(conn);
        auto events = ReadEventsAfter(txn, partition, batch.after, options_.batch_size);
        if (!events.ok()) return events.status();
        batch.events = std::move(*events);
      }
      if (batch.events.empty()) {
        backoff_ = std::chrono::milliseconds(0);  // caught up: this session works
        wakeup_.Wait(conn.sock(), options_.poll_interval);
        conn.get_notifs();
        continue;
      }
      pqxx::work txn(conn);
      absl::StatusOr<BatchOutcome> outcome = handler_.Handle(txn, batch);
      if (!outcome.ok()) return outcome.status();
      switch (outcome->kind) {
        case BatchOutcome::Kind::kWait:
          txn.abort();
          state_ = State::kWaiting;
          wakeup_.Wait(-1, options_.retry_interval);
          continue;
        case BatchOutcome::Kind::kMoved:
          txn.abort();
          position_ = outcome->position;
          continue;
        case BatchOutcome::Kind::kHandled:
        case BatchOutcome::Kind::kPoison:
          break;
      }
      const bool poison = outcome->kind == BatchOutcome::Kind::kPoison;
      const int64_t last = batch.events.back().position;
      if (outcome->position < batch.after + (poison ? 0 : 1) || outcome->position > last) {
        // A handler that answers outside its batch would answer the same way again.
        txn.abort();
        state_ = State::kStopped;
        SetStatus(absl::InternalError(absl::StrCat(options_.name, ": handler answered position ",
                                                   outcome->position, " for the batch ",
                                                   batch.after + 1, "..", last)));
        return status();
      }
      txn.commit();
      backoff_ = std::chrono::milliseconds(0);
      position_ = outcome->position;
      if (outcome->position > batch.after) handler_.Committed(outcome->position);
      if (poison) {
        state_ = State::kStopped;
        const absl::StatusCode code =
            outcome->error.ok() ? absl::StatusCode::kInternal : outcome->error.code();
        SetStatus(absl::Status(code, absl::StrCat("poison event at position ",
                                                  PoisonPosition(batch, outcome->position), ": ",
                                                  outcome->error.message())));
        return status();
      }
      state_ = State::kLive;
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(
        e, absl::StrCat("following partition ", partition, " as ", options_.name));
  }
}

}  // namespace tally::ledger
