// purchase_tracking: per payment, whether Meta accepted the Purchase and under which event id.
// Both come from MetaPurchaseSucceeded alone, and the table's CHECK refuses the flag without
// the id (the failure of seeds/002).

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "projections/payment_row.h"
#include "projections/projection.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::projections {
namespace {

const TableSpec& PurchaseTable() {
  static const TableSpec kSpec{"purchase_tracking",
                               {{"partition_id", "int"},
                                {"stream_id", "text"},
                                {"payment_id", "text"},
                                {"tenant_id", "text"},
                                {"purchase_state", "text"},
                                {"purchase_sent", "boolean"},
                                {"meta_event_id", "text"},
                                {"attempts", "int"},
                                {"last_error", "text"},
                                {"sent_at", "timestamptz"}},
                               2,
                               "CHECK (NOT purchase_sent OR meta_event_id IS NOT NULL)"};
  return kSpec;
}

struct Tracking {
  int partition = 0;
  std::string stream_id;
  std::string payment_id;
  std::string tenant_id;
  PurchaseState purchase;
};

Row Encode(const Tracking& t) {
  return {std::to_string(t.partition),
          t.stream_id,
          TextOrNull(t.payment_id),
          TextOrNull(t.tenant_id),
          TextOrNull(t.purchase.state),
          Bool(t.purchase.sent),
          TextOrNull(t.purchase.meta_event_id),
          std::to_string(t.purchase.attempts),
          TextOrNull(t.purchase.last_error),
          TimestampOrNull(t.purchase.sent_at_us)};
}

Tracking Decode(const Row& r) {
  Tracking t;
  (void)absl::SimpleAtoi(r[0].value_or("0"), &t.partition);
  t.stream_id = r[1].value_or("");
  t.payment_id = r[2].value_or("");
  t.tenant_id = r[3].value_or("");
  t.purchase.state = r[4].value_or("");
  t.purchase.sent = r[5].value_or("") == "t" || r[5].value_or("") == "true";
  t.purchase.meta_event_id = r[6].value_or("");
  (void)absl::SimpleAtoi(r[7].value_or("0"), &t.purchase.attempts);
  t.purchase.last_error = r[8].value_or("");
  t.purchase.sent_at_us = ParseTimestamp(r[9]);
  return t;
}

class PurchaseFold final : public ProjectionFold {
 public:
  absl::Status Load(pqxx::transaction_base& txn, const std::string& suffix,
                    const std::vector<ledger::RecordedEvent>& batch) override {
    const std::vector<Row> keys = PaymentStreamKeys(batch);
    auto rows = LoadRows(txn, PurchaseTable(), TableName(PurchaseTable(), suffix), keys);
    if (!rows.ok()) return rows.status();
    for (auto& [key, row] : *rows) {
      Tracking t = Decode(row);
      states_[absl::StrCat(t.partition, "\x1f", t.stream_id)] = std::move(t);
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const ledger::RecordedEvent& event) override {
    if (!IsPaymentStream(event.stream_id)) return absl::OkStatus();
    const std::string key = Key(event);
    Tracking& t = states_[key];
    t.partition = event.partition;
    t.stream_id = event.stream_id;
    if (event.type == "tally.payments.v1.PaymentCreated") {
      payments::v1::PaymentCreated created;
      if (!created.ParseFromString(event.payload)) {
        return absl::DataLossError(
            absl::StrCat("position ", event.position, ": PaymentCreated does not parse"));
      }
      t.payment_id = created.payment_id();
      t.tenant_id = created.tenant_id();
    } else {
      auto effect = ApplyPurchaseEvent(t.purchase, event);
      if (!effect.ok()) return effect.status();
    }
    dirty_.insert(key);
    return absl::OkStatus();
  }

  absl::Status Store(pqxx::transaction_base& txn, const std::string& suffix) override {
    std::vector<Row> rows;
    for (const auto& key : dirty_) rows.push_back(Encode(states_[key]));
    return UpsertRows(txn, PurchaseTable(), TableName(PurchaseTable(), suffix), rows);
  }

  std::vector<std::vector<Row>> AllRows() override {
    std::vector<Row> rows;
    rows.reserve(states_.size());
    for (const auto& [key, t] : states_) rows.push_back(Encode(t));
    return {std::move(rows)};
  }

 private:
  static std::string Key(const ledger::RecordedEvent& e) {
    return absl::StrCat(e.partition, "\x1f", e.stream_id);
  }
  absl::flat_hash_map<std::string, Tracking> states_;
  absl::flat_hash_set<std::string> dirty_;
};

class PurchaseTrackingProjection final : public Projection {
 public:
  std::string name() const override { return "purchase_tracking"; }
  int version() const override { return 1; }
  std::vector<TableSpec> tables() const override { return {PurchaseTable()}; }
  std::unique_ptr<ProjectionFold> NewFold() const override {
    return std::make_unique<PurchaseFold>();
  }
};

}  // namespace

std::unique_ptr<Projection> NewPurchaseTrackingProjection() {
  return std::make_unique<PurchaseTrackingProjection>();
}

}  // namespace tally::projections
