#include "ledger/subscription.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"

namespace tally::ledger {
namespace {

constexpr const char* kLoadCheckpointSql =
    "SELECT position FROM subscription_checkpoints WHERE subscriber = $1 AND partition_id = $2";
constexpr const char* kSaveCheckpointSql =
    "INSERT INTO subscription_checkpoints (subscriber, partition_id, position, updated_at) "
    "VALUES ($1, $2, $3, now()) ON CONFLICT (subscriber, partition_id) "
    "DO UPDATE SET position = excluded.position, updated_at = now()";

}  // namespace

Subscription::Subscription(SubscriptionOptions options, EventBatchHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  position_ = options_.start_after;
}

Subscription::~Subscription() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Subscription::Start() {
  uint64_t pending_wakes = 0;
  [[maybe_unused]] ssize_t n = read(wake_fd_, &pending_wakes, sizeof pending_wakes);
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Subscription::Stop() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status Subscription::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void Subscription::Run() {
  std::chrono::milliseconds backoff{50};
  while (!stopping_) {
    absl::Status status = Follow();
    if (stopping_) return;
    // A connection problem: keep trying, and say so in status() meanwhile.
    {
      std::lock_guard lock(mu_);
      status_ = status;
    }
    WaitForWake(-1, backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

absl::Status Subscription::Follow() {
  auto conn_or = Connect(options_.database_url, Session::kService);
  if (!conn_or.ok()) return conn_or.status();
  pqxx::connection& conn = **conn_or;
  try {
    {
      pqxx::nontransaction txn(conn);
      txn.exec(absl::StrCat("LISTEN tally_events_", options_.partition));
      if (!options_.checkpoint_name.empty()) {
        pqxx::result row =
            txn.exec_params(kLoadCheckpointSql, options_.checkpoint_name, options_.partition);
        if (!row.empty()) position_ = row[0][0].as<int64_t>();
      }
    }
    {
      std::lock_guard lock(mu_);
      status_ = absl::OkStatus();
    }
    while (!stopping_) {
      std::vector<RecordedEvent> batch;
      {
        pqxx::nontransaction txn(conn);
        batch = ReadEventsAfter(txn, options_.partition, position_.load(), options_.batch_size);
      }
      if (batch.empty()) {
        WaitForWake(conn.sock(), options_.poll_interval);
        conn.get_notifs();
        continue;
      }
      absl::Status handled = handler_(batch);
      if (!handled.ok()) {
        std::lock_guard lock(mu_);
        status_ =
            absl::Status(handled.code(), absl::StrCat("stopped at the batch after position ",
                                                      position_.load(), ": ", handled.message()));
        stopping_ = true;
        return status_;
      }
      const int64_t last = batch.back().position;
      if (!options_.checkpoint_name.empty()) {
        pqxx::nontransaction txn(conn);
        txn.exec_params(kSaveCheckpointSql, options_.checkpoint_name, options_.partition, last);
      }
      position_ = last;
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, "following the log");
  }
}

void Subscription::WaitForWake(int socket, std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int n = 0;
  fds[n++] = {wake_fd_, POLLIN, 0};
  if (socket >= 0) fds[n++] = {socket, POLLIN, 0};
  poll(fds, n, static_cast<int>(timeout.count()));
}

}  // namespace tally::ledger
