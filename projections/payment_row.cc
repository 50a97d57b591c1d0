#include "projections/payment_row.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tally::projections {
namespace {

std::string Str(const std::optional<std::string>& v) { return v.value_or(""); }

int64_t Int(const std::optional<std::string>& v) {
  int64_t out = 0;
  if (v.has_value()) (void)absl::SimpleAtoi(*v, &out);
  return out;
}

// COPY and Bool() write "t"; boolean::text reads back "true".
bool Flag(const std::optional<std::string>& v) {
  return v.has_value() && (*v == "t" || *v == "true");
}

PaymentStatus StatusFromName(const std::string& name) {
  for (PaymentStatus s :
       {PaymentStatus::kPending, PaymentStatus::kPaid, PaymentStatus::kRefunded,
        PaymentStatus::kChargedBack, PaymentStatus::kExpired, PaymentStatus::kCancelled,
        PaymentStatus::kRefused, PaymentStatus::kAbandoned}) {
    if (name == StatusName(s)) return s;
  }
  return PaymentStatus::kUnknown;
}

}  // namespace

const TableSpec& PaymentsTable() {
  static const TableSpec kSpec{"payments",
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
                                {"last_position", "bigint"}},
                               2,
                               "CHECK (NOT purchase_sent OR meta_event_id IS NOT NULL)"};
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
                               3};
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
          std::to_string(s.last_position)};
}

PaymentState DecodePayment(const Row& r) {
  PaymentState s;
  s.partition = static_cast<int>(Int(r[0]));
  s.stream_id = Str(r[1]);
  s.gateway = Str(r[2]);
  s.gateway_transaction_id = Str(r[3]);
  s.gateway_transaction_hash = Str(r[4]);
  s.payment_id = Str(r[5]);
  s.tenant_id = Str(r[6]);
  s.bot_id = Str(r[7]);
  s.customer_id = Str(r[8]);
  s.product_id = Str(r[9]);
  s.created = Flag(r[10]);
  s.amount_minor = Int(r[11]);
  s.currency = Str(r[12]);
  s.paid_amount_minor = Int(r[13]);
  s.status = StatusFromName(Str(r[14]));
  s.status_source = Str(r[15]);
  s.paid_confirmed = Flag(r[16]);
  s.created_at_us = ParseTimestamp(r[17]);
  s.expires_at_us = ParseTimestamp(r[18]);
  s.paid_at_us = ParseTimestamp(r[19]);
  s.refunded_at_us = ParseTimestamp(r[20]);
  s.last_observed_at_us = ParseTimestamp(r[21]);
  s.observations = static_cast<int32_t>(Int(r[22]));
  s.late = Flag(r[23]);
  s.amount_mismatch = Flag(r[24]);
  s.stale_observations = static_cast<int32_t>(Int(r[25]));
  s.delivery_state = Str(r[26]);
  s.delivery_attempts = static_cast<int32_t>(Int(r[27]));
  s.purchase.state = Str(r[28]);
  s.purchase.sent = Flag(r[29]);
  s.purchase.meta_event_id = Str(r[30]);
  s.purchase.attempts = static_cast<int32_t>(Int(r[31]));
  s.purchase.last_error = Str(r[32]);
  s.purchase.sent_at_us = ParseTimestamp(r[33]);
  s.last_position = Int(r[34]);
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
  std::string value = *text;
  // PostgreSQL prints the UTC offset as "+00"; absl wants "+00:00".
  if (value.size() > 3 && value[value.size() - 3] == '+') value += ":00";
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S%Ez", value, &time, &error)) return 0;
  return absl::ToUnixMicros(time);
}

}  // namespace tally::projections
