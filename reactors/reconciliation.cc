#include "reactors/reconciliation.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "ledger/database.h"
#include "projections/payment_fold.h"
#include "reactors/job_control.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kSchedule[] = {15 * kSecond, 30 * kSecond, 60 * kSecond, 120 * kSecond,
                                 300 * kSecond};
constexpr int64_t kThereafter = 900 * kSecond;
constexpr int64_t kDefaultRetryAfter = 30 * kSecond;
constexpr int64_t kAccountTtl = 30 * kSecond;
constexpr int64_t kMinRoundUs = 5'000;  // the least wait between two reads of the due rows

constexpr const char* kCreated =
    "INSERT INTO reconciliation_queue (partition_id, stream_id, tenant_id, gateway, "
    "transaction_id, transaction_hash, created_at_us, expires_at_us, next_poll_at_us, state, "
    "updated_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) "
    "ON CONFLICT (partition_id, stream_id) DO UPDATE SET created_at_us = EXCLUDED.created_at_us, "
    "expires_at_us = EXCLUDED.expires_at_us, transaction_hash = CASE WHEN "
    "reconciliation_queue.transaction_hash = '' THEN EXCLUDED.transaction_hash ELSE "
    "reconciliation_queue.transaction_hash END, updated_position = EXCLUDED.updated_position";
// A webhook for a payment not (yet) in the queue: enter it, due at $9.
constexpr const char* kSeen =
    "INSERT INTO reconciliation_queue (partition_id, stream_id, tenant_id, gateway, "
    "transaction_id, transaction_hash, created_at_us, expires_at_us, next_poll_at_us, state, "
    "updated_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10) "
    "ON CONFLICT (partition_id, stream_id) DO NOTHING";
constexpr const char* kPullForward =
    "UPDATE reconciliation_queue SET next_poll_at_us = LEAST(next_poll_at_us, "
    "GREATEST($3, last_poll_at_us + $4)), updated_position = $5 "
    "WHERE partition_id = $1 AND stream_id = $2 AND state = 'pending'";
// A webhook that must be looked into (no status, or unsigned) for a payment that had left the
// queue — a Mercado Pago refund after confirmation, a payment made after Tally gave up on it —
// puts it back, due now.
constexpr const char* kReopen =
    "UPDATE reconciliation_queue SET state = 'pending', reason = NULL, "
    "next_poll_at_us = GREATEST($3, last_poll_at_us + $4), "
    "expires_at_us = GREATEST(expires_at_us, $3 + $5), updated_position = $6 "
    "WHERE partition_id = $1 AND stream_id = $2 AND state = 'done'";
constexpr const char* kSettled =
    "UPDATE reconciliation_queue SET state = 'done', reason = $3, updated_position = $4 "
    "WHERE partition_id = $1 AND stream_id = $2";
constexpr const char* kReadRow =
    "SELECT polls, created_at_us FROM reconciliation_queue "
    "WHERE partition_id = $1 AND stream_id = $2";
constexpr const char* kPolled =
    "UPDATE reconciliation_queue SET polls = $3, last_poll_at_us = $4, next_poll_at_us = $5, "
    "transaction_hash = CASE WHEN transaction_hash = '' THEN $6 ELSE transaction_hash END, "
    "updated_position = $7 WHERE partition_id = $1 AND stream_id = $2";

// Oldest due first, but at most $3 rows per account: a saturated account's backlog cannot fill
// the window and hold back every other account.
constexpr const char* kDue =
    "SELECT stream_id, tenant_id, gateway, transaction_id, transaction_hash, polls, "
    "expires_at_us, last_poll_at_us FROM ("
    "SELECT *, row_number() OVER (PARTITION BY tenant_id, gateway ORDER BY next_poll_at_us) "
    "AS n FROM reconciliation_queue "
    "WHERE partition_id = $1 AND state = 'pending' AND next_poll_at_us <= $2) due "
    "WHERE n <= $3 ORDER BY next_poll_at_us LIMIT 500";
