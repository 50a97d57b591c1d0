#pragma once
// The payment state machine: folds the events of one `payment-<gateway>-<txid>` stream into a
// PaymentState. Pure and deterministic (no clock, no I/O), so live projection, rebuild and
// golden tests all run exactly this code. Thread-compatible.
//
// Status rules (../shared/DESIGN.md, "Projections"):
//   pending -> paid -> refunded / charged back; pending -> expired / cancelled / refused /
//   abandoned. A paid observation after expiry (or after a cancel/refusal) still counts and is
//   flagged late. A stale pending/expired/cancelled after paid is ignored and flagged. A paid
//   amount different from the created amount is flagged. A webhook may arrive before our own
//   PaymentCreated: the stream is the gateway's transaction id, so both land here in any order.
//   A "paid" from an unsigned gateway's webhook is shown as paid but not confirmed until a
//   status poll (or a signed webhook) says so; only confirmed payments count as revenue.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ledger/event.h"
#include "projections/purchase_fold.h"

namespace tally::projections {

enum class PaymentStatus {
  kUnknown,  // observed nothing yet that sets a status
  kPending,
  kPaid,
  kRefunded,
  kChargedBack,
  kExpired,
  kCancelled,
  kRefused,
  kAbandoned,
};
const char* StatusName(PaymentStatus status);

struct Anomaly {
  int64_t position = 0;
  std::string kind;  // stable code, e.g. "paid_after_expiry"
  std::string detail;
  int64_t recorded_at_us = 0;
};

struct PaymentState {
  int partition = 0;
  std::string stream_id;
  std::string gateway;
  std::string gateway_transaction_id;
  std::string gateway_transaction_hash;
  std::string payment_id;
  std::string tenant_id;
  std::string bot_id;
  std::string customer_id;
  std::string product_id;
  std::string plan_id;  // a subscription plan's charge (reactors/subscriptions.h)
  // What made the sale: "upsell" / "downsell" (a charge from an offer link), else "direct".
  std::string origin = "direct";
  bool created = false;
  int64_t amount_minor = 0;  // as created
  std::string currency;
  int64_t paid_amount_minor = 0;  // as observed paid
  PaymentStatus status = PaymentStatus::kUnknown;
  std::string status_source;  // created | signed_webhook | unverified_webhook | poll | reactor
  bool paid_confirmed = false;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  int64_t paid_at_us = 0;
  int64_t refunded_at_us = 0;  // refund or chargeback
  int64_t last_observed_at_us = 0;
  int32_t observations = 0;
  bool late = false;
  bool amount_mismatch = false;
  int32_t stale_observations = 0;
  std::string delivery_state;  // "" | issued | sent | failed | accessed
  int32_t delivery_attempts = 0;
  PurchaseState purchase;
  int64_t last_position = 0;
  int64_t first_seen_at_us = 0;  // when the stream's first event was recorded: never changes
};

// Applies `event` (of this payment's stream) to `state` and returns the anomalies it raises.
// Event types that do not concern payments are ignored. DataLoss when a payload does not parse:
// the projection stops there rather than skip it.
absl::StatusOr<std::vector<Anomaly>> ApplyPaymentEvent(PaymentState& state,
                                                       const ledger::RecordedEvent& event);

// True for streams whose events this fold understands.
bool IsPaymentStream(const std::string& stream_id);

}  // namespace tally::projections
