// Stale pending charges (issue 10, seed 003's cleanup done continuously) on real PostgreSQL with
// an injected clock: every payment still open 7 days after Tally first saw it ends as
// PaymentAbandoned{reason "stale"} exactly once — with or without an expiry, whatever its first
// event — and a payment settled before then is left alone.

#include "reactors/stale_payments.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "reactors/reactor.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr int64_t kDay = 24LL * 3600 * 1'000'000;
constexpr char kTenant[] = "tenant-stale";

class ManualClock final : public ledger::Clock {
 public:
  explicit ManualClock(int64_t now) : now_(now) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Advance(int64_t us) { now_ += us; }

 private:
  std::atomic<int64_t> now_;
};

struct Rig {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  // Now, as the log records it: due times derive from the events' recorded times.
  ManualClock clock{ledger::SystemClock().NowMicros()};
  StalePaymentTimers timers{*store, clock};
  std::unique_ptr<TimerWorker> worker;
  std::unique_ptr<TimerFold> fold;
  std::unique_ptr<ReactorRunner> runner;

  void Start() {
    TimerWorkerOptions options;
    options.database_url = db->url();
    options.poll_interval = 30s;  // woken, never polled
    options.fire_per_second = 5000;
    worker = std::make_unique<TimerWorker>(std::vector<const TimerKind*>{&timers.kind()}, clock,
                                           options);
    fold = std::make_unique<TimerFold>(std::vector<const TimerKind*>{&timers.kind()},
                                       [this] { worker->Wake(); });
    ReactorRunnerOptions runner_options;
    runner_options.database_url = db->url();
    runner_options.poll_interval = 100ms;
    runner = std::make_unique<ReactorRunner>(*fold, runner_options);
    runner->Start();
    worker->Start();
  }
  void StopWorker() {
    if (worker) worker->Stop();
  }
  ~Rig() {
    StopWorker();
    if (runner) runner->Stop();
  }

  void Created(const std::string& txid, int64_t expires_in_days = 0) {
    pb::PaymentCreated m;
    m.set_tenant_id(kTenant);
    m.set_bot_id("7601");
    m.set_customer_id("tg:1");
    m.set_product_id("vip");
    m.mutable_amount()->set_amount_minor(1990);
    m.mutable_amount()->set_currency("BRL");
    m.set_gateway("stripe");
    m.set_gateway_transaction_id(txid);
    m.set_payment_id("pay_" + txid);
    if (expires_in_days > 0) {
      m.set_expires_at_s(clock.NowMicros() / 1'000'000 + expires_in_days * 86400);
    }
    m.mutable_observation()->set_status(pb::OBSERVED_STATUS_PENDING);
    Append(txid, "tally.payments.v1.PaymentCreated", m.SerializeAsString());
  }
  void Observed(const std::string& txid, pb::ObservedStatus status, bool signed_body = true) {
    pb::GatewayWebhookReceived m;
    m.set_gateway("stripe");
    m.set_tenant_id(kTenant);
    m.set_authenticity(signed_body ? pb::AUTHENTICITY_SIGNED : pb::AUTHENTICITY_UNVERIFIED);
    m.mutable_observation()->set_status(status);
    m.mutable_observation()->mutable_amount()->set_amount_minor(1990);
    m.mutable_observation()->mutable_amount()->set_currency("BRL");
    Append(txid, "tally.payments.v1.GatewayWebhookReceived", m.SerializeAsString());
  }
  void Abandoned(const std::string& txid, const std::string& reason) {
    pb::PaymentAbandoned m;
    m.set_reason(reason);
    Append(txid, "tally.payments.v1.PaymentAbandoned", m.SerializeAsString());
  }
  void Append(const std::string& txid, const std::string& type, const std::string& payload) {
    auto r = store->Append({kTenant,
                            "payment-stripe-" + txid,
                            ledger::ExpectedVersion::Any(),
                            {{type, payload, ""}},
                            ""});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }

  // The reasons of the stream's PaymentAbandoned events, in order, joined by ','.
  std::string Abandonments(const std::string& txid) {
    auto events = store->ReadStream(kTenant, "payment-stripe-" + txid);
    REQUIRE(events.ok());
    std::string out;
    for (const auto& e : *events) {
      if (e.type != "tally.payments.v1.PaymentAbandoned") continue;
      pb::PaymentAbandoned m;
      REQUIRE(m.ParseFromString(e.payload));
      out += (out.empty() ? "" : ",") + m.reason();
    }
    return out;
  }
  projections::PaymentState State(const std::string& txid) {
    auto events = store->ReadStream(kTenant, "payment-stripe-" + txid);
    REQUIRE(events.ok());
    projections::PaymentState state;
    for (const auto& e : *events) REQUIRE(projections::ApplyPaymentEvent(state, e).ok());
    return state;
  }
  int64_t Timers(const std::string& where) {
    pqxx::connection c(db->url());
    pqxx::read_transaction txn(c);
    return txn.exec("SELECT count(*) FROM timers WHERE kind = 'stale_payment' AND " + where)[0][0]
        .as<int64_t>();
  }
};

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST_CASE("pending charges older than 7 days end as PaymentAbandoned stale, exactly once") {
  Rig rig;
  rig.Start();
  rig.Created("open");     // pending, no expiry
  rig.Created("far", 30);  // pending, the gateway said it expires in 30 days
  rig.Created("paid");     // settled by a signed webhook
  rig.Observed("paid", pb::OBSERVED_STATUS_PAID);
  rig.Observed("early", pb::OBSERVED_STATUS_PAID);  // the paid webhook beat PaymentCreated
  rig.Created("early");
  rig.Created("unsigned");  // an unsigned "paid" nobody confirmed
  rig.Observed("unsigned", pb::OBSERVED_STATUS_PAID, /*signed_body=*/false);
  rig.Created("expired");  // the poller abandoned it at its expiry
  rig.Abandoned("expired", "expired");
  rig.Observed("orphan", pb::OBSERVED_STATUS_PENDING, /*signed_body=*/false);  // no PaymentCreated

  // One timer per payment first seen open; those settled since are ended.
  REQUIRE(WaitUntil([&] { return rig.Timers("true") == 6; }, 30s));
  REQUIRE(WaitUntil([&] { return rig.Timers("state = 'cancelled'") == 1; }, 30s));
  CHECK(rig.Timers("state = 'fired'") == 1);  // "expired": any abandonment ends it
  CHECK(rig.Timers("state = 'scheduled'") == 4);

  // Due 7 days after each was first seen: not after 6.
  rig.clock.Advance(6 * kDay);
  CHECK(rig.Timers(absl::StrCat("state = 'scheduled' AND due_at_us <= ", rig.clock.NowMicros())) ==
        0);
  CHECK(rig.Timers(absl::StrCat("state = 'scheduled' AND due_at_us <= ",
                                rig.clock.NowMicros() + kDay + 60'000'000)) == 4);
  rig.clock.Advance(kDay + 60'000'000);
  rig.worker->Wake();
  REQUIRE(WaitUntil([&] { return rig.Timers("state = 'scheduled'") == 0; }, 30s));
  for (const char* txid : {"open", "far", "unsigned", "orphan"}) {
    CHECK_MESSAGE(rig.Abandonments(txid) == "stale", txid);
  }
  for (const char* txid : {"paid", "early"}) CHECK_MESSAGE(rig.Abandonments(txid).empty(), txid);
  CHECK(rig.Abandonments("expired") == "expired");
  CHECK(rig.State("open").status == projections::PaymentStatus::kAbandoned);
  // The unconfirmed paid keeps its status (a later confirmation still counts), flagged.
  CHECK(rig.State("unsigned").status == projections::PaymentStatus::kPaid);

  // Fired again (a crash before the fold, a standby taking over): nothing new.
  TimerItem item;
  item.kind = "stale_payment";
  item.timer_id = item.stream_id = "payment-stripe-open";
  item.tenant_id = kTenant;
  item.partition = 0;
  REQUIRE(rig.timers.kind().fire(item).ok());
  CHECK(rig.Abandonments("open") == "stale");

  // A paid webhook after the abandonment is not lost: the payment counts as paid, flagged late.
  rig.Observed("open", pb::OBSERVED_STATUS_PAID);
  const projections::PaymentState late = rig.State("open");
  CHECK(late.status == projections::PaymentStatus::kPaid);
  CHECK(late.late);
  CHECK(late.paid_confirmed);
}

}  // namespace
}  // namespace tally::reactors
