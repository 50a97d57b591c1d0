#include "reactors/reactor.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "reactors/checkpoints.h"
#include "reactors/job_control.h"

namespace tally::reactors {

class ReactorRunner::Handler final : public ledger::BatchHandler {
 public:
  Handler(Reactor& reactor, int partition, const JobControl* jobs)
      : reactor_(reactor), name_(reactor.name()), partition_(partition), jobs_(jobs) {}
  const std::string& name() const { return name_; }

  absl::StatusOr<int64_t> Resume(pqxx::transaction_base& txn) override {
    return ReadCheckpoint(txn, name_, partition_, /*lock=*/false);
  }

  absl::StatusOr<ledger::BatchOutcome> Handle(pqxx::transaction_base& txn,
                                              const ledger::LogBatch& batch) override {
    if (jobs_ != nullptr && jobs_->Paused(name_)) return ledger::BatchOutcome::Wait();
    absl::StatusOr<int64_t> at = ReadCheckpoint(txn, name_, partition_, /*lock=*/true);
    if (!at.ok()) return at.status();
    if (*at != batch.after) return ledger::BatchOutcome::Moved(*at);
    int64_t done = batch.after;
    for (const ledger::RecordedEvent& event : batch.events) {
      absl::Status reacted;
      try {
        reacted = reactor_.React(txn, event);
      } catch (const std::exception& e) {
        reacted = ledger::StatusFromException(e, absl::StrCat(name_, " at ", event.position));
      }
      if (!reacted.ok()) {
        // The events before this one keep their checkpoint only if their effects are durable.
        if (absl::Status settled = Settle(); !settled.ok()) return settled;
      }
      if (reacted.code() == absl::StatusCode::kDataLoss) {
        const std::string error =
            absl::StrCat("position ", event.position, " (", event.type, "): ", reacted.message());
        if (absl::Status s = MoveCheckpoint(txn, name_, partition_, done); !s.ok()) return s;
        if (absl::Status s = RecordPoison(txn, name_, partition_, event.position, error); !s.ok()) {
          return s;
        }
        return ledger::BatchOutcome::Poison(done, absl::DataLossError(error));
      }
      if (!reacted.ok()) {
        // Rolled back and retried with backoff; said once per failed batch so it is seen.
        spdlog::warn("reactor {} partition {} at position {} ({}): {}; retrying", name_, partition_,
                     event.position, event.type, std::string(reacted.message()));
        return reacted;
      }
      done = event.position;
    }
    if (absl::Status settled = Settle(); !settled.ok()) return settled;
    if (absl::Status s = MoveCheckpoint(txn, name_, partition_, done); !s.ok()) return s;
    return ledger::BatchOutcome::Handled(done);
  }

  void Committed(int64_t position) override { reactor_.Committed(partition_, position); }

 private:
  absl::Status Settle() {
    try {
      return reactor_.Settle(partition_);
    } catch (const std::exception& e) {
      return ledger::StatusFromException(e, absl::StrCat(name_, " settling a batch"));
    }
  }
  Reactor& reactor_;
  const std::string name_;
  const int partition_;
  const JobControl* const jobs_;
};

ReactorRunner::ReactorRunner(Reactor& reactor, ReactorRunnerOptions options)
    : handler_(std::make_unique<Handler>(reactor, options.partition, options.jobs)) {
  ledger::LogFollowerOptions follower;
  follower.database_url = options.database_url;
  follower.session = ledger::Session::kProjector;
  follower.name = absl::StrCat("reactor.", reactor.name());
  follower.partition = options.partition;
  follower.batch_size = options.batch_size;
  follower.poll_interval = options.poll_interval;
  follower.retry_interval = options.retry_interval;
  follower_ = std::make_unique<ledger::LogFollower>(std::move(follower), *handler_);
}

ReactorRunner::~ReactorRunner() { Stop(); }

void ReactorRunner::Start() { follower_->Start(); }
void ReactorRunner::Stop() { follower_->Stop(); }
ledger::LogFollower::State ReactorRunner::state() const { return follower_->state(); }
int64_t ReactorRunner::position() const { return follower_->position(); }
absl::Status ReactorRunner::status() const { return follower_->status(); }
const std::string& ReactorRunner::reactor_name() const { return handler_->name(); }

}  // namespace tally::reactors
