#include "projections/payment_fold.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::projections {
namespace {

namespace pb = payments::v1;

constexpr absl::string_view kPrefix = "tally.payments.v1.";

bool IsSettled(PaymentStatus s) {
  return s == PaymentStatus::kPaid || s == PaymentStatus::kRefunded ||
         s == PaymentStatus::kChargedBack;
}

bool IsOpen(PaymentStatus s) {
  return s == PaymentStatus::kUnknown || s == PaymentStatus::kPending;
}

template <typename Message>
absl::StatusOr<Message> Parse(const ledger::RecordedEvent& event) {
  Message message;
  if (!message.ParseFromString(event.payload)) {
    return absl::DataLossError(
        absl::StrCat("position ", event.position, ": payload of ", event.type, " does not parse"));
  }
  return message;
}

class Folder {
 public:
  Folder(PaymentState& state, const ledger::RecordedEvent& event) : s_(state), e_(event) {}

  void Flag(std::string kind, std::string detail) {
    anomalies_.push_back({e_.position, std::move(kind), std::move(detail), e_.recorded_at_us});
  }

  void Created(const pb::PaymentCreated& created) {
    if (s_.created) {
      Flag("duplicate_created", "PaymentCreated seen twice");
      return;
    }
    s_.created = true;
    s_.tenant_id = created.tenant_id();
    s_.bot_id = created.bot_id();
    s_.customer_id = created.customer_id();
    s_.product_id = created.product_id();
    s_.plan_id = created.plan_id();
    s_.origin = created.offer_kind() == "upsell" || created.offer_kind() == "downsell"
                    ? created.offer_kind()
                    : "direct";
    s_.amount_minor = created.amount().amount_minor();
    s_.currency = created.amount().currency();
    if (s_.gateway.empty()) s_.gateway = created.gateway();
    if (s_.gateway_transaction_id.empty())
      s_.gateway_transaction_id = created.gateway_transaction_id();
    if (s_.gateway_transaction_hash.empty()) {
      s_.gateway_transaction_hash = created.gateway_transaction_hash();
    }
    s_.payment_id = created.payment_id();
    s_.created_at_us = e_.recorded_at_us;
    s_.expires_at_us = created.expires_at_s() * 1000000;
    if (s_.status == PaymentStatus::kUnknown) {
      s_.status = PaymentStatus::kPending;
      s_.status_source = "created";
    } else if (IsSettled(s_.status) && s_.paid_amount_minor != 0) {
      // The webhook beat the create call; check now what could not be checked then.
      CheckAmount();
      if (s_.expires_at_us != 0 && s_.paid_at_us > s_.expires_at_us && !s_.late) {
        s_.late = true;
        Flag("paid_after_expiry", "paid after the charge's expiry");
      }
    }
  }

  void CheckAmount() {
    if (!s_.created || s_.paid_amount_minor == 0) return;
    if (s_.paid_amount_minor != s_.amount_minor && !s_.amount_mismatch) {
      s_.amount_mismatch = true;
      Flag("amount_mismatch", absl::StrCat("created ", s_.amount_minor, " ", s_.currency, ", paid ",
                                           s_.paid_amount_minor));
    }
  }