// Payments owed a poll by an operator's trigger at $4 (pending then, not polled since) that
// kDue does not return (not due yet), oldest due first, at most $3 per account.
constexpr const char* kOwedToTrigger =
    "SELECT stream_id, tenant_id, gateway, transaction_id, transaction_hash, polls, "
    "expires_at_us, last_poll_at_us FROM ("
    "SELECT *, row_number() OVER (PARTITION BY tenant_id, gateway ORDER BY next_poll_at_us) "
    "AS n FROM reconciliation_queue "
    "WHERE partition_id = $1 AND state = 'pending' AND next_poll_at_us > $2 "
    "AND created_at_us <= $4 AND last_poll_at_us < $4) owed "
    "WHERE n <= $3 ORDER BY next_poll_at_us LIMIT 500";
constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext($1), $2)";

// Why an observation ends polling, or "" when the payment stays open.
const char* Settles(pb::ObservedStatus status) {
  switch (status) {
    case pb::OBSERVED_STATUS_PAID:
      return "confirmed";
    case pb::OBSERVED_STATUS_REFUNDED:
      return "refunded";
    case pb::OBSERVED_STATUS_CHARGED_BACK:
      return "charged_back";
    case pb::OBSERVED_STATUS_CANCELLED:
      return "cancelled";
    case pb::OBSERVED_STATUS_EXPIRED:
      return "expired";
    case pb::OBSERVED_STATUS_REFUSED:
      return "refused";
    default:
      return "";
  }
}

std::string TransactionIdOf(const std::string& stream_id, const std::string& gateway) {
  const std::string prefix = absl::StrCat("payment-", gateway, "-");
  return stream_id.substr(std::min(prefix.size(), stream_id.size()));
}

ledger::v1::Metadata PollMetadata(const std::string& gateway, int64_t now_us) {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_POLL);
  metadata.set_actor(absl::StrCat("reconciliation:", gateway));
  metadata.set_received_at_us(now_us);
  return metadata;
}

}  // namespace

int64_t NextPollAtUs(int polls, int64_t created_us, int64_t last_poll_us,
                     const gateways::PollPolicy& policy) {
  const int64_t step =
      polls < static_cast<int>(std::size(kSchedule)) ? kSchedule[polls] : kThereafter;
  const int64_t from = polls == 0 ? created_us : last_poll_us;
  return from + std::max(step, policy.min_interval_per_transaction_s * kSecond);
}

ReconciliationFold::ReconciliationFold(const gateways::GatewayRegistry& gateways,
                                       std::function<void()> on_committed)
    : gateways_(gateways), on_committed_(std::move(on_committed)) {}

void ReconciliationFold::Committed(int, int64_t) {
  if (on_committed_) on_committed_();
}

