#include "projections/runner.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "projections/catalog.h"

namespace tally::projections {
namespace {

constexpr const char* kLockCheckpoint =
    "SELECT position FROM projection_checkpoints WHERE name = $1 AND partition_id = $2 "
    "FOR UPDATE";
constexpr const char* kMoveCheckpoint =
    "UPDATE projection_checkpoints SET position = $3, updated_at = now(), error = NULL, "
    "error_position = NULL WHERE name = $1 AND partition_id = $2";
constexpr const char* kRecordPoison =
    "UPDATE projection_checkpoints SET error = $3, error_position = $4, updated_at = now() "
    "WHERE name = $1 AND partition_id = $2";

}  // namespace

ProjectionRunner::ProjectionRunner(const Projection& projection, RunnerOptions options)
    : projection_(projection), options_(std::move(options)) {}

ProjectionRunner::~ProjectionRunner() { Stop(); }

void ProjectionRunner::Start() {
  wakeup_.Reset();
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ProjectionRunner::Stop() {
  stopping_ = true;
  wakeup_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status ProjectionRunner::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void ProjectionRunner::Run() {
  while (!stopping_) {
    absl::Status status = Follow();
    if (stopping_ || state_ == State::kStopped) return;
    if (!status.ok()) {
      std::lock_guard lock(mu_);
      error_ = status;
    }
    wakeup_.Wait(-1, options_.lock_retry);
  }
}

absl::Status ProjectionRunner::Follow() {
  // The lock lives as long as this session: if the process dies, PostgreSQL releases it.
  auto lock_conn = ledger::Connect(options_.database_url, ledger::Session::kProjector);
  if (!lock_conn.ok()) return lock_conn.status();
  auto conn_or = ledger::Connect(options_.database_url, ledger::Session::kProjector);
  if (!conn_or.ok()) return conn_or.status();
  pqxx::connection& conn = **conn_or;
  const std::string name = projection_.name();
  const int partition = options_.partition;
  try {
    {
      pqxx::nontransaction txn(**lock_conn);
      const bool locked =
          txn.exec_params("SELECT pg_try_advisory_lock(hashtext('tally.projection.' || $1), $2)",
                          name, partition)[0][0]
              .as<bool>();
      if (!locked) {
        state_ = State::kStandby;
        return absl::OkStatus();
      }
    }
    if (absl::Status status = EnsureInitialized(options_.database_url, projection_); !status.ok()) {
      return status;
    }
    {
      pqxx::nontransaction txn(conn);
      txn.exec(absl::StrCat("LISTEN tally_events_", partition));
      pqxx::result row = txn.exec_params(
          "SELECT position FROM projection_checkpoints WHERE name = $1 AND partition_id = $2", name,
          partition);
      position_ = row.empty() ? 0 : row[0][0].as<int64_t>();
    }
    state_ = State::kLive;
    {
      std::lock_guard lock(mu_);
      error_ = absl::OkStatus();
    }
    while (!stopping_) {
      std::vector<ledger::RecordedEvent> batch;
      {
        pqxx::nontransaction txn(conn);
        batch = ledger::ReadEventsAfter(txn, partition, position_.load(), options_.batch_size);
      }
      if (batch.empty()) {
        wakeup_.Wait(conn.sock(), options_.poll_interval);
        conn.get_notifs();
        continue;
      }
      // Fold the batch; on a poison event, fold again only the events before it.
      size_t take = batch.size();
      absl::Status poison;
      int64_t poison_position = 0;
      for (int attempt = 0; attempt < 2 && take > 0; ++attempt) {
        pqxx::work txn(conn);
        std::optional<LiveVersion> live = ReadLiveVersion(txn, name, /*lock=*/true);
        if (!live.has_value() || live->version != projection_.version()) {
          state_ = State::kWaitingForRebuild;
          txn.abort();
          wakeup_.Wait(-1, options_.lock_retry);
          break;
        }
        state_ = State::kLive;
        pqxx::result checkpoint = txn.exec_params(kLockCheckpoint, name, partition);
        const int64_t at = checkpoint.empty() ? -1 : checkpoint[0][0].as<int64_t>();
        if (at != position_.load()) {
          // A rebuild swapped tables and checkpoints under us: continue from where it left.
          position_ = std::max<int64_t>(at, 0);
          break;
        }
        std::vector<ledger::RecordedEvent> part(batch.begin(), batch.begin() + take);
        auto fold = projection_.NewFold();
        absl::Status status = fold->Load(txn, live->suffix, part);
        size_t applied = 0;
        for (; status.ok() && applied < part.size(); ++applied) {
          status = fold->Apply(part[applied]);
          if (!status.ok()) break;
        }
        if (!status.ok() && applied < part.size()) {
          poison = status;
          poison_position = part[applied].position;
          take = applied;  // retry with the events before the poison
          txn.abort();
          continue;
        }
        if (!status.ok()) return status;
        if (absl::Status stored = fold->Store(txn, live->suffix); !stored.ok()) return stored;
        txn.exec_params(kMoveCheckpoint, name, partition, part.back().position);
        txn.commit();
        position_ = part.back().position;
        if (options_.on_applied) options_.on_applied(position_.load());
        break;
      }
      if (!poison.ok()) {
        pqxx::work txn(conn);
        txn.exec_params(kRecordPoison, name, partition, std::string(poison.message()),
                        poison_position);
        txn.commit();
        std::lock_guard lock(mu_);
        error_ = absl::Status(poison.code(), absl::StrCat("poison event at position ",
                                                          poison_position, ": ", poison.message()));
        state_ = State::kStopped;
        return error_;
      }
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    state_ = State::kStandby;
    return ledger::StatusFromException(e, absl::StrCat("projection ", name));
  }
}

}  // namespace tally::projections
