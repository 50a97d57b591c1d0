// Golden tests of the payment state machine: events in, state out, one rule per case.

#include <doctest/doctest.h>

#include "projections/payment_fold.h"
#include "tests/projections/event_builder.h"

namespace tally::projections {
namespace {

namespace pb = payments::v1;
using testing::PaymentEvents;

struct Folded {
  PaymentState state;
  std::vector<std::string> anomalies;
};

Folded Fold(const PaymentEvents& events) {
  Folded out;
  for (const auto& event : events.events()) {
    auto raised = ApplyPaymentEvent(out.state, event);
    REQUIRE_MESSAGE(raised.ok(), raised.status().ToString());
    for (const auto& a : *raised) out.anomalies.push_back(a.kind);
  }
  return out;
}

TEST_CASE("created then signed paid webhook") {
  PaymentEvents e("payment-stripe-pi_1");
  e.Created(1990);
  e.After(30).Webhook("stripe", pb::OBSERVED_STATUS_PAID, 1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.status_source == "signed_webhook");
  CHECK(f.state.paid_confirmed);
  CHECK(f.state.paid_at_us == e.events()[1].recorded_at_us);
  CHECK(f.state.tenant_id == "tenant-1");
  CHECK(f.state.gateway == "stripe");
  CHECK(f.state.gateway_transaction_id == "pi_1");
  CHECK(f.anomalies.empty());
}

TEST_CASE("a webhook before PaymentCreated: paid, then the created facts fill in") {
  PaymentEvents e("payment-pushinpay-abc");
  e.Poll("pushinpay", pb::OBSERVED_STATUS_PAID, 1990);
  e.After(1).Created(1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.status_source == "poll");
  CHECK(f.state.created);
  CHECK(f.state.bot_id == "bot-1");
  CHECK(f.state.amount_minor == 1990);
  CHECK(f.anomalies.empty());
}

TEST_CASE("a webhook before PaymentCreated with a different amount is flagged once created") {
  PaymentEvents e("payment-pushinpay-abd");
  e.Poll("pushinpay", pb::OBSERVED_STATUS_PAID, 990);
  e.After(1).Created(1990);
  Folded f = Fold(e);
  CHECK(f.state.amount_mismatch);
  CHECK(f.anomalies == std::vector<std::string>{"amount_mismatch"});
}

TEST_CASE("a stale pending after paid is ignored and flagged") {
  PaymentEvents e("payment-paradise-t1");
  e.Created(5000);
  e.Webhook("paradise", pb::OBSERVED_STATUS_PAID, 5000, true);
  e.Webhook("paradise", pb::OBSERVED_STATUS_PENDING, 5000, true);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.stale_observations == 1);
  CHECK(f.anomalies == std::vector<std::string>{"stale_pending_after_paid"});
}

TEST_CASE("paid after expiry counts and is flagged late") {
  PaymentEvents e("payment-pushinpay-late");
  e.Created(1990, /*expires_in_s=*/900);
  e.After(1000).Webhook("pushinpay", pb::OBSERVED_STATUS_EXPIRED);
  e.After(60).Poll("pushinpay", pb::OBSERVED_STATUS_PAID, 1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.late);
  CHECK(f.state.paid_confirmed);
  CHECK(f.anomalies == std::vector<std::string>{"paid_after_expiry"});
}

TEST_CASE("paid past the expiry time without an expired observation is flagged late too") {
  PaymentEvents e("payment-pushinpay-late2");
  e.Created(1990, 900);
  e.After(901).Poll("pushinpay", pb::OBSERVED_STATUS_PAID, 1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.late);
}

TEST_CASE("a paid amount different from the created amount is flagged") {
  PaymentEvents e("payment-stripe-pi_amt");
  e.Created(1990);
  e.Webhook("stripe", pb::OBSERVED_STATUS_PAID, 1000);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.paid_amount_minor == 1000);
  CHECK(f.state.amount_mismatch);
  CHECK(f.anomalies == std::vector<std::string>{"amount_mismatch"});
}

TEST_CASE("refund and chargeback after paid") {
  PaymentEvents e("payment-mercadopago-123");
  e.Created(1990);
  e.Webhook("mercadopago", pb::OBSERVED_STATUS_PAID, 1990);
  e.After(86400).Webhook("mercadopago", pb::OBSERVED_STATUS_REFUNDED, 1990);
  Folded refunded = Fold(e);
  CHECK(refunded.state.status == PaymentStatus::kRefunded);
  CHECK(refunded.state.refunded_at_us == e.events()[2].recorded_at_us);
  e.After(86400).Webhook("mercadopago", pb::OBSERVED_STATUS_CHARGED_BACK, 1990);
  Folded charged = Fold(e);
  CHECK(charged.state.status == PaymentStatus::kChargedBack);
  // The money left on the refund day; the chargeback does not move it.
  CHECK(charged.state.refunded_at_us == e.events()[2].recorded_at_us);
  CHECK(charged.anomalies.empty());
}

TEST_CASE("a paid observed after a refund is stale") {
  PaymentEvents e("payment-stripe-pi_r");
  e.Created(1990);
  e.Webhook("stripe", pb::OBSERVED_STATUS_PAID, 1990);
  e.Webhook("stripe", pb::OBSERVED_STATUS_REFUNDED, 1990);
  e.Webhook("stripe", pb::OBSERVED_STATUS_PAID, 1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kRefunded);
  CHECK(f.anomalies == std::vector<std::string>{"stale_paid_after_refunded"});
}

