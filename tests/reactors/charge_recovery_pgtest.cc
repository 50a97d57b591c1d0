// No orphan charges (issue 9, seed 001): a charge whose gateway answer was lost and that the
// client never retried is settled by the charge reconciler — found by our reference and
// recorded once (Stripe), or listed for the operator when the gateway cannot be asked
// (PushinPay) — and an operator's retry looks again.

#include <doctest/doctest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/reactors/serve_harness.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;
namespace pb = payments::v1;

constexpr char kBotToken[] = "7301:AAHchargerecovery";
constexpr char kBotId[] = "7301";

int CountIn(const std::vector<ledger::RecordedEvent>& events, const std::string& type) {
  int n = 0;
  for (const auto& e : events) n += e.type == type;
  return n;
}

TEST_CASE(
    "lost charge answers nobody retried: found and recorded once, or listed for the operator") {
  sandbox::Faults faults;
  faults.create_answer_lost_rate = 1;
  faults.create_answer_lost_ms = 1500;
  ServeHarness h({{kBotToken, ""}}, faults);
  h.StartHttp("http,projections", {"--gateway-timeout-ms", "500"});
  h.StartReactors("reactors", {"--gateway-timeout-ms", "500", "--charge-settle-after-ms", "2500"});

  // Each create call times out (504) after the gateway made the charge; nobody retries.
  std::map<std::string, std::string> gateway_of;  // payment id -> gateway
  for (int i = 0; i < 5; ++i) {
    const std::string gateway = i < 3 ? "stripe" : "pushinpay";
    ChargeSpec spec{gateway, kBotId, absl::StrCat("tg:", 880000 + i)};
    auto answer = h.CreateCharge(spec, absl::StrCat("lost-", i));
    CHECK_MESSAGE(answer.status == 504, answer.body);
  }
  for (const auto& [stream, events] : h.Streams()) {
    if (!absl::StartsWith(stream, "charge-")) continue;
    pb::ChargeRequested intent;
    REQUIRE(intent.ParseFromString(events.front().payload));
    gateway_of[intent.payment_id()] = intent.gateway();
  }
  REQUIRE(gateway_of.size() == 5);

  // The reconciler looks once the calls have certainly ended, and settles every intent.
  auto intents_settled = [&] {
    for (const auto& s : h.Status()) {
      if (s.reactor == "charge_intents" && s.backlog > 0) return false;
    }
    int settled = 0;
    for (const auto& [stream, events] : h.Streams()) {
      if (absl::StartsWith(stream, "charge-")) {
        settled += CountIn(events, "tally.payments.v1.ChargeUnresolved");
      } else {
        settled += CountIn(events, "tally.payments.v1.PaymentCreated");
      }
    }
    return settled == 5;
  };
  h.WaitQuiet(60s, intents_settled);

  auto streams = h.Streams();
  for (const auto& [payment_id, gateway] : gateway_of) {
    CAPTURE(payment_id);
    CAPTURE(gateway);
    // Whatever happens, the gateway holds exactly the one charge the lost call made.
    if (gateway == "stripe") CHECK(h.ChargesAtGateways(payment_id) == 1);
    int recorded = 0;
    std::string actor;
    for (const auto& [stream, events] : streams) {
      for (const auto& e : events) {
        if (e.type != "tally.payments.v1.PaymentCreated") continue;
        pb::PaymentCreated p;
        REQUIRE(p.ParseFromString(e.payload));
        if (p.payment_id() != payment_id) continue;
        ++recorded;
        ledger::v1::Metadata m;
        REQUIRE(m.ParseFromString(e.metadata));
        actor = m.actor();
        CHECK(!p.gateway_transaction_id().empty());
        CHECK(p.amount().amount_minor() == 1990);
        CHECK(p.bot_id() == kBotId);
        CHECK(p.product_id() == "vip");
      }
    }
    const auto& intent_events = streams["charge-" + payment_id];
    if (gateway == "stripe") {
      CHECK(recorded == 1);
      CHECK(actor == "charge_reconciler");
      CHECK(CountIn(intent_events, "tally.payments.v1.ChargeUnresolved") == 0);
    } else {
      CHECK(recorded == 0);
      REQUIRE(CountIn(intent_events, "tally.payments.v1.ChargeUnresolved") == 1);
      pb::ChargeUnresolved u;
      REQUIRE(u.ParseFromString(intent_events.back().payload));
      CHECK(u.reason() == pb::ChargeUnresolved::REASON_CANNOT_LOOK_UP);
    }
  }

  // The operator sees the two PushinPay charges nobody can settle, and may ask again.
  CommandResult parked = h.Tally("reactors parked --reactor charge_intents");
  CHECK(parked.exit_code == 0);
  int listed = 0;
  std::string pushinpay_id;
  for (const auto& [payment_id, gateway] : gateway_of) {
    if (gateway != "pushinpay") continue;
    pushinpay_id = payment_id;
    listed += absl::StrContains(parked.output, "charge-" + payment_id);
  }
  CHECK_MESSAGE(listed == 2, parked.output);
  CHECK(absl::StrContains(parked.output, "cannot_look_up"));
  CommandResult retry = h.Tally("reactors retry charge-" + pushinpay_id + " --reason checked");
  CHECK_MESSAGE(retry.exit_code == 0, retry.output);
  h.WaitQuiet(60s, [&] {
    return CountIn(h.Streams()["charge-" + pushinpay_id], "tally.payments.v1.ChargeUnresolved") ==
           2;
  });

  // A late client retry of a recovered Stripe charge replays the recorded payment.
  auto retried = h.CreateCharge({"stripe", kBotId, "tg:880000"}, "lost-0");
  CHECK_MESSAGE(retried.status == 200, retried.body);
  for (const auto& [payment_id, gateway] : gateway_of) {
    if (gateway == "stripe") CHECK(h.ChargesAtGateways(payment_id) == 1);
  }
  CHECK(h.ChargesAt("stripe") == 3);
  CHECK(h.ChargesAt("pushinpay") == 2);
  h.StopReactors();
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