absl::Status ReconciliationFold::React(pqxx::transaction_base& txn,
                                       const ledger::RecordedEvent& e) {
  if (!projections::IsPaymentStream(e.stream_id)) return absl::OkStatus();
  const int64_t at = e.recorded_at_us;
  if (e.type == "tally.payments.v1.PaymentCreated") {
    pb::PaymentCreated m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("PaymentCreated");
    const gateways::Gateway* gateway = gateways_.Find(m.gateway());
    if (gateway == nullptr) return absl::OkStatus();  // nothing to poll it with
    const gateways::PollPolicy& policy = gateway->traits().poll;
    const int64_t expires =
        m.expires_at_s() > 0 ? m.expires_at_s() * kSecond : at + policy.default_expiry_s * kSecond;
    txn.exec_params(kCreated, e.partition, e.stream_id, m.tenant_id(), m.gateway(),
                    m.gateway_transaction_id(), m.gateway_transaction_hash(), at, expires,
                    NextPollAtUs(0, at, 0, policy), e.position);
    if (const char* reason = Settles(m.observation().status()); *reason != '\0') {
      txn.exec_params(kSettled, e.partition, e.stream_id, reason, e.position);
    }
    return absl::OkStatus();
  }
  if (e.type == "tally.payments.v1.GatewayWebhookReceived") {
    pb::GatewayWebhookReceived m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("GatewayWebhookReceived");
    const gateways::Gateway* gateway = gateways_.Find(m.gateway());
    if (gateway == nullptr) return absl::OkStatus();
    const gateways::PollPolicy& policy = gateway->traits().poll;
    const pb::ObservedStatus status = m.observation().status();
    const bool signed_body = m.authenticity() == pb::AUTHENTICITY_SIGNED;
    if (signed_body && *Settles(status) != '\0') {
      txn.exec_params(kSettled, e.partition, e.stream_id, Settles(status), e.position);
      return absl::OkStatus();
    }
    // A webhook without a status says "look"; an unsigned one's word must be confirmed. Either
    // way the gateway is asked now (within its per-transaction interval).
    const bool poll_now = status == pb::OBSERVED_STATUS_UNSPECIFIED || !signed_body;
    const int64_t due = poll_now ? at : NextPollAtUs(0, at, 0, policy);
    txn.exec_params(kSeen, e.partition, e.stream_id, m.tenant_id(), m.gateway(),
                    TransactionIdOf(e.stream_id, m.gateway()),
                    m.observation().gateway_transaction_hash(), at,
                    at + policy.default_expiry_s * kSecond, due, e.position);
    if (poll_now) {
      txn.exec_params(kPullForward, e.partition, e.stream_id, at,
                      policy.min_interval_per_transaction_s * kSecond, e.position);
      txn.exec_params(kReopen, e.partition, e.stream_id, at,
                      policy.min_interval_per_transaction_s * kSecond,
                      policy.grace_after_expiry_s * kSecond, e.position);
    }
    return absl::OkStatus();
  }
  if (e.type == "tally.payments.v1.GatewayStatusPolled") {
    pb::GatewayStatusPolled m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("GatewayStatusPolled");
    const gateways::Gateway* gateway = gateways_.Find(m.gateway());
    if (gateway == nullptr) return absl::OkStatus();
    pqxx::result row = txn.exec_params(kReadRow, e.partition, e.stream_id);
    if (row.empty()) return absl::OkStatus();
    const int polls = row[0][0].as<int>() + 1;
    const int64_t created = row[0][1].as<int64_t>();
    txn.exec_params(kPolled, e.partition, e.stream_id, polls, at,
                    NextPollAtUs(polls, created, at, gateway->traits().poll),
                    m.observation().gateway_transaction_hash(), e.position);
    if (m.has_observation()) {
      if (const char* reason = Settles(m.observation().status()); *reason != '\0') {
        txn.exec_params(kSettled, e.partition, e.stream_id, reason, e.position);
      }
    }
    return absl::OkStatus();
  }
  if (e.type == "tally.payments.v1.PaymentAbandoned") {
    txn.exec_params(kSettled, e.partition, e.stream_id, "abandoned", e.position);
  }
  return absl::OkStatus();
}

ReconciliationPoller::ReconciliationPoller(const gateways::GatewayRegistry& gateways,
                                           ledger::EventStore& store, tenants::SecretBox box,
                                           gateways::Transport transport,
                                           const ledger::Clock& clock,
                                           ReconciliationPollerOptions options)
    : gateways_(gateways),
      store_(store),
      box_(std::move(box)),
      transport_(std::move(transport)),
      clock_(clock),
      options_(std::move(options)) {}

ReconciliationPoller::~ReconciliationPoller() { Stop(); }

void ReconciliationPoller::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { Work(); });
  }
  thread_ = std::thread([this] { Run(); });
}

void ReconciliationPoller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReconciliationPoller::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

ReconciliationStats ReconciliationPoller::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ReconciliationPoller::Run() {
  while (true) {
    absl::Status ended = LeadAndPoll();
    std::unique_lock<std::mutex> lock(mu_);
    stats_.leading = false;
    if (stopping_) break;
    if (!ended.ok()) {
      spdlog::warn("reconciliation partition {}: {}", options_.partition,
                   std::string(ended.message()));
    }
    cv_.wait_for(lock, options_.lock_retry, [this] { return stopping_; });
    if (stopping_) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Due& due : queue_) {
      in_flight_.erase(due.stream_id);
      const std::string account = absl::StrCat(due.tenant_id, ":", due.gateway);
      limiter_.Started(account, clock_.NowMicros());  // never made: its place is simply kept
      limiter_.Release(account);
    }
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void ReconciliationPoller::Work() {
  while (true) {
    Due due;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ || queue_.empty()) return;
      due = std::move(queue_.front());
      queue_.pop_front();
    }
    PollOne(due);
  }
}

