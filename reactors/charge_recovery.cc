#include "reactors/charge_recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/charge_record.h"
#include "ledger/database.h"
#include "projections/payment_fold.h"
#include "reactors/backoff.h"
#include "reactors/job_control.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

constexpr const char* kIntentPrefix = "charge-";

constexpr const char* kRequested =
    "INSERT INTO charge_intents (partition_id, payment_id, tenant_id, gateway, attempt, "
    "requested_at_us, due_at_us, state, updated_position) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) "
    "ON CONFLICT (partition_id, payment_id) DO UPDATE SET "
    "attempt = GREATEST(charge_intents.attempt, EXCLUDED.attempt), "
    "requested_at_us = EXCLUDED.requested_at_us, due_at_us = EXCLUDED.due_at_us, "
    "state = CASE WHEN charge_intents.state = 'recorded' THEN 'recorded' ELSE 'open' END, "
    "reason = NULL, detail = NULL, updated_position = EXCLUDED.updated_position";
constexpr const char* kRecorded =
    "UPDATE charge_intents SET state = 'recorded', reason = NULL, detail = NULL, "
    "updated_position = $3 WHERE partition_id = $1 AND payment_id = $2";
// Only the outcome of the latest attempt counts, and only while nobody settled it otherwise.
constexpr const char* kUnresolved =
    "UPDATE charge_intents SET state = $4, reason = $5, detail = $6, updated_position = $7 "
    "WHERE partition_id = $1 AND payment_id = $2 AND attempt = $3 AND state = 'open'";
constexpr const char* kReopen =
    "UPDATE charge_intents SET state = 'open', due_at_us = $3, reopened = reopened + 1, "
    "updated_position = $4 WHERE partition_id = $1 AND payment_id = $2 AND state = 'unresolved'";

constexpr const char* kDue =
    "SELECT payment_id, tenant_id, gateway, attempt, reopened FROM charge_intents "
    "WHERE partition_id = $1 AND state = 'open' AND due_at_us <= $2 "
    "ORDER BY due_at_us LIMIT 100";
constexpr const char* kTryLead = "SELECT pg_try_advisory_lock(hashtext($1), $2)";

const char* ReasonName(pb::ChargeUnresolved::Reason reason) {
  switch (reason) {
    case pb::ChargeUnresolved::REASON_NOT_AT_GATEWAY:
      return "not_at_gateway";
    case pb::ChargeUnresolved::REASON_CANNOT_LOOK_UP:
      return "cannot_look_up";
    case pb::ChargeUnresolved::REASON_LOOKUP_FAILED:
      return "lookup_failed";
    default:
      return "unknown";
  }
}

}  // namespace

ChargeIntentFold::ChargeIntentFold(int64_t settle_after_us, std::function<void()> on_committed)
    : settle_after_us_(settle_after_us), on_committed_(std::move(on_committed)) {}

void ChargeIntentFold::Committed(int, int64_t) {
  if (on_committed_) on_committed_();
}

absl::Status ChargeIntentFold::React(pqxx::transaction_base& txn, const ledger::RecordedEvent& e) {
  if (e.type == "tally.payments.v1.PaymentCreated") {
    if (!projections::IsPaymentStream(e.stream_id)) return absl::OkStatus();
    pb::PaymentCreated m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("PaymentCreated");
    txn.exec_params(kRecorded, e.partition, m.payment_id(), e.position);
    return absl::OkStatus();
  }
  if (!absl::StartsWith(e.stream_id, kIntentPrefix)) return absl::OkStatus();
  const std::string payment_id = e.stream_id.substr(std::char_traits<char>::length(kIntentPrefix));
  if (e.type == "tally.payments.v1.ChargeRequested") {
    pb::ChargeRequested m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("ChargeRequested");
    txn.exec_params(kRequested, e.partition, payment_id, m.tenant_id(), m.gateway(),
                    std::max(1, m.attempt()), e.recorded_at_us, e.recorded_at_us + settle_after_us_,
                    e.position);
    return absl::OkStatus();
  }
  if (e.type == "tally.payments.v1.ChargeUnresolved") {
    pb::ChargeUnresolved m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("ChargeUnresolved");
    const bool absent = m.reason() == pb::ChargeUnresolved::REASON_NOT_AT_GATEWAY;
    txn.exec_params(kUnresolved, e.partition, payment_id, std::max(1, m.attempt()),
                    absent ? "absent" : "unresolved", ReasonName(m.reason()), m.detail(),
                    e.position);
    return absl::OkStatus();
  }
  if (e.type == "tally.payments.v1.OutboxRetryRequested") {
    pb::OutboxRetryRequested m;
    if (!m.ParseFromString(e.payload)) return absl::DataLossError("OutboxRetryRequested");
    if (m.reactor() != name()) return absl::OkStatus();
    txn.exec_params(kReopen, e.partition, payment_id, e.recorded_at_us, e.position);
  }
  return absl::OkStatus();
}

