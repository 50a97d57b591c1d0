#include "reactors/outbox.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "metrics/metrics.h"
#include "reactors/job_control.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

constexpr const char* kInsertRequested =
    "INSERT INTO outbox (reactor, partition_id, item_id, stream_id, tenant_id, state, "
    "next_attempt, due_at_us, request, requested_position, updated_position) "
    "VALUES ($1, $2, $3, $3, $4, 'due', 1, $5, $6, $7, $7) ON CONFLICT DO NOTHING";
constexpr const char* kAttempted =
    "UPDATE outbox SET state = 'in_flight', next_attempt = GREATEST(next_attempt, $4 + 1), "
    "due_at_us = $5, unresolved_attempts = unresolved_attempts + 1, updated_position = $6 "
    "WHERE reactor = $1 AND partition_id = $2 AND item_id = $3 AND state <> 'done'";
constexpr const char* kSucceeded =
    "UPDATE outbox SET state = 'done', unresolved_attempts = GREATEST(unresolved_attempts - 1, "
    "0), last_error = NULL, updated_position = $4 "
    "WHERE reactor = $1 AND partition_id = $2 AND item_id = $3";
// Only the latest attempt's failure moves the item: a late answer of an older attempt (folded
// after a newer attempt) changes nothing but the count of unanswered attempts.
constexpr const char* kFailed =
    "UPDATE outbox SET state = CASE WHEN state = 'done' OR $5 + 1 < next_attempt THEN state "
    "WHEN $4 THEN 'parked' ELSE 'due' END, "
    "due_at_us = CASE WHEN state = 'done' OR $5 + 1 < next_attempt THEN due_at_us ELSE $6 END, "
    "next_attempt = GREATEST(next_attempt, $5 + 1), "
    "unresolved_attempts = GREATEST(unresolved_attempts - 1, 0), last_error = $7, "
    "updated_position = $8 WHERE reactor = $1 AND partition_id = $2 AND item_id = $3";
constexpr const char* kRetryRequested =
    "UPDATE outbox SET state = 'due', due_at_us = $4, updated_position = $5 "
    "WHERE reactor = $1 AND partition_id = $2 AND item_id = $3 AND state = 'parked'";

constexpr const char* kDueItems =
    "SELECT stream_id, tenant_id, next_attempt, request, state = 'in_flight' FROM outbox "
    "WHERE reactor = $1 AND partition_id = $2 AND state IN ('due', 'in_flight') "
    "AND due_at_us <= $3 ORDER BY due_at_us LIMIT $4";
constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext($1), $2)";

ledger::v1::Metadata ReactorMetadata(const std::string& actor, int64_t causation, int64_t now_us) {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor(actor);
  metadata.set_causation_position(causation);
  metadata.set_received_at_us(now_us);
  return metadata;
}

}  // namespace

OutboxFold::OutboxFold(std::vector<const OutboxKind*> kinds, std::function<void()> on_committed)
    : kinds_(std::move(kinds)), on_committed_(std::move(on_committed)) {}

absl::Status OutboxFold::React(pqxx::transaction_base& txn, const ledger::RecordedEvent& e) {
  if (e.type == "tally.payments.v1.OutboxRetryRequested") {
    payments::v1::OutboxRetryRequested retry;
    if (!retry.ParseFromString(e.payload)) {
      return absl::DataLossError("OutboxRetryRequested does not parse");
    }
    for (const OutboxKind* kind : kinds_) {
      if (!retry.reactor().empty() && retry.reactor() != kind->reactor) continue;
      txn.exec_params(kRetryRequested, kind->reactor, e.partition, e.stream_id, e.recorded_at_us,
                      e.position);
    }
    return absl::OkStatus();
  }
  for (const OutboxKind* kind : kinds_) {
    if (e.type != kind->requested_type && e.type != kind->attempted_type &&
        e.type != kind->succeeded_type && e.type != kind->failed_type) {
      continue;
    }
    absl::StatusOr<OutboxEvent> read = kind->read(e);
    if (!read.ok()) return read.status();
    switch (read->type) {
      case OutboxEvent::Type::kRequested: {
        txn.exec_params(kInsertRequested, kind->reactor, e.partition, e.stream_id, read->tenant_id,
                        e.recorded_at_us, pqxx::binarystring(e.payload), e.position);
        break;
      }
      case OutboxEvent::Type::kAttempted:
        txn.exec_params(kAttempted, kind->reactor, e.partition, e.stream_id, read->attempt,
                        e.recorded_at_us + kind->lease_us, e.position);
        break;
      case OutboxEvent::Type::kSucceeded:
        txn.exec_params(kSucceeded, kind->reactor, e.partition, e.stream_id, e.position);
        break;
      case OutboxEvent::Type::kFailed:
        txn.exec_params(kFailed, kind->reactor, e.partition, e.stream_id, read->terminal,
                        read->attempt, read->terminal ? e.recorded_at_us : read->retry_at_us,
                        read->error, e.position);
        break;
      case OutboxEvent::Type::kRetryRequested:
        break;
    }
  }
  return absl::OkStatus();
}

