#include "ledger/subscription.h"

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
  position_ = options_.start_after;
}

Subscription::~Subscription() { Stop(); }

void Subscription::Start() {
  wakeup_.Reset();
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Subscription::Stop() {
  stopping_ = true;
  wakeup_.Notify();
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
    wakeup_.Wait(-1, backoff);
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
        wakeup_.Wait(conn.sock(), options_.poll_interval);
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

}  // namespace tally::ledger