ChargeReconciler::ChargeReconciler(const gateways::GatewayRegistry& gateways,
                                   ledger::EventStore& store, tenants::SecretBox box,
                                   gateways::Transport transport, const ledger::Clock& clock,
                                   ChargeReconcilerOptions options)
    : gateways_(gateways),
      store_(store),
      box_(std::move(box)),
      transport_(std::move(transport)),
      clock_(clock),
      options_(std::move(options)) {}

ChargeReconciler::~ChargeReconciler() { Stop(); }

void ChargeReconciler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ChargeReconciler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ChargeReconciler::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

ChargeReconcilerStats ChargeReconciler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ChargeReconciler::Run() {
  while (true) {
    absl::Status ended = LeadAndSettle();
    std::unique_lock<std::mutex> lock(mu_);
    stats_.leading = false;
    if (stopping_) return;
    if (!ended.ok()) {
      spdlog::warn("charge reconciler partition {}: {}", options_.partition,
                   std::string(ended.message()));
    }
    cv_.wait_for(lock, options_.lock_retry, [this] { return stopping_; });
    if (stopping_) return;
  }
}

absl::Status ChargeReconciler::LeadAndSettle() {
  auto connection = ledger::Connect(options_.database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  std::mt19937_64 random(std::random_device{}());
  const BackoffPolicy backoff{5'000'000, 10 * 60 * 1'000'000};
  try {
    pqxx::connection& c = **connection;
    {
      pqxx::nontransaction txn(c);
      if (!txn.exec_params(kTryLead, "tally.charge_reconciler", options_.partition)[0][0]
               .as<bool>()) {
        return absl::OkStatus();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.leading = true;
    }
    while (true) {
      std::vector<Due> due;
      if (options_.jobs == nullptr || !options_.jobs->Paused(kChargeReconcilerJob)) {
        pqxx::nontransaction txn(c);
        for (const auto& row : txn.exec_params(kDue, options_.partition, clock_.NowMicros())) {
          due.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                         row[2].as<std::string>(), row[3].as<int>(), row[4].as<int>()});
        }
      }
      for (const Due& d : due) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) return absl::OkStatus();
          if (options_.jobs != nullptr && options_.jobs->Paused(kChargeReconcilerJob)) break;
          auto waiting = backoff_.find(d.payment_id);
          if (waiting != backoff_.end() && waiting->second.second > clock_.NowMicros()) continue;
        }
        absl::Status settled = Settle(d);
        std::lock_guard<std::mutex> lock(mu_);
        if (settled.ok()) {
          backoff_.erase(d.payment_id);
          continue;
        }
        ++stats_.lookup_errors;
        auto& [failures, not_before] = backoff_[d.payment_id];
        ++failures;
        not_before = clock_.NowMicros() + RetryDelayUs(backoff, failures, 0, random);
        spdlog::warn("charge intent {} ({}) not settled, retried later: {}", d.payment_id,
                     d.gateway, std::string(settled.message()));
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return absl::OkStatus();
      if (backoff_.size() > 100000) backoff_.clear();
    }
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "charge reconciler");
  }
}

