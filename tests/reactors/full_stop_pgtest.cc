// A full stop loses no reactor work (issue 9). Payments are paid and their webhooks
// acknowledged while no process runs the reactors; every process is stopped (SIGTERM); a
// process started with the reactors role then confirms, delivers and reports every one of them.
// And a SIGTERM in the middle of the reactors' work records the outcome of every call in
// flight: the restart finishes the work and nothing is sent twice.

#include <doctest/doctest.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "tests/reactors/serve_harness.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kBotToken[] = "7201:AAHcrashtestfullstop";
constexpr char kBotId[] = "7201";
constexpr int kPayments = 300;
constexpr int64_t kFirstChat = 700000;

BotSpec SellingBot() {
  BotSpec bot;
  bot.token = kBotToken;
  bot.pixel_id = "990001";
  bot.meta_trigger = "paid";
  return bot;
}

std::vector<ChargeSpec> Charges() {
  std::vector<ChargeSpec> charges;
  for (int i = 0; i < kPayments; ++i) {
    // One in ten through PushinPay: unsigned, so confirming it is reactor work too (a poll).
    charges.push_back(
        {i % 10 == 9 ? "pushinpay" : "stripe", kBotId, absl::StrCat("tg:", kFirstChat + i)});
  }
  return charges;
}

reactors::ReactorPartitionStatus Outbox(ServeHarness& h, const std::string& kind) {
  for (const auto& s : h.Status()) {
    if (s.reactor == "outbox:" + kind) return s;
  }
  return {};
}

// Every payment confirmed, delivered once, its message received exactly once, its Purchase
// sent once and counted once by Meta; nothing unresolved.
void CheckEverythingDoneOnce(ServeHarness& h, const std::vector<Payment>& payments) {
  h.WaitQuiet(120s, [&] {
    return Outbox(h, "delivery").done == kPayments && Outbox(h, "meta_purchase").done == kPayments;
  });
  auto streams = h.Streams();
  const std::map<int64_t, int> messages = h.TelegramMessagesPerChat();
  int confirmed = 0, done_once = 0, lost = 0;
  std::string first_wrong;
  for (const Payment& p : payments) {
    const auto& events = streams[p.stream_id];
    projections::PaymentState state;
    for (const auto& e : events) REQUIRE(projections::ApplyPaymentEvent(state, e).ok());
    int64_t chat = 0;
    REQUIRE(absl::SimpleAtoi(p.customer_id.substr(3), &chat));
    auto received = messages.find(chat);
    confirmed += state.status == projections::PaymentStatus::kPaid && state.paid_confirmed;
    const bool once = CountOf(events, "tally.payments.v1.DeliveryIssued") == 1 &&
                      CountOf(events, "tally.payments.v1.DeliveryMessageSent") == 1 &&
                      received != messages.end() && received->second == 1 &&
                      CountOf(events, "tally.payments.v1.MetaPurchaseSucceeded") == 1 &&
                      state.purchase.sent;
    done_once += once;
    lost += LostAttempts(events, "Delivery") + LostAttempts(events, "MetaPurchase");
    if (!once && first_wrong.empty()) {
      first_wrong = absl::StrCat(p.stream_id, ": ", events.size(), " events, ",
                                 received == messages.end() ? 0 : received->second, " messages");
    }
  }
  INFO("first payment not done exactly once: ", first_wrong);
  CHECK(confirmed == kPayments);
  CHECK(done_once == kPayments);
  CHECK(messages.size() == static_cast<size_t>(kPayments));
  CHECK(lost == 0);
  const ServeHarness::MetaEvents meta = h.MetaEventsReceived();
  CHECK(meta.unique == kPayments);
  CHECK(meta.raw_receipts == kPayments);
  CHECK(Outbox(h, "delivery").unresolved_attempts == 0);
  CHECK(Outbox(h, "meta_purchase").unresolved_attempts == 0);
}

TEST_CASE("a full stop before the reactors acted loses no reactor work") {
  ServeHarness h({SellingBot()});
  h.StartHttp("http,projections");
  ServeHarness::Charged charged = h.ChargeAndPay(Charges());
  INFO(charged.errors.size(),
       " charges failed; the first: ", charged.errors.empty() ? "" : charged.errors[0]);
  REQUIRE(charged.errors.empty());
  h.WaitWebhooksAcknowledged(charged.payments);
  h.StopHttp();

  // Nothing acted on them yet: no reactor ran, no decision, no poll is in the log.
  CHECK(h.Status().empty());
  int decisions = 0;
  for (const auto& [stream, events] : h.Streams()) {
    decisions += CountOf(events, "tally.payments.v1.DeliveryIssued") +
                 CountOf(events, "tally.payments.v1.MetaPurchaseRequested") +
                 CountOf(events, "tally.payments.v1.GatewayStatusPolled");
  }
  REQUIRE(decisions == 0);
  CHECK(h.TelegramMessagesPerChat().empty());

  h.StartHttp("http,projections,reactors");
  CheckEverythingDoneOnce(h, charged.payments);
  h.StopHttp();
}

TEST_CASE(
    "SIGTERM while the reactors deliver: the outcome of every call in flight is recorded, the "
    "restart finishes, nothing is sent twice") {
  ServeHarness h({SellingBot()});
  h.StartHttp("http,projections");
  h.StartReactors("reactors");
  ServeHarness::Charged charged = h.ChargeAndPay(Charges());
  INFO(charged.errors.size(),
       " charges failed; the first: ", charged.errors.empty() ? "" : charged.errors[0]);
  REQUIRE(charged.errors.empty());
  h.WaitWebhooksAcknowledged(charged.payments);
  // Stop once a third of the buyers have their message: the sender is in full flow.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (h.TelegramMessagesPerChat().size() < kPayments / 3 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(h.TelegramMessagesPerChat().size() >= kPayments / 3);
  h.StopReactors();

  // Stopped mid-work, every attempt made has its outcome in the log.
  const size_t delivered_before_restart = h.TelegramMessagesPerChat().size();
  CHECK(delivered_before_restart < static_cast<size_t>(kPayments));
  int lost = 0;
  for (const auto& [stream, events] : h.Streams()) {
    lost += LostAttempts(events, "Delivery") + LostAttempts(events, "MetaPurchase");
  }
  CHECK(lost == 0);

  h.StartReactors("reactors");
  CheckEverythingDoneOnce(h, charged.payments);
  MESSAGE(delivered_before_restart, " of ", kPayments,
          " delivered before SIGTERM, the rest after the restart");
}

}  // namespace
}  // namespace tally::testing