void OutboxFold::Committed(int /*partition*/, int64_t /*position*/) {
  if (on_committed_) on_committed_();
}

OutboxSender::OutboxSender(const OutboxKind& kind, ledger::EventStore& store,
                           const ledger::Clock& clock, OutboxSenderOptions options)
    : kind_(kind),
      store_(store),
      clock_(clock),
      options_(std::move(options)),
      random_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

OutboxSender::~OutboxSender() { Stop(); }

void OutboxSender::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  for (int i = 0; i < std::max(1, kind_.concurrency); ++i) {
    workers_.emplace_back([this] { Work(); });
  }
  thread_ = std::thread([this] { Run(); });
}

void OutboxSender::Work() {
  while (true) {
    OutboxItem item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Stopping: items claimed but not started stay due for the next leader.
      if (stopping_ || queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    if (Paused()) {
      // Queued before the pause and not started: it stays due in the table for the resume.
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_.erase(item.stream_id);
      continue;
    }
    SendOne(item);
  }
}

void OutboxSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void OutboxSender::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool OutboxSender::Paused() const {
  return options_.jobs != nullptr && options_.jobs->Paused(OutboxJobName(kind_.reactor));
}

bool OutboxSender::Offer(OutboxItem item) {
  if (Paused()) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A standby, or a leader stopping, leaves the item to whoever sends from the table.
    if (!stats_.leading || stopping_) return false;
    if (in_flight_.count(item.stream_id)) return false;
    if (static_cast<int>(in_flight_.size()) >= 4 * std::max(1, kind_.concurrency)) return false;
    item.partition = options_.partition;
    item.attempt = 1;
    item.after_lost_attempt = false;
    in_flight_.insert(item.stream_id);
    queue_.push_back(std::move(item));
    ++stats_.offers_taken;
  }
  cv_.notify_all();
  return true;
}

OutboxSenderStats OutboxSender::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  OutboxSenderStats s = stats_;
  s.in_flight = in_flight_.size();
  return s;
}