absl::Status ChargeReconciler::Settle(const Due& due) {
  auto events = store_.ReadStreamInPartition(options_.partition,
                                             gateways::ChargeIntentStreamId(due.payment_id));
  if (!events.ok()) return events.status();
  pb::ChargeRequested intent;
  int64_t intent_position = 0, intent_at_us = 0;
  for (const ledger::RecordedEvent& e : *events) {
    if (e.type != "tally.payments.v1.ChargeRequested") continue;
    if (!intent.ParseFromString(e.payload)) {
      return absl::DataLossError(
          absl::StrCat("ChargeRequested at ", e.position, " does not parse"));
    }
    intent_position = e.position;
    intent_at_us = e.recorded_at_us;
  }
  if (intent_position == 0) return absl::NotFoundError("no ChargeRequested in the intent stream");
  // The due row may be old: a retry may have made a newer attempt, whose call may still run
  // (the fold makes it due later), or recorded the payment (the fold marks it). Nothing to do.
  if (std::max(1, intent.attempt()) != due.attempt ||
      clock_.NowMicros() - intent_at_us < options_.settle_after_us) {
    return absl::OkStatus();
  }
  if (!intent.append_key().empty()) {
    auto recorded = store_.FindByIdempotencyKey(intent.append_key());
    if (!recorded.ok()) return recorded.status();
    if (recorded->has_value()) return absl::OkStatus();
  }

  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor("charge_reconciler");
  metadata.set_causation_position(intent_position);
  metadata.set_received_at_us(clock_.NowMicros());

  auto unresolved = [&](pb::ChargeUnresolved::Reason reason,
                        const std::string& detail) -> absl::Status {
    pb::ChargeUnresolved m;
    m.set_tenant_id(due.tenant_id);
    m.set_payment_id(due.payment_id);
    m.set_gateway(due.gateway);
    m.set_reason(reason);
    m.set_detail(detail.substr(0, 1000));
    m.set_attempt(std::max(1, intent.attempt()));
    auto appended = store_.Append({due.tenant_id,
                                   gateways::ChargeIntentStreamId(due.payment_id),
                                   ledger::ExpectedVersion::Any(),
                                   {{"tally.payments.v1.ChargeUnresolved", m.SerializeAsString(),
                                     metadata.SerializeAsString()}},
                                   absl::StrCat("charge-unresolved:", due.payment_id, ":",
                                                std::max(1, intent.attempt()), ":", due.reopened)});
    if (!appended.ok()) return appended.status();
    if (!appended->duplicate) {
      spdlog::warn("charge intent {} at {} unresolved: {} ({})", due.payment_id, due.gateway,
                   ReasonName(reason), detail);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.unresolved;
    }
    return absl::OkStatus();
  };

  const gateways::Gateway* gateway = gateways_.Find(intent.gateway());
  if (gateway == nullptr) {
    return unresolved(pb::ChargeUnresolved::REASON_LOOKUP_FAILED,
                      absl::StrCat("no gateway named ", intent.gateway()));
  }
  if (!gateway->traits().finds_charges_by_reference) {
    return unresolved(pb::ChargeUnresolved::REASON_CANNOT_LOOK_UP,
                      absl::StrCat(gateway->name(),
                                   " cannot look a charge up by our reference: a charge may "
                                   "exist; check the gateway's panel for reference ",
                                   due.payment_id));
  }
  if (!intent.has_payment() || intent.append_key().empty()) {
    return unresolved(pb::ChargeUnresolved::REASON_LOOKUP_FAILED,
                      "the intent carries no payment to record (written by an older version)");
  }
  auto config = tenants::ResolveGatewayAccount(store_, box_, due.tenant_id, gateway->name());
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kUnavailable) return config.status();
    return unresolved(pb::ChargeUnresolved::REASON_LOOKUP_FAILED,
                      absl::StrCat("no account to ask with: ", config.status().message()));
  }
  auto found = gateway->FindChargeByReference(config->account, due.payment_id, transport_);
  if (found.ok()) {
    const pb::PaymentCreated payment = gateways::WithGatewayAnswer(intent.payment(), *found);
    auto appended = store_.Append(gateways::RecordCharge(payment, metadata, intent.append_key()));
    if (!appended.ok()) return appended.status();
    if (!appended->duplicate) {
      spdlog::info("charge recovered by the reconciler payment={} gateway={} transaction={}",
                   due.payment_id, gateway->name(), found->transaction_id);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.recovered;
    }
    return absl::OkStatus();
  }
  switch (found.status().code()) {
    case absl::StatusCode::kNotFound:
      return unresolved(pb::ChargeUnresolved::REASON_NOT_AT_GATEWAY,
                        std::string(found.status().message()));
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
      return unresolved(pb::ChargeUnresolved::REASON_LOOKUP_FAILED,
                        std::string(found.status().message()));
    default:
      return found.status();  // transient: asked again after a backoff
  }
}

}  // namespace tally::reactors
