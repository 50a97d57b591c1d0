// payments: one row per payment stream (the PaymentState), plus anomalies for auditors.

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "projections/payment_row.h"
#include "projections/projection.h"

namespace tally::projections {
namespace {

std::string StateKey(int partition, const std::string& stream_id) {
  return absl::StrCat(partition, "\x1f", stream_id);
}

class PaymentsFold final : public ProjectionFold {
 public:
  absl::Status Load(pqxx::transaction_base& txn, const std::string& suffix,
                    const std::vector<ledger::RecordedEvent>& batch) override {
    const std::vector<Row> keys = PaymentStreamKeys(batch);
    auto rows = LoadRows(txn, PaymentsTable(), TableName(PaymentsTable(), suffix), keys);
    if (!rows.ok()) return rows.status();
    for (auto& [key, row] : *rows) {
      absl::StatusOr<PaymentState> state = DecodePayment(row);
      if (!state.ok()) {
        return absl::DataLossError(absl::StrCat(TableName(PaymentsTable(), suffix), " row (",
                                                row[0].value_or(""), ", ", row[1].value_or(""),
                                                "): ", state.status().message()));
      }
      states_[StateKey(state->partition, state->stream_id)] = *std::move(state);
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const ledger::RecordedEvent& event) override {
    if (!IsPaymentStream(event.stream_id)) return absl::OkStatus();
    const std::string key = StateKey(event.partition, event.stream_id);
    PaymentState& state = states_[key];
    auto anomalies = ApplyPaymentEvent(state, event);
    if (!anomalies.ok()) return anomalies.status();
    dirty_.insert(key);
    for (const auto& anomaly : *anomalies) {
      anomalies_.push_back(EncodeAnomaly(event.partition, event.stream_id, anomaly));
    }
    return absl::OkStatus();
  }

  absl::Status Store(pqxx::transaction_base& txn, const std::string& suffix) override {
    std::vector<Row> rows;
    for (const auto& key : dirty_) rows.push_back(EncodePayment(states_[key]));
    absl::Status status =
        UpsertRows(txn, PaymentsTable(), TableName(PaymentsTable(), suffix), rows);
    if (!status.ok()) return status;
    return UpsertRows(txn, AnomaliesTable(), TableName(AnomaliesTable(), suffix), anomalies_);
  }

  std::vector<std::vector<Row>> AllRows() override {
    std::vector<Row> payments;
    payments.reserve(states_.size());
    for (const auto& [key, state] : states_) payments.push_back(EncodePayment(state));
    return {std::move(payments), std::move(anomalies_)};
  }

 private:
  absl::flat_hash_map<std::string, PaymentState> states_;
  absl::flat_hash_set<std::string> dirty_;
  std::vector<Row> anomalies_;
};

class PaymentsProjection final : public Projection {
 public:
  std::string name() const override { return "payments"; }
  // 2: plan_id, origin and first_seen_at (the read API's stable order).
  int version() const override { return 2; }
  std::vector<TableSpec> tables() const override { return {PaymentsTable(), AnomaliesTable()}; }
  std::unique_ptr<ProjectionFold> NewFold() const override {
    return std::make_unique<PaymentsFold>();
  }
};

}  // namespace

std::unique_ptr<Projection> NewPaymentsProjection() {
  return std::make_unique<PaymentsProjection>();
}

std::vector<std::unique_ptr<Projection>> AllProjections() {
  std::vector<std::unique_ptr<Projection>> all;
  all.push_back(NewPaymentsProjection());
  all.push_back(NewRevenueProjection());
  all.push_back(NewPurchaseTrackingProjection());
  return all;
}

}  // namespace tally::projections
