#include "projections/payment_row.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tally::projections {
namespace {

absl::StatusOr<int64_t> TimestampMicros(std::string value) {
  // PostgreSQL prints the UTC offset as "+00"; absl wants "+00:00".
  if (value.size() > 3 && value[value.size() - 3] == '+') value += ":00";
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S%Ez", value, &time, &error)) {
    return absl::DataLossError(error);
  }
  return absl::ToUnixMicros(time);
}

// Reads the columns of a stored row; the first value that does not parse makes status() a
// DataLoss naming its column, and later reads return defaults.
class RowReader {
 public:
  RowReader(const TableSpec& spec, const Row& row) : spec_(spec), row_(row) {}

  std::string Str(size_t i) const { return row_[i].value_or(""); }

  int64_t Int(size_t i) {
    int64_t out = 0;
    if (row_[i].has_value() && !absl::SimpleAtoi(*row_[i], &out)) Fail(i, "not an integer");
    return out;
  }

  // COPY and Bool() write "t"; boolean::text reads back "true".
  bool Flag(size_t i) {
    if (!row_[i].has_value()) return false;
    const std::string& v = *row_[i];
    if (v == "t" || v == "true") return true;
    if (v != "f" && v != "false") Fail(i, "not a boolean");
    return false;
  }

  PaymentStatus Status(size_t i) {
    const std::string name = Str(i);
    for (PaymentStatus s :
         {PaymentStatus::kUnknown, PaymentStatus::kPending, PaymentStatus::kPaid,
          PaymentStatus::kRefunded, PaymentStatus::kChargedBack, PaymentStatus::kExpired,
          PaymentStatus::kCancelled, PaymentStatus::kRefused, PaymentStatus::kAbandoned}) {
      if (name == StatusName(s)) return s;
    }
    Fail(i, "not a payment status");
    return PaymentStatus::kUnknown;
  }

  int64_t Time(size_t i) {
    if (!row_[i].has_value() || row_[i]->empty()) return 0;
    absl::StatusOr<int64_t> micros = TimestampMicros(*row_[i]);
    if (!micros.ok()) Fail(i, "not a timestamp");
    return micros.value_or(0);
  }

  const absl::Status& status() const { return status_; }

 private:
  void Fail(size_t i, absl::string_view what) {
    if (!status_.ok()) return;
    status_ = absl::DataLossError(
        absl::StrCat(spec_.columns[i].name, " is ", what, ": \"", row_[i].value_or(""), "\""));
  }

  const TableSpec& spec_;
  const Row& row_;
  absl::Status status_;
};

}  // namespace

const TableSpec& PaymentsTable() {
  static const TableSpec kSpec{
      "payments",
      {{"partition_id", "int"},
       {"stream_id", "text"},
       {"gateway", "text"},
       {"gateway_transaction_id", "text"},
       {"gateway_transaction_hash", "text"},
       {"payment_id", "text"},
       {"tenant_id", "text"},
       {"bot_id", "text"},
       {"customer_id", "text"},
       {"product_id", "text"},
       {"created", "boolean"},
       {"amount_minor", "bigint"},
       {"currency", "text"},
       {"paid_amount_minor", "bigint"},
       {"status", "text"},
       {"status_source", "text"},
       {"paid_confirmed", "boolean"},
       {"created_at", "timestamptz"},
       {"expires_at", "timestamptz"},
       {"paid_at", "timestamptz"},
       {"refunded_at", "timestamptz"},
       {"last_observed_at", "timestamptz"},
       {"observations", "int"},
       {"late", "boolean"},
       {"amount_mismatch", "boolean"},
       {"stale_observations", "int"},
       {"delivery_state", "text"},
       {"delivery_attempts", "int"},
       {"purchase_state", "text"},
       {"purchase_sent", "boolean"},
       {"meta_event_id", "text"},
       {"purchase_attempts", "int"},
       {"purchase_last_error", "text"},
       {"purchase_sent_at", "timestamptz"},
       {"last_position", "bigint"},
       {"plan_id", "text"},
       {"origin", "text"},
       {"first_seen_at", "timestamptz"}},
      2,
      "CHECK (NOT purchase_sent OR meta_event_id IS NOT NULL)",
      true,
      "*",
      // GET /v1/payments (newest first), /v1/payments/{id}, /v1/stats,
      // and the dashboard's live feed (rows folded after a position).
      {"(tenant_id, first_seen_at DESC, partition_id DESC, stream_id DESC)",
       "(tenant_id, payment_id)", "(tenant_id, paid_at)", "(partition_id, last_position)"}};
  return kSpec;
}

const TableSpec& AnomaliesTable() {
  static const TableSpec kSpec{"anomalies",
                               {{"partition_id", "int"},
                                {"position", "bigint"},
                                {"kind", "text"},
                                {"stream_id", "text"},
                                {"detail", "text"},
                                {"recorded_at", "timestamptz"}},
                               3,
                               ""};
  return kSpec;
}

