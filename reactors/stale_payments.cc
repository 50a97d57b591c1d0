#include "reactors/stale_payments.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

constexpr char kCreatedType[] = "tally.payments.v1.PaymentCreated";
constexpr char kWebhookType[] = "tally.payments.v1.GatewayWebhookReceived";
constexpr char kPolledType[] = "tally.payments.v1.GatewayStatusPolled";
constexpr char kAbandonedType[] = "tally.payments.v1.PaymentAbandoned";

bool Settles(pb::ObservedStatus status) {
  switch (status) {
    case pb::OBSERVED_STATUS_PAID:
    case pb::OBSERVED_STATUS_REFUNDED:
    case pb::OBSERVED_STATUS_CHARGED_BACK:
    case pb::OBSERVED_STATUS_CANCELLED:
    case pb::OBSERVED_STATUS_EXPIRED:
    case pb::OBSERVED_STATUS_REFUSED:
      return true;
    default:
      return false;
  }
}

template <typename M>
absl::StatusOr<M> Parse(const ledger::RecordedEvent& e) {
  M m;
  if (!m.ParseFromString(e.payload)) {
    return absl::DataLossError(absl::StrCat(e.type, " at ", e.position));
  }
  return m;
}

// What one payment event means to its stale timer.
absl::StatusOr<TimerEvent> Read(const ledger::RecordedEvent& e) {
  TimerEvent out;
  out.timer_id = e.stream_id;
  out.type = TimerEvent::Type::kIgnored;
  if (!projections::IsPaymentStream(e.stream_id)) return out;
  if (e.type == kAbandonedType) {
    out.type = TimerEvent::Type::kEnded;
    return out;
  }
  bool settles = false;
  if (e.type == kCreatedType) {
    auto m = Parse<pb::PaymentCreated>(e);
    if (!m.ok()) return m.status();
    settles = Settles(m->observation().status());
    out.tenant_id = m->tenant_id();
  } else if (e.type == kWebhookType) {
    auto m = Parse<pb::GatewayWebhookReceived>(e);
    if (!m.ok()) return m.status();
    settles = m->authenticity() == pb::AUTHENTICITY_SIGNED && Settles(m->observation().status());
    out.tenant_id = m->tenant_id();
    // A Stripe subscription object's own events (customer.subscription.*) share the payment
    // streams' naming but are no charge: nothing there can become stale.
    if (e.stream_version == 1 &&
        absl::StartsWith(m->observation().gateway_status(), "customer.subscription.")) {
      return out;
    }
  } else if (e.type == kPolledType) {
    auto m = Parse<pb::GatewayStatusPolled>(e);
    if (!m.ok()) return m.status();
    settles = m->has_observation() && Settles(m->observation().status());
    out.tenant_id = m->tenant_id();
  }
  if (e.stream_version == 1) {
    // Seen first already settled: nothing will ever be stale.
    if (settles) return out;
    out.type = TimerEvent::Type::kScheduled;
    out.due_at_us = e.recorded_at_us + kStaleAfterUs;
    return out;
  }
  if (settles) {
    out.type = TimerEvent::Type::kEnded;
    out.cancelled = true;
  }
  return out;
}

}  // namespace

StalePaymentTimers::StalePaymentTimers(ledger::EventStore& store, const ledger::Clock& clock)
    : store_(store), clock_(clock) {
  kind_.name = "stale_payment";
  kind_.scheduled_type = kCreatedType;
  kind_.ended_types = {kWebhookType, kPolledType, kAbandonedType};
  kind_.read = Read;
  kind_.fire = [this](const TimerItem& item) { return Fire(item); };
  kind_.concurrency = 8;  // stateless: each firing reads its own stream
}

absl::Status StalePaymentTimers::Fire(const TimerItem& item) {
  auto events = store_.ReadStreamInPartition(item.partition, item.stream_id);
  if (!events.ok()) return events.status();
  projections::PaymentState state;
  for (const auto& e : *events) {
    auto applied = projections::ApplyPaymentEvent(state, e);
    if (!applied.ok()) return applied.status();
  }
  // Abandoned already (by this timer fired before, or by the poller): that event ends it.
  if (state.status == projections::PaymentStatus::kAbandoned) return absl::OkStatus();
  const bool open = state.status == projections::PaymentStatus::kPending ||
                    state.status == projections::PaymentStatus::kUnknown;
  const bool unconfirmed_paid =
      state.status == projections::PaymentStatus::kPaid && !state.paid_confirmed;
  if (!open && !unconfirmed_paid) {
    return absl::FailedPreconditionError(absl::StrCat(item.stream_id, " is ",
                                                      projections::StatusName(state.status),
                                                      " but its stale timer was not ended"));
  }
  pb::PaymentAbandoned abandoned;
  abandoned.set_reason("stale");
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor("stale_payment_timer");
  metadata.set_causation_position(item.scheduled_position);
  metadata.set_received_at_us(clock_.NowMicros());
  return store_
      .Append({item.tenant_id,
               item.stream_id,
               ledger::ExpectedVersion::Any(),
               {{kAbandonedType, abandoned.SerializeAsString(), metadata.SerializeAsString()}},
               absl::StrCat("stale:", item.stream_id)})
      .status();
}

}  // namespace tally::reactors
