#include "projections/runner.h"

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "projections/catalog.h"

namespace tally::projections {
namespace {

constexpr const char* kReadCheckpoint =
    "SELECT position FROM projection_checkpoints WHERE name = $1 AND partition_id = $2";
constexpr const char* kLockCheckpoint =
    "SELECT position FROM projection_checkpoints WHERE name = $1 AND partition_id = $2 "
    "FOR UPDATE";
constexpr const char* kMoveCheckpoint =
    "UPDATE projection_checkpoints SET position = $3, updated_at = now(), error = NULL, "
    "error_position = NULL WHERE name = $1 AND partition_id = $2";
// Said in the batch's transaction, so a listener hears of a batch exactly when its rows are
// visible: "<projection>:<partition>:<checkpoint>" (http/live_feed.h listens).
constexpr const char* kNotifyCommitted = "SELECT pg_notify('tally_projection_committed', $1)";
constexpr const char* kRecordPoison =
    "UPDATE projection_checkpoints SET error = $3, error_position = $4, updated_at = now() "
    "WHERE name = $1 AND partition_id = $2";

ledger::LogFollowerOptions FollowerOptions(const Projection& projection,
                                           const RunnerOptions& options) {
  ledger::LogFollowerOptions follower;
  follower.database_url = options.database_url;
  follower.session = ledger::Session::kProjector;
  // The lock key the runner has always used: hashtext('tally.projection.' || name).
  follower.name = absl::StrCat("projection.", projection.name());
  follower.partition = options.partition;
  follower.batch_size = options.batch_size;
  follower.poll_interval = options.poll_interval;
  follower.retry_interval = options.lock_retry;
  return follower;
}

}  // namespace

// Folds batches into the live tables, in the follower's transaction.
class ProjectionRunner::Handler final : public ledger::BatchHandler {
 public:
  Handler(const Projection& projection, const RunnerOptions& options)
      : projection_(projection),
        name_(projection.name()),
        partition_(options.partition),
        database_url_(options.database_url),
        on_applied_(options.on_applied) {}

  absl::StatusOr<int64_t> Resume(pqxx::transaction_base& txn) override {
    if (absl::Status status = EnsureInitialized(database_url_, projection_); !status.ok()) {
      return status;
    }
    try {
      pqxx::result row = txn.exec_params(kReadCheckpoint, name_, partition_);
      return row.empty() ? 0 : row[0][0].as<int64_t>();
    } catch (const std::exception& e) {
      return ledger::StatusFromException(e, absl::StrCat("reading the checkpoint of ", name_));
    }
  }

  absl::StatusOr<ledger::BatchOutcome> Handle(pqxx::transaction_base& txn,
                                              const ledger::LogBatch& batch) override {
    try {
      // FOR SHARE: a rebuild's swap, which takes the row FOR UPDATE, waits for this batch.
      std::optional<LiveVersion> live = ReadLiveVersion(txn, name_, /*lock=*/true);
      if (!live.has_value() || live->version != projection_.version()) {
        return ledger::BatchOutcome::Wait();
      }
      pqxx::result checkpoint = txn.exec_params(kLockCheckpoint, name_, partition_);
      if (checkpoint.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat(name_, " has no checkpoint for partition ", partition_));
      }
      const int64_t at = checkpoint[0][0].as<int64_t>();
      // A rebuild swapped tables and checkpoints under us: continue from where it left.
      if (at != batch.after) return ledger::BatchOutcome::Moved(at);
      return Fold(txn, live->suffix, batch);
    } catch (const std::exception& e) {
      return ledger::StatusFromException(e, absl::StrCat("projection ", name_));
    }
  }

  void Committed(int64_t position) override {
    if (on_applied_) on_applied_(position);
  }

 private:
  absl::StatusOr<ledger::BatchOutcome> Fold(pqxx::transaction_base& txn, const std::string& suffix,
                                            const ledger::LogBatch& batch) {
    const std::vector<ledger::RecordedEvent>& events = batch.events;
    auto fold = projection_.NewFold();
    absl::Status poison = fold->Load(txn, suffix, events);
    // DataLoss from Load is a stored row the fold cannot read back: no retry can help. Any
    // other error is the database's, and worth retrying.
    if (!poison.ok() && poison.code() != absl::StatusCode::kDataLoss) return poison;
    size_t applied = 0;
    for (; poison.ok() && applied < events.size(); ++applied) {
      poison = fold->Apply(events[applied]);
      if (!poison.ok()) break;
    }
    if (poison.ok()) {
      if (absl::Status stored = fold->Store(txn, suffix); !stored.ok()) return stored;
      MoveCheckpoint(txn, events.back().position);
      return ledger::BatchOutcome::Handled(events.back().position);
    }
    // Apply may have changed the fold before failing: fold again only the events before the
    // poison, with a fresh fold, so they are committed and the poison is the next event.
    int64_t position = batch.after;
    if (applied > 0) {
      const std::vector<ledger::RecordedEvent> before(events.begin(), events.begin() + applied);
      fold = projection_.NewFold();
      absl::Status status = fold->Load(txn, suffix, before);
      for (size_t i = 0; status.ok() && i < before.size(); ++i) status = fold->Apply(before[i]);
      if (status.ok()) status = fold->Store(txn, suffix);
      if (!status.ok()) return status;
      position = before.back().position;
      MoveCheckpoint(txn, position);
    }
    txn.exec_params(kRecordPoison, name_, partition_, std::string(poison.message()),
                    events[applied].position);
    return ledger::BatchOutcome::Poison(position, poison);
  }

  void MoveCheckpoint(pqxx::transaction_base& txn, int64_t position) {
    txn.exec_params(kMoveCheckpoint, name_, partition_, position);
    txn.exec_params(kNotifyCommitted, absl::StrCat(name_, ":", partition_, ":", position));
  }

  const Projection& projection_;
  const std::string name_;
  const int partition_;
  const std::string database_url_;
  const std::function<void(int64_t)> on_applied_;
};

ProjectionRunner::ProjectionRunner(const Projection& projection, RunnerOptions options)
    : handler_(std::make_unique<Handler>(projection, options)),
      follower_(FollowerOptions(projection, options), *handler_) {}

ProjectionRunner::~ProjectionRunner() { Stop(); }

void ProjectionRunner::Start() { follower_.Start(); }

void ProjectionRunner::Stop() { follower_.Stop(); }

ProjectionRunner::State ProjectionRunner::state() const {
  switch (follower_.state()) {
    case ledger::LogFollower::State::kStarting:
      return State::kStarting;
    case ledger::LogFollower::State::kStandby:
      return State::kStandby;
    case ledger::LogFollower::State::kLive:
      return State::kLive;
    case ledger::LogFollower::State::kWaiting:
      return State::kWaitingForRebuild;
    case ledger::LogFollower::State::kStopped:
      return State::kStopped;
  }
  return State::kStopped;
}

}  // namespace tally::projections