void OutboxSender::Run() {
  while (true) {
    absl::Status ended = LeadAndSend();
    {
      std::unique_lock<std::mutex> lock(mu_);
      stats_.leading = false;
      if (stopping_) break;
      if (!ended.ok()) {
        spdlog::warn("outbox sender {} partition {}: {}", kind_.reactor, options_.partition,
                     std::string(ended.message()));
      }
      cv_.wait_for(lock, options_.lock_retry, [this] { return stopping_; });
      if (stopping_) break;
    }
  }
  // Items claimed but not started are dropped (their rows stay due); calls in flight finish
  // and record their outcome before Stop returns.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const OutboxItem& item : queue_) in_flight_.erase(item.stream_id);
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

absl::Status OutboxSender::LeadAndSend() {
  auto connection = ledger::Connect(options_.database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  try {
    pqxx::connection& c = **connection;
    {
      pqxx::nontransaction txn(c);
      const bool leading = txn.exec_params(kTryLead, absl::StrCat("tally.sender.", kind_.reactor),
                                           options_.partition)[0][0]
                               .as<bool>();
      if (!leading) return absl::OkStatus();  // a standby: try again later
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.leading = true;
    }
    // Attempts finished here whose outcome the fold may not have seen yet: stream -> attempt.
    std::map<std::string, int> finished;
    while (true) {
      std::vector<OutboxItem> due;
      if (!Paused()) {
        pqxx::nontransaction txn(c);
        pqxx::result rows = txn.exec_params(kDueItems, kind_.reactor, options_.partition,
                                            clock_.NowMicros(), kind_.concurrency * 4);
        for (const auto& row : rows) {
          OutboxItem item;
          item.stream_id = row[0].as<std::string>();
          item.tenant_id = row[1].as<std::string>();
          item.partition = options_.partition;
          item.attempt = row[2].as<int>();
          pqxx::binarystring request(row[3]);
          item.request = request.str();
          item.after_lost_attempt = row[4].as<bool>();
          due.push_back(std::move(item));
        }
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return absl::OkStatus();
      for (OutboxItem& item : due) {
        if (static_cast<int>(in_flight_.size()) >= kind_.concurrency) break;
        if (in_flight_.count(item.stream_id)) continue;
        auto done = finished.find(item.stream_id);
        if (done != finished.end() && done->second >= item.attempt) continue;
        // Finished since the last round (an offered item, typically): not merged yet.
        auto now_done = finished_now_.find(item.stream_id);
        if (now_done != finished_now_.end() && now_done->second >= item.attempt) continue;
        in_flight_.insert(item.stream_id);
        queue_.push_back(std::move(item));
      }
      cv_.notify_all();
      // Forget what the fold has certainly seen by now: rows are re-read each round, and an
      // entry only suppresses attempts it already made.
      if (finished.size() > 10000) finished.clear();
      cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return absl::OkStatus();
      for (const auto& [stream, attempt] : finished_now_) {
        finished[stream] = std::max(finished[stream], attempt);
      }
      finished_now_.clear();
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("outbox sender ", kind_.reactor));
  }
}

void OutboxSender::SendOne(const OutboxItem& item) {
  if (kind_.pace) kind_.pace(item);
  const int64_t now = clock_.NowMicros();
  const std::string key_prefix = absl::StrCat(kind_.reactor, ":", item.stream_id);
  if (item.after_lost_attempt && item.attempt > 1) {
    // The row says attempt n-1 was lost, but the fold may only be behind: if its outcome is
    // recorded, nothing was lost and nothing is sent (the fold will catch up).
    auto previous =
        store_.FindByIdempotencyKey(absl::StrCat(key_prefix, ":outcome:", item.attempt - 1));
    if (!previous.ok() || previous->has_value()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (previous.ok()) ++stats_.skipped_duplicate_attempts;
      in_flight_.erase(item.stream_id);
      if (previous.ok()) MarkFinished(item);
      return;
    }
  }
  auto attempted = store_.Append({item.tenant_id,
                                  item.stream_id,
                                  ledger::ExpectedVersion::Any(),
                                  {{kind_.attempted_type, kind_.attempted_payload(item.attempt),
                                    ReactorMetadata(kind_.reactor, 0, now).SerializeAsString()}},
                                  absl::StrCat(key_prefix, ":attempt:", item.attempt)});
  if (!attempted.ok() || attempted->duplicate) {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(item.stream_id);
    // A failed append made no attempt: the item stays due and is tried again.
    if (attempted.ok()) {
      ++stats_.skipped_duplicate_attempts;
      MarkFinished(item);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.attempts;
  }
  const auto call_started = std::chrono::steady_clock::now();
  SendResult result = kind_.send(item);
  metrics::RecordOutboundSend(
      kind_.reactor,
      result.outcome == SendResult::Outcome::kSucceeded ? metrics::SendOutcome::kSucceeded
      : result.outcome == SendResult::Outcome::kRetry   ? metrics::SendOutcome::kRetry
                                                        : metrics::SendOutcome::kTerminal,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - call_started).count());
  std::string type;
  std::string payload;
  if (result.outcome == SendResult::Outcome::kSucceeded) {
    type = kind_.succeeded_type;
    payload = result.success_payload;
  } else {
    int64_t retry_at = 0;
    if (result.outcome == SendResult::Outcome::kRetry) {
      std::lock_guard<std::mutex> lock(mu_);
      retry_at = clock_.NowMicros() +
                 RetryDelayUs(kind_.backoff, item.attempt, result.retry_after_us, random_);
    }
    type = kind_.failed_type;
    payload = kind_.failed_payload(item.attempt, result, retry_at);
  }
  // The outcome must be recorded: retried until it is (the key makes a repeat harmless). If
  // the process dies first, the attempt's lease expires and the item is tried again.
  for (int tries = 0;; ++tries) {
    auto outcome =
        store_.Append({item.tenant_id,
                       item.stream_id,
                       ledger::ExpectedVersion::Any(),
                       {{type, payload,
                         ReactorMetadata(kind_.reactor, attempted->positions[0], clock_.NowMicros())
                             .SerializeAsString()}},
                       absl::StrCat(key_prefix, ":outcome:", item.attempt)});
    if (outcome.ok()) break;
    spdlog::warn("outbox {} stream {}: outcome of attempt {} not recorded yet: {}", kind_.reactor,
                 item.stream_id, item.attempt, std::string(outcome.status().message()));
    // Retried with a real pause even while stopping (a short database blip at shutdown must
    // not lose a success), within a budget well inside the lease; after it, the lease covers.
    if (tries >= 8) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(2000, 100 << tries)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  switch (result.outcome) {
    case SendResult::Outcome::kSucceeded:
      ++stats_.succeeded;
      break;
    case SendResult::Outcome::kRetry:
      ++stats_.failed;
      break;
    case SendResult::Outcome::kTerminal:
      ++stats_.parked;
      break;
  }
  in_flight_.erase(item.stream_id);
  MarkFinished(item);
}

void OutboxSender::MarkFinished(const OutboxItem& item) {
  int& attempt = finished_now_[item.stream_id];
  attempt = std::max(attempt, item.attempt);
}

}  // namespace tally::reactors