absl::Status ReconciliationPoller::LeadAndPoll() {
  auto connection = ledger::Connect(options_.database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  try {
    pqxx::connection& c = **connection;
    {
      pqxx::nontransaction txn(c);
      if (!txn.exec_params(kTryLead, "tally.reconciliation", options_.partition)[0][0].as<bool>()) {
        return absl::OkStatus();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.leading = true;
    }
    std::map<std::string, int> finished;  // stream -> highest poll number made here
    int64_t trigger_done = 0;             // the last trigger whose polls are all made or due
    while (true) {
      const int64_t now = clock_.NowMicros();
      std::vector<std::pair<Due, int64_t>> rows;  // with expires_at
      std::vector<int64_t> last_polls;
      const bool paused = options_.jobs != nullptr && options_.jobs->Paused(kReconciliationJob);
      const int64_t triggered =
          options_.jobs == nullptr ? 0 : options_.jobs->TriggeredAtUs(kReconciliationJob);
      if (!paused) {
        pqxx::nontransaction txn(c);
        auto take = [&](const pqxx::result& result) {
          for (const auto& row : result) {
            Due due{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                    row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<int>() + 1};
            rows.emplace_back(std::move(due), row[6].as<int64_t>());
            last_polls.push_back(row[7].as<int64_t>());
          }
        };
        take(txn.exec_params(kDue, options_.partition, now, 32));
        if (triggered > trigger_done) {
          pqxx::result owed =
              txn.exec_params(kOwedToTrigger, options_.partition, now, 32, triggered);
          // Nothing owed that is not due anyway: this trigger is done.
          if (owed.empty()) trigger_done = triggered;
          take(owed);
        }
      }
      std::vector<Due> to_abandon;
      int64_t retry_at = now + options_.poll_interval.count() * 1000;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (stopping_) return absl::OkStatus();
        for (const auto& [stream, n] : finished_now_)
          finished[stream] = std::max(finished[stream], n);
        finished_now_.clear();
        for (size_t i = 0; i < rows.size(); ++i) {
          Due& due = rows[i].first;
          const gateways::Gateway* gateway = gateways_.Find(due.gateway);
          if (gateway == nullptr || in_flight_.count(due.stream_id)) continue;
          auto done = finished.find(due.stream_id);
          if (done != finished.end() && done->second >= due.next_poll) continue;
          const gateways::PollPolicy& policy = gateway->traits().poll;
          if (now > rows[i].second + policy.grace_after_expiry_s * kSecond) {
            to_abandon.push_back(due);
            continue;
          }
          if (last_polls[i] > 0 &&
              now < last_polls[i] + policy.min_interval_per_transaction_s * kSecond) {
            continue;
          }
          // Lifted limits are no rate at all: a rate of 1e9/s still let one poll per account
          // through per round, the burst being one.
          const AccountLimits limits{options_.unlimited ? 0 : policy.account_queries_per_second,
                                     options_.unlimited ? 1 << 20 : policy.account_concurrency};
          const std::string account = absl::StrCat(due.tenant_id, ":", due.gateway);
          if (!limiter_.TryAcquire(account, limits, now)) {
            // This account is at its limit; other accounts keep flowing, and this one's rows
            // are read again when its rate or pause lets it poll (a poll of it ending, when its
            // calls in flight are what holds it, wakes this loop anyway).
            const int64_t ready = limiter_.ReadyAtUs(account, limits, now);
            if (ready > now) retry_at = std::min(retry_at, ready);
            continue;
          }
          in_flight_.insert(due.stream_id);
          queue_.push_back(std::move(due));
        }
      }
      cv_.notify_all();
      for (const Due& due : to_abandon) {
        if (absl::Status s = Abandon(due); !s.ok()) {
          spdlog::warn("abandoning {} failed: {}", due.stream_id, std::string(s.message()));
        }
      }
      std::unique_lock<std::mutex> lock(mu_);
      // Until woken, or an account at its limit may poll again (not sooner than kMinRound: a
      // round reads up to 500 rows), or the poll interval.
      const std::chrono::microseconds wait(std::max(kMinRoundUs, retry_at - clock_.NowMicros()));
      cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return absl::OkStatus();
      if (finished.size() > 100000) finished.clear();
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reconciliation poller");
  }
}

absl::Status ReconciliationPoller::Abandon(const Due& due) {
  pb::PaymentAbandoned abandoned;
  abandoned.set_reason("expired");
  auto appended =
      store_.Append({due.tenant_id,
                     due.stream_id,
                     ledger::ExpectedVersion::Any(),
                     {{"tally.payments.v1.PaymentAbandoned", abandoned.SerializeAsString(),
                       PollMetadata(due.gateway, clock_.NowMicros()).SerializeAsString()}},
                     // Per reopening (a payment reopened by a late webhook may expire again).
                     absl::StrCat("abandon:", due.stream_id, ":", due.next_poll)});
  if (!appended.ok()) return appended.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (!appended->duplicate) ++stats_.abandoned;
  return absl::OkStatus();
}

void ReconciliationPoller::PollOne(const Due& due) {
  const std::string account_key = absl::StrCat(due.tenant_id, ":", due.gateway);
  const gateways::Gateway* gateway = gateways_.Find(due.gateway);
  absl::StatusOr<gateways::ApiAccount> account = absl::UnknownError("");
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto cached = accounts_.find(account_key);
    if (cached != accounts_.end() && cached->second.first > clock_.NowMicros()) {
      account = cached->second.second;
    }
  }
  if (!account.ok()) {
    auto config = tenants::ResolveGatewayAccount(store_, box_, due.tenant_id, due.gateway);
    if (config.ok()) {
      account = config->account;
      std::lock_guard<std::mutex> lock(mu_);
      accounts_[account_key] = {clock_.NowMicros() + kAccountTtl, config->account};
    } else {
      account = config.status();
    }
  }
  pb::GatewayStatusPolled polled;
  polled.set_gateway(due.gateway);
  polled.set_tenant_id(due.tenant_id);
  bool rate_limited = false;
  int64_t retry_after_s = 0;
  limiter_.Started(account_key, clock_.NowMicros());
  if (!account.ok()) {
    polled.set_error(absl::StrCat("no account to poll with: ", account.status().message()));
  } else {
    gateways::PolledStatus status =
        gateway->PollStatus(*account, due.transaction_id, due.transaction_hash, transport_);
    polled.set_raw_response(status.raw_response.substr(0, 64 * 1024));
    polled.set_http_status(status.http_status);
    polled.set_latency_us(status.latency_us);
    if (status.status.ok()) {
      *polled.mutable_observation() = status.observation;
    } else {
      polled.set_error(std::string(status.status.message()).substr(0, 1000));
      rate_limited = status.status.code() == absl::StatusCode::kResourceExhausted;
      retry_after_s = status.retry_after_s;
    }
  }
  if (rate_limited) {
    limiter_.Pause(account_key, clock_.NowMicros() + (retry_after_s > 0 ? retry_after_s * kSecond
                                                                        : kDefaultRetryAfter));
  }
  auto appended =
      store_.Append({due.tenant_id,
                     due.stream_id,
                     ledger::ExpectedVersion::Any(),
                     {{"tally.payments.v1.GatewayStatusPolled", polled.SerializeAsString(),
                       PollMetadata(due.gateway, clock_.NowMicros()).SerializeAsString()}},
                     absl::StrCat("poll:", due.stream_id, ":", due.next_poll)});
  if (!appended.ok()) {
    spdlog::warn("poll of {} not recorded: {}", due.stream_id,
                 std::string(appended.status().message()));
  }
  limiter_.Release(account_key);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.polls;
  if (!polled.error().empty()) ++stats_.poll_errors;
  if (rate_limited) ++stats_.rate_limited;
  in_flight_.erase(due.stream_id);
  // A poll that could not be recorded did not happen as far as the queue knows: poll again.
  if (appended.ok()) finished_now_[due.stream_id] = due.next_poll;
  woken_ = true;
  cv_.notify_all();
}

}  // namespace tally::reactors
