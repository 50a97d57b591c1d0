#include "reactors/timers.h"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "reactors/job_control.h"

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
// Due timers of the kinds this binary knows, oldest first, after a (due, position) cursor: a
// round pages through all of them, so rows it must skip (fired here and not folded yet, in
// backoff) never hold back the ones behind.
constexpr const char* kDue =
    "SELECT kind, timer_id, stream_id, tenant_id, due_at_us, scheduled_position, request "
    "FROM timers WHERE partition_id = $1 AND state = 'scheduled' AND due_at_us <= $2 "
    "AND kind = ANY($3::text[]) AND (due_at_us, scheduled_position) > ($4, $5) "
    "ORDER BY due_at_us, scheduled_position LIMIT 200";
constexpr const char* kNextDue =
    "SELECT min(due_at_us) FROM timers WHERE partition_id = $1 AND state = 'scheduled' "
    "AND due_at_us > $2 AND kind = ANY($3::text[])";
constexpr int64_t kRetryBaseUs = 5'000'000;
constexpr auto kRoundGap = std::chrono::milliseconds(10);
constexpr int64_t kRetryCapUs = 10 * 60 * 1'000'000;
constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext($1), $2)";

// Runs tasks on a fixed set of threads. The destructor drops what has not started and joins.
class FirePool {
 public:
  explicit FirePool(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "timer-fire");
        while (true) {
          std::function<void()> task;
          {
            std::unique_lock<std::mutex> lock(mu_);
            ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
            if (stopping_) return;
            task = std::move(tasks_.front());
            tasks_.pop_front();
          }
          task();
        }
      });
    }
  }
  ~FirePool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  void Run(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

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
    if (read->type == TimerEvent::Type::kIgnored) continue;
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

bool TimerWorker::KindPaused(const std::string& kind) const {
  return options_.jobs != nullptr && options_.jobs->Paused(TimerJobName(kind));
}

std::string TimerWorker::RunnableKinds() const {
  std::vector<std::string> names;
  for (const auto& [name, kind] : kinds_) {
    if (!KindPaused(name)) names.push_back(name);
  }
  return ledger::TextArrayLiteral(names);
}

std::vector<std::string> TimerWorker::kind_names() const {
  std::vector<std::string> names;
  for (const auto& [name, kind] : kinds_) names.push_back(name);
  return names;
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
  const auto spacing =
      options_.fire_per_second > 0
          ? std::chrono::microseconds(static_cast<int64_t>(1e6 / options_.fire_per_second))
          : std::chrono::microseconds(0);
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
    // Under mu_ while a pool thread may be firing: timers fired here whose ending event the
    // fold may not have folded yet; timers whose firing failed: (failures, not before this
    // clock time); firings under way, per kind.
    std::set<std::pair<std::string, std::string>> fired_here;
    std::map<std::pair<std::string, std::string>, std::pair<int, int64_t>> failed;
    std::map<std::string, int> in_flight;
    int total_in_flight = 0;
    int pool_threads = 0;
    for (const auto& [name, kind] : kinds_) {
      if (kind->concurrency > 1) pool_threads += kind->concurrency;
    }
    // Fires one timer (on the pool's thread or this one) and records the outcome.
    auto fire = [&](const TimerItem& item) {
      absl::Status fired;
      try {
        fired = kinds_.at(item.kind)->fire(item);
      } catch (const std::exception& e) {
        fired = absl::InternalError(absl::StrCat("timer ", item.kind, " fire threw: ", e.what()));
      }
      const auto key = std::make_pair(item.kind, item.timer_id);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --in_flight[item.kind];
        --total_in_flight;
        if (fired.ok()) {
          fired_here.insert(key);
          failed.erase(key);
          ++stats_.fired;
        } else {
          ++stats_.errors;
          auto& [failures, not_before] = failed[key];
          ++failures;
          const int64_t delay = std::min(kRetryCapUs, kRetryBaseUs << std::min(failures - 1, 10));
          not_before = clock_.NowMicros() + static_cast<int64_t>(delay * options_.time_scale);
          spdlog::log(failures >= 5 ? spdlog::level::err : spdlog::level::warn,
                      "timer {} {} not fired ({} failures), retried later: {}", item.kind,
                      item.timer_id, failures, std::string(fired.message()));
        }
      }
      cv_.notify_all();
    };
    // Declared after what its firings use: destroyed (joined) first.
    FirePool pool(pool_threads);

    // The pace lets as many firings start together as a kind fires at once (their appends
    // share a commit), and at most fire_per_second on average.
    int burst = 1;
    for (const auto& [name, kind] : kinds_) burst = std::max(burst, kind->concurrency);
    const auto tolerance = spacing * (burst - 1);
    auto next_slot = std::chrono::steady_clock::now();
    while (true) {
      const auto round_start = std::chrono::steady_clock::now();
      // The kinds to fire this round: the known ones whose job is not paused.
      const std::string known = RunnableKinds();
      const int64_t now = clock_.NowMicros();
      int64_t next_due = 0;
      int64_t next_retry = 0;
      std::set<std::pair<std::string, std::string>> still_due;
      // One round: every due timer, page by page, each firing started in due order.
      int64_t after_due = std::numeric_limits<int64_t>::min(), after_position = 0;
      while (true) {
        std::vector<TimerItem> due;
        {
          pqxx::nontransaction txn(c);
          for (const auto& row :
               txn.exec_params(kDue, options_.partition, now, known, after_due, after_position)) {
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
        }
        for (TimerItem& item : due) {
          const auto key = std::make_pair(item.kind, item.timer_id);
          still_due.insert(key);
          if (KindPaused(item.kind)) continue;
          const TimerKind& kind = *kinds_.at(item.kind);
          {
            std::unique_lock<std::mutex> lock(mu_);
            if (fired_here.count(key)) continue;
            if (auto f = failed.find(key);
                f != failed.end() && f->second.second > clock_.NowMicros()) {
              next_retry =
                  next_retry == 0 ? f->second.second : std::min(next_retry, f->second.second);
              continue;
            }
            // Paced: a backlog after downtime drains at fire_per_second, oldest first; and no
            // more of a kind under way at once than it allows.
            if (cv_.wait_until(lock, next_slot - tolerance, [this] { return stopping_; })) {
              return absl::OkStatus();
            }
            cv_.wait(lock, [&] {
              return stopping_ || in_flight[item.kind] < std::max(1, kind.concurrency);
            });
            if (stopping_) return absl::OkStatus();
            ++in_flight[item.kind];
            ++total_in_flight;
          }
          next_slot = std::max(next_slot, std::chrono::steady_clock::now()) + spacing;
          if (kind.concurrency > 1) {
            pool.Run([&fire, item = std::move(item)] { fire(item); });
          } else {
            fire(item);
          }
        }
        if (due.size() < static_cast<size_t>(kBatch)) break;
        after_due = due.back().due_at_us;
        after_position = due.back().scheduled_position;
      }
      {
        // The round's firings end before what is no longer due is forgotten.
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || total_in_flight == 0; });
        if (stopping_) return absl::OkStatus();
        // What is no longer due was folded (fired or cancelled): forget it.
        std::erase_if(fired_here, [&](const auto& k) { return !still_due.count(k); });
        std::erase_if(failed, [&](const auto& f) { return !still_due.count(f.first); });
        for (const auto& [key, f] : failed) {
          if (f.second > clock_.NowMicros()) {
            next_retry = next_retry == 0 ? f.second : std::min(next_retry, f.second);
          }
        }
      }
      {
        pqxx::nontransaction txn(c);
        auto next = txn.exec_params(kNextDue, options_.partition, clock_.NowMicros(), known);
        if (!next.empty() && !next[0][0].is_null()) next_due = next[0][0].as<int64_t>();
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return absl::OkStatus();
      // Sleep until the next due time or retry (scaled to real time), the poll interval, or
      // woken (the fold committed: a new timer, or the ending of one fired here).
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(options_.poll_interval);
      for (const int64_t at : {next_due, next_retry}) {
        if (at <= 0) continue;
        const auto until = std::chrono::microseconds(static_cast<int64_t>(
            std::max<int64_t>(0, at - clock_.NowMicros()) / options_.time_scale));
        wait = std::min(wait, until + std::chrono::microseconds(1000));
      }
      cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      // Rounds at most every kRoundGap: timers due close together (or folded close together)
      // fire in one round, and their appends share commits.
      cv_.wait_until(lock, round_start + kRoundGap, [this] { return stopping_; });
      woken_ = false;
      if (stopping_) return absl::OkStatus();
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "timer worker");
  }
}

}  // namespace tally::reactors