Row EncodePayment(const PaymentState& s) {
  return {std::to_string(s.partition),
          s.stream_id,
          TextOrNull(s.gateway),
          TextOrNull(s.gateway_transaction_id),
          TextOrNull(s.gateway_transaction_hash),
          TextOrNull(s.payment_id),
          TextOrNull(s.tenant_id),
          TextOrNull(s.bot_id),
          TextOrNull(s.customer_id),
          TextOrNull(s.product_id),
          Bool(s.created),
          std::to_string(s.amount_minor),
          TextOrNull(s.currency),
          std::to_string(s.paid_amount_minor),
          StatusName(s.status),
          TextOrNull(s.status_source),
          Bool(s.paid_confirmed),
          TimestampOrNull(s.created_at_us),
          TimestampOrNull(s.expires_at_us),
          TimestampOrNull(s.paid_at_us),
          TimestampOrNull(s.refunded_at_us),
          TimestampOrNull(s.last_observed_at_us),
          std::to_string(s.observations),
          Bool(s.late),
          Bool(s.amount_mismatch),
          std::to_string(s.stale_observations),
          TextOrNull(s.delivery_state),
          std::to_string(s.delivery_attempts),
          TextOrNull(s.purchase.state),
          Bool(s.purchase.sent),
          TextOrNull(s.purchase.meta_event_id),
          std::to_string(s.purchase.attempts),
          TextOrNull(s.purchase.last_error),
          TimestampOrNull(s.purchase.sent_at_us),
          std::to_string(s.last_position),
          TextOrNull(s.plan_id),
          s.origin,
          TimestampOrNull(s.first_seen_at_us)};
}

absl::StatusOr<PaymentState> DecodePayment(const Row& r) {
  const TableSpec& spec = PaymentsTable();
  if (r.size() != spec.columns.size()) {
    return absl::DataLossError(
        absl::StrCat("a payment row has ", r.size(), " columns, not ", spec.columns.size()));
  }
  RowReader in(spec, r);
  PaymentState s;
  s.partition = static_cast<int>(in.Int(0));
  s.stream_id = in.Str(1);
  s.gateway = in.Str(2);
  s.gateway_transaction_id = in.Str(3);
  s.gateway_transaction_hash = in.Str(4);
  s.payment_id = in.Str(5);
  s.tenant_id = in.Str(6);
  s.bot_id = in.Str(7);
  s.customer_id = in.Str(8);
  s.product_id = in.Str(9);
  s.created = in.Flag(10);
  s.amount_minor = in.Int(11);
  s.currency = in.Str(12);
  s.paid_amount_minor = in.Int(13);
  s.status = in.Status(14);
  s.status_source = in.Str(15);
  s.paid_confirmed = in.Flag(16);
  s.created_at_us = in.Time(17);
  s.expires_at_us = in.Time(18);
  s.paid_at_us = in.Time(19);
  s.refunded_at_us = in.Time(20);
  s.last_observed_at_us = in.Time(21);
  s.observations = static_cast<int32_t>(in.Int(22));
  s.late = in.Flag(23);
  s.amount_mismatch = in.Flag(24);
  s.stale_observations = static_cast<int32_t>(in.Int(25));
  s.delivery_state = in.Str(26);
  s.delivery_attempts = static_cast<int32_t>(in.Int(27));
  s.purchase.state = in.Str(28);
  s.purchase.sent = in.Flag(29);
  s.purchase.meta_event_id = in.Str(30);
  s.purchase.attempts = static_cast<int32_t>(in.Int(31));
  s.purchase.last_error = in.Str(32);
  s.purchase.sent_at_us = in.Time(33);
  s.last_position = in.Int(34);
  s.plan_id = in.Str(35);
  s.origin = in.Str(36);
  s.first_seen_at_us = in.Time(37);
  if (!in.status().ok()) return in.status();
  return s;
}

std::vector<Row> PaymentStreamKeys(const std::vector<ledger::RecordedEvent>& batch) {
  std::vector<Row> keys;
  absl::flat_hash_set<std::string> seen;
  for (const auto& event : batch) {
    if (!IsPaymentStream(event.stream_id)) continue;
    if (seen.insert(absl::StrCat(event.partition, "\x1f", event.stream_id)).second) {
      keys.push_back({std::to_string(event.partition), event.stream_id});
    }
  }
  return keys;
}

Row EncodeAnomaly(int partition, const std::string& stream_id, const Anomaly& anomaly) {
  return {std::to_string(partition),
          std::to_string(anomaly.position),
          anomaly.kind,
          stream_id,
          anomaly.detail,
          TimestampOrNull(anomaly.recorded_at_us)};
}

int64_t ParseTimestamp(const std::optional<std::string>& text) {
  if (!text.has_value() || text->empty()) return 0;
  return TimestampMicros(*text).value_or(0);
}

}  // namespace tally::projections