  void Observe(const std::string& gateway, const pb::Observation& observation,
               const std::string& source) {
    ++s_.observations;
    s_.last_observed_at_us = e_.recorded_at_us;
    if (s_.gateway.empty()) s_.gateway = gateway;
    if (s_.gateway_transaction_id.empty()) {
      s_.gateway_transaction_id = observation.gateway_transaction_id();
    }
    if (s_.gateway_transaction_hash.empty()) {
      s_.gateway_transaction_hash = observation.gateway_transaction_hash();
    }
    // The status was normalized by the gateway's vocabulary when the observation was
    // recorded; the fold never re-reads the gateway's word, so a later change of vocabulary
    // cannot change what history folds to.
    const pb::ObservedStatus observed = observation.status();
    const int64_t at =
        observation.occurred_at_us() != 0 ? observation.occurred_at_us() : e_.recorded_at_us;
    const bool confirming = source != "unverified_webhook";
    switch (observed) {
      case pb::OBSERVED_STATUS_PENDING:
        if (IsSettled(s_.status)) {
          if (s_.status == PaymentStatus::kPaid && !s_.paid_confirmed && source == "poll") {
            // The gateway itself says it is not paid: the unsigned "paid" is not believed.
            Flag("unconfirmed_paid_contradicted", "a poll says pending after an unsigned paid");
            Set(PaymentStatus::kPending, source);
            s_.paid_at_us = 0;
            s_.paid_amount_minor = 0;
            return;
          }
          Stale("pending");
          return;
        }
        if (IsOpen(s_.status)) Set(PaymentStatus::kPending, source);
        return;
      case pb::OBSERVED_STATUS_PAID:
        if (s_.status == PaymentStatus::kPaid) {
          if (confirming && !s_.paid_confirmed) {
            s_.paid_confirmed = true;
            s_.status_source = source;
          }
          return;  // a duplicate observation
        }
        if (s_.status == PaymentStatus::kRefunded || s_.status == PaymentStatus::kChargedBack) {
          Stale("paid");
          return;
        }
        if (!IsOpen(s_.status) || (s_.expires_at_us != 0 && at > s_.expires_at_us)) {
          s_.late = true;
          Flag("paid_after_expiry",
               absl::StrCat("paid while ", StatusName(s_.status), "; counted, flagged late"));
        }
        Set(PaymentStatus::kPaid, source);
        s_.paid_confirmed = confirming;
        s_.paid_at_us = at;
        s_.paid_amount_minor = observation.amount().amount_minor();
        if (s_.currency.empty()) s_.currency = observation.amount().currency();
        CheckAmount();
        return;
      case pb::OBSERVED_STATUS_REFUNDED:
        if (s_.status == PaymentStatus::kRefunded || s_.status == PaymentStatus::kChargedBack) {
          return;
        }
        if (s_.status != PaymentStatus::kPaid)
          Flag("refund_without_payment", "refund of an unpaid payment");
        Set(PaymentStatus::kRefunded, source);
        s_.refunded_at_us = at;
        return;
      case pb::OBSERVED_STATUS_CHARGED_BACK:
        if (s_.status == PaymentStatus::kChargedBack) return;
        if (!IsSettled(s_.status))
          Flag("chargeback_without_payment", "chargeback of an unpaid payment");
        if (s_.status != PaymentStatus::kRefunded) s_.refunded_at_us = at;
        Set(PaymentStatus::kChargedBack, source);
        return;
      case pb::OBSERVED_STATUS_EXPIRED:
        Close(PaymentStatus::kExpired, source, "expired");
        return;
      case pb::OBSERVED_STATUS_CANCELLED:
        Close(PaymentStatus::kCancelled, source, "cancelled");
        return;
      case pb::OBSERVED_STATUS_REFUSED:
        Close(PaymentStatus::kRefused, source, "refused");
        return;
      default:
        if (observation.carries_no_status()) return;  // "look": a poll says what happened
        Flag("unknown_gateway_status",
             absl::StrCat(gateway, " said \"", observation.gateway_status(), "\""));
        return;
    }
  }

  void Close(PaymentStatus to, const std::string& source, const char* word) {
    if (IsSettled(s_.status)) {
      Stale(word);
      return;
    }
    if (IsOpen(s_.status)) Set(to, source);
  }

  void Stale(const char* word) {
    ++s_.stale_observations;
    Flag(absl::StrCat("stale_", word, "_after_", StatusName(s_.status)),
         absl::StrCat("\"", word, "\" observed after ", StatusName(s_.status), "; ignored"));
  }

  void Set(PaymentStatus to, const std::string& source) {
    s_.status = to;
    s_.status_source = source;
  }

