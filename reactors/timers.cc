#include "reactors/timers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"

namespace tally::reactors {
namespace {

constexpr const char* kScheduled =
    "INSERT INTO timers (partition_id, kind, timer_id, stream_id, tenant_id, due_at_us, state, "
    "request, scheduled_position, updated_position) "
    "VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $8) ON CONFLICT DO NOTHING";
constexpr const char* kEnded =
    "UPDATE timers SET state = $4, updated_position = $5 "
    "WHERE partition_id = $1 AND kind = $2 AND timer_id = $3 AND state = 'scheduled'";
constexpr int kBatch = 200;
constexpr const char* kDue =
    "SELECT kind, timer_id, stream_id, tenant_id, due_at_us, scheduled_position, request "
    "FROM timers WHERE partition_id = $1 AND state = 'scheduled' AND due_at_us <= $2 "
    "ORDER BY due_at_us, scheduled_position LIMIT 200";
constexpr const char* kNextDue =
    "SELECT min(due_at_us) FROM timers WHERE partition_id = $1 AND state = 'scheduled' "
    "AND due_at_us > $2";
constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext($1), $2)";

}  // namespace

TimerFold::TimerFold(std::vector<const TimerKind*> kinds, std::function<void()> on_committed)
    : kinds_(std::move(kinds)), on_committed_(std::move(on_committed)) {}

void TimerFold::Committed(int, int64_t) {
  if (on_committed_) on_committed_();
}

absl::Status TimerFold::React(pqxx::transaction_base& txn, const ledger::RecordedEvent& e) {
  for (const TimerKind* kind : kinds_) {
    const bool scheduled = e.type == kind->scheduled_type;
    if (!scheduled && std::find(kind->ended_types.begin(), kind->ended_types.end(), e.type) ==
                          kind->ended_types.end()) {
      continue;
    }
    absl::StatusOr<TimerEvent> read = kind->read(e);
    if (!read.ok()) return read.status();
    if (read->type == TimerEvent::Type::kScheduled) {
      txn.exec_params(kScheduled, e.partition, kind->name, read->timer_id, e.stream_id,
                      read->tenant_id, read->due_at_us, pqxx::binarystring(e.payload), e.position);
    } else {
      txn.exec_params(kEnded, e.partition, kind->name, read->timer_id,
                      read->cancelled ? "cancelled" : "fired", e.position);
    }
  }
  return absl::OkStatus();
}

TimerWorker::TimerWorker(std::vector<const TimerKind*> kinds, const ledger::Clock& clock,
                         TimerWorkerOptions options)
    : clock_(clock), options_(std::move(options)) {
  for (const TimerKind* kind : kinds) kinds_[kind->name] = kind;
}

TimerWorker::~TimerWorker() { Stop(); }

void TimerWorker::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void TimerWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimerWorker::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

TimerWorkerStats TimerWorker::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void TimerWorker::Run() {
  while (true) {
    absl::Status ended = LeadAndFire();
    std::unique_lock<std::mutex> lock(mu_);
    stats_.leading = false;
    if (stopping_) return;
    if (!ended.ok()) {
      spdlog::warn("timer worker partition {}: {}", options_.partition,
                   std::string(ended.message()));
    }
    cv_.wait_for(lock, options_.lock_retry, [this] { return stopping_; });
    if (stopping_) return;
  }
}

absl::Status TimerWorker::LeadAndFire() {
  auto connection = ledger::Connect(options_.database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  const auto spacing = std::chrono::microseconds(
      static_cast<int64_t>(1e6 / std::max(0.001, options_.fire_per_second)));
  try {
    pqxx::connection& c = **connection;
    {
      pqxx::nontransaction txn(c);
      if (!txn.exec_params(kTryLead, "tally.timers", options_.partition)[0][0].as<bool>()) {
        return absl::OkStatus();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.leading = true;
    }
    // Timers fired here whose ending event the fold may not have folded yet.
    std::set<std::pair<std::string, std::string>> fired_here;
    // Timers whose firing failed: not before this clock time.
    std::map<std::pair<std::string, std::string>, int64_t> failed;
    auto next_slot = std::chrono::steady_clock::now();
    while (true) {
      const int64_t now = clock_.NowMicros();
      std::vector<TimerItem> due;
      int64_t next_due = 0;
      {
        pqxx::nontransaction txn(c);
        for (const auto& row : txn.exec_params(kDue, options_.partition, now)) {
          TimerItem item;
          item.kind = row[0].as<std::string>();
          item.timer_id = row[1].as<std::string>();
          item.stream_id = row[2].as<std::string>();
          item.tenant_id = row[3].as<std::string>();
          item.partition = options_.partition;
          item.due_at_us = row[4].as<int64_t>();
          item.scheduled_position = row[5].as<int64_t>();
          item.request = pqxx::binarystring(row[6]).str();
          due.push_back(std::move(item));
        }
        auto next = txn.exec_params(kNextDue, options_.partition, now);
        if (!next.empty() && !next[0][0].is_null()) next_due = next[0][0].as<int64_t>();
      }
      // What the fold has marked since is no longer due: forget it (a full batch may hide
      // some, which are simply kept a little longer).
      std::set<std::pair<std::string, std::string>> still_due;
      for (const TimerItem& item : due) still_due.emplace(item.kind, item.timer_id);
      if (due.size() < static_cast<size_t>(kBatch)) {
        std::erase_if(fired_here, [&](const auto& k) { return !still_due.count(k); });
      }
      size_t fired_now = 0;
      for (const TimerItem& item : due) {
        const auto key = std::make_pair(item.kind, item.timer_id);
        if (fired_here.count(key)) continue;
        if (auto f = failed.find(key); f != failed.end() && f->second > clock_.NowMicros()) {
          continue;
        }
        auto kind = kinds_.find(item.kind);
        if (kind == kinds_.end()) continue;  // a kind this binary does not know
        {
          // Paced: a backlog after downtime drains at fire_per_second, oldest first.
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_until(lock, next_slot, [this] { return stopping_; })) {
            return absl::OkStatus();
          }
        }
        next_slot = std::max(next_slot, std::chrono::steady_clock::now()) + spacing;
        absl::Status fired = kind->second->fire(item);
        std::lock_guard<std::mutex> lock(mu_);
        if (fired.ok()) {
          fired_here.insert(key);
          failed.erase(key);
          ++stats_.fired;
          ++fired_now;
        } else {
          ++stats_.errors;
          failed[key] = clock_.NowMicros() + static_cast<int64_t>(5e6 * options_.time_scale);
          spdlog::warn("timer {} {} not fired, retried later: {}", item.kind, item.timer_id,
                       std::string(fired.message()));
        }
      }
      if (failed.size() > 100000) failed.clear();
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return absl::OkStatus();
      if (fired_now > 0 && due.size() == static_cast<size_t>(kBatch)) continue;  // more due
      // Sleep until the next due time (scaled to real time), or the poll interval, or woken.
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(options_.poll_interval);
      if (next_due > 0) {
        const auto until_due = std::chrono::microseconds(static_cast<int64_t>(
            std::max<int64_t>(0, next_due - clock_.NowMicros()) / options_.time_scale));
        wait = std::min(wait, until_due + std::chrono::microseconds(1000));
      }
      if (fired_now == 0 && !due.empty()) {
        // Only timers fired here and not folded yet, or failed ones: wait for the fold a bit.
        wait = std::min(wait, std::chrono::microseconds(50'000));
      }
      cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return absl::OkStatus();
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "timer worker");
  }
}

}  // namespace tally::reactors