TEST_CASE("duplicate observations change nothing but the count") {
  PaymentEvents e("payment-atomopay-dup");
  e.Created(1990);
  e.Poll("atomopay", pb::OBSERVED_STATUS_PAID, 1990);
  const int64_t paid_at = e.events().back().recorded_at_us;
  e.After(5).Poll("atomopay", pb::OBSERVED_STATUS_PAID, 1990);
  e.After(5).Poll("atomopay", pb::OBSERVED_STATUS_PAID, 1990);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPaid);
  CHECK(f.state.paid_at_us == paid_at);
  CHECK(f.state.observations == 3);
  CHECK(f.anomalies.empty());
}

TEST_CASE("the recorded status decides, never the gateway's word") {
  // Mercado Pago's charged_back after approved.
  PaymentEvents mp("payment-mercadopago-cb");
  mp.Created(1990);
  mp.Webhook("mercadopago", pb::OBSERVED_STATUS_PAID, 1990, true, "approved");
  mp.Webhook("mercadopago", pb::OBSERVED_STATUS_CHARGED_BACK, 1990, true, "charged_back");
  CHECK(Fold(mp).state.status == PaymentStatus::kChargedBack);
  // A word the gateway's vocabulary did not know was recorded without a status: it changes
  // nothing and is flagged, even when the word looks like a known one.
  PaymentEvents odd("payment-paradise-odd");
  odd.Created(1990);
  odd.Webhook("paradise", pb::OBSERVED_STATUS_UNSPECIFIED, 1990, true, "approved");
  Folded f = Fold(odd);
  CHECK(f.state.status == PaymentStatus::kPending);
  CHECK(f.anomalies == std::vector<std::string>{"unknown_gateway_status"});
}

TEST_CASE("a notification that carries no status by design says look, and is no anomaly") {
  // Mercado Pago's webhook names the payment and an action; the poll it triggers decides.
  PaymentEvents e("payment-mercadopago-look");
  e.Created(1990);
  pb::GatewayWebhookReceived look;
  look.set_gateway("mercadopago");
  look.set_tenant_id("tenant-1");
  look.set_authenticity(pb::AUTHENTICITY_SIGNED);
  look.mutable_observation()->set_gateway_status("payment.updated");
  look.mutable_observation()->set_carries_no_status(true);
  e.Event(look);
  Folded looked = Fold(e);
  CHECK(looked.state.status == PaymentStatus::kPending);
  CHECK(looked.anomalies.empty());
  e.Poll("mercadopago", pb::OBSERVED_STATUS_PAID, 1990);
  Folded paid = Fold(e);
  CHECK(paid.state.status == PaymentStatus::kPaid);
  CHECK(paid.state.paid_confirmed);
  CHECK(paid.anomalies.empty());
}

TEST_CASE("an unsigned paid is unconfirmed until a poll confirms it") {
  PaymentEvents e("payment-pushinpay-u1");
  e.Created(1990);
  e.Webhook("pushinpay", pb::OBSERVED_STATUS_PAID, 1990, /*signed_body=*/false);
  Folded before = Fold(e);
  CHECK(before.state.status == PaymentStatus::kPaid);
  CHECK(before.state.status_source == "unverified_webhook");
  CHECK_FALSE(before.state.paid_confirmed);
  e.After(15).Poll("pushinpay", pb::OBSERVED_STATUS_PAID, 1990);
  Folded after = Fold(e);
  CHECK(after.state.paid_confirmed);
  CHECK(after.state.status_source == "poll");
}

TEST_CASE("an unsigned paid that a poll contradicts goes back to pending, flagged") {
  PaymentEvents e("payment-atomopay-forged");
  e.Created(1990);
  e.Webhook("atomopay", pb::OBSERVED_STATUS_PAID, 1990, false);
  e.After(15).Poll("atomopay", pb::OBSERVED_STATUS_PENDING);
  Folded f = Fold(e);
  CHECK(f.state.status == PaymentStatus::kPending);
  CHECK(f.state.paid_at_us == 0);
  CHECK(f.anomalies == std::vector<std::string>{"unconfirmed_paid_contradicted"});
}

TEST_CASE("delivery and purchase state") {
  PaymentEvents e("payment-stripe-pi_d");
  e.Created(1990);
  e.Webhook("stripe", pb::OBSERVED_STATUS_PAID, 1990);
  e.Event(pb::DeliveryIssued());
  pb::DeliveryFailed failed;
  failed.set_attempt(1);
  e.Event(failed);
  e.Event(pb::DeliveryMessageSent());
  e.Event(pb::DeliveryAccessed());
  pb::MetaPurchaseSucceeded ok;
  ok.set_event_id("pv-123");
  ok.set_events_received(1);
  e.Event(ok);
  Folded f = Fold(e);
  CHECK(f.state.delivery_state == "accessed");
  CHECK(f.state.delivery_attempts == 1);
  CHECK(f.state.purchase.sent);
  CHECK(f.state.purchase.meta_event_id == "pv-123");
}

TEST_CASE("a payload that does not parse stops the fold with DataLoss") {
  PaymentEvents e("payment-stripe-pi_bad");
  ledger::RecordedEvent bad = e.Created(1990);
  bad.payload = "\xff\xff\xff";
  PaymentState state;
  CHECK(ApplyPaymentEvent(state, bad).status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tally::projections