  absl::Status Apply() {
    const std::string& type = e_.type;
    if (!absl::StartsWith(type, kPrefix)) return absl::OkStatus();
    const absl::string_view name = absl::string_view(type).substr(kPrefix.size());
    if (name == "PaymentCreated") {
      auto m = Parse<pb::PaymentCreated>(e_);
      if (!m.ok()) return m.status();
      Created(*m);
    } else if (name == "GatewayWebhookReceived") {
      auto m = Parse<pb::GatewayWebhookReceived>(e_);
      if (!m.ok()) return m.status();
      if (s_.tenant_id.empty()) s_.tenant_id = m->tenant_id();
      Observe(
          m->gateway(), m->observation(),
          m->authenticity() == pb::AUTHENTICITY_SIGNED ? "signed_webhook" : "unverified_webhook");
    } else if (name == "GatewayStatusPolled") {
      auto m = Parse<pb::GatewayStatusPolled>(e_);
      if (!m.ok()) return m.status();
      if (s_.tenant_id.empty()) s_.tenant_id = m->tenant_id();
      if (m->has_observation()) {
        Observe(m->gateway(), m->observation(), "poll");
      } else {
        s_.last_observed_at_us = e_.recorded_at_us;
      }
    } else if (name == "PaymentAbandoned") {
      if (IsOpen(s_.status)) {
        Set(PaymentStatus::kAbandoned, "reactor");
      } else {
        Flag("abandon_after_close", absl::StrCat("abandoned while ", StatusName(s_.status)));
      }
    } else if (name == "DeliveryIssued") {
      if (s_.delivery_state.empty() || s_.delivery_state == "failed") s_.delivery_state = "issued";
    } else if (name == "DeliveryMessageSent") {
      if (s_.delivery_state != "accessed") s_.delivery_state = "sent";
    } else if (name == "DeliveryFailed") {
      ++s_.delivery_attempts;
      if (s_.delivery_state != "sent" && s_.delivery_state != "accessed") {
        s_.delivery_state = "failed";
      }
    } else if (name == "DeliveryAccessed") {
      s_.delivery_state = "accessed";
    } else {
      auto effect = ApplyPurchaseEvent(s_.purchase, e_);
      if (!effect.ok()) return effect.status();
      if (*effect == PurchaseEffect::kSuccessWithoutEventId) {
        Flag("purchase_success_without_event_id",
             "MetaPurchaseSucceeded without an event id or events_received; not counted as sent");
      }
    }
    return absl::OkStatus();
  }

  std::vector<Anomaly> TakeAnomalies() { return std::move(anomalies_); }

 private:
  PaymentState& s_;
  const ledger::RecordedEvent& e_;
  std::vector<Anomaly> anomalies_;
};

}  // namespace

const char* StatusName(PaymentStatus status) {
  switch (status) {
    case PaymentStatus::kUnknown:
      return "unknown";
    case PaymentStatus::kPending:
      return "pending";
    case PaymentStatus::kPaid:
      return "paid";
    case PaymentStatus::kRefunded:
      return "refunded";
    case PaymentStatus::kChargedBack:
      return "charged_back";
    case PaymentStatus::kExpired:
      return "expired";
    case PaymentStatus::kCancelled:
      return "cancelled";
    case PaymentStatus::kRefused:
      return "refused";
    case PaymentStatus::kAbandoned:
      return "abandoned";
  }
  return "unknown";
}

bool IsPaymentStream(const std::string& stream_id) {
  return absl::StartsWith(stream_id, "payment-");
}

absl::StatusOr<std::vector<Anomaly>> ApplyPaymentEvent(PaymentState& state,
                                                       const ledger::RecordedEvent& event) {
  if (state.stream_id.empty()) {
    state.stream_id = event.stream_id;
    state.partition = event.partition;
  }
  Folder folder(state, event);
  if (absl::Status status = folder.Apply(); !status.ok()) return status;
  state.last_position = event.position;
  if (state.first_seen_at_us == 0) state.first_seen_at_us = event.recorded_at_us;
  return folder.TakeAnomalies();
}

}  // namespace tally::projections
