// Durable timers on real PostgreSQL: timers folded from their Scheduled events fire once each,
// in due order, when their time comes on the injected clock; a cancelled timer never fires; a
// worker wakes early for an earlier timer; and after every process stopped and the clock moved
// past their due times, a new worker fires every overdue timer exactly once, oldest first.

#include "reactors/timers.h"

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr int64_t kSecond = 1'000'000;

class ManualClock final : public ledger::Clock {
 public:
  explicit ManualClock(int64_t now) : now_(now) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Advance(int64_t us) { now_ += us; }

 private:
  std::atomic<int64_t> now_;
};

// A timer kind on the upsell events: firing appends UpsellSent (or UpsellCancelled for the
// timers a test marks), keyed by the timer's identity, and records the order of firing.
struct RecordingKind {
  ledger::EventStore* store = nullptr;
  std::mutex mu;
  std::vector<std::string> fired;  // timer ids, in firing order
  std::map<std::string, int> calls;
  std::set<std::string> failing;  // timer ids whose firing fails
  TimerKind kind;

  RecordingKind() {
    kind.name = "test_upsell";
    kind.scheduled_type = "tally.payments.v1.UpsellScheduled";
    kind.ended_types = {"tally.payments.v1.UpsellSent", "tally.payments.v1.UpsellCancelled"};
    kind.read = [](const ledger::RecordedEvent& e) -> absl::StatusOr<TimerEvent> {
      TimerEvent out;
      if (e.type == "tally.payments.v1.UpsellScheduled") {
        pb::UpsellScheduled m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellScheduled");
        out.type = TimerEvent::Type::kScheduled;
        out.timer_id = absl::StrCat(e.stream_id, ":", m.offer_id());
        out.due_at_us = m.due_at_us();
        out.tenant_id = "tenant-1";
      } else if (e.type == "tally.payments.v1.UpsellSent") {
        pb::UpsellSent m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellSent");
        out.type = TimerEvent::Type::kEnded;
        out.timer_id = absl::StrCat(e.stream_id, ":", m.offer_id());
      } else {
        pb::UpsellCancelled m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellCancelled");
        out.type = TimerEvent::Type::kEnded;
        out.cancelled = true;
        out.timer_id = absl::StrCat(e.stream_id, ":", m.offer_id());
      }
      return out;
    };
    kind.fire = [this](const TimerItem& item) -> absl::Status {
      pb::UpsellScheduled scheduled;
      if (!scheduled.ParseFromString(item.request)) return absl::DataLossError("request");
      {
        std::lock_guard<std::mutex> lock(mu);
        if (failing.count(item.timer_id)) {
          ++calls[item.timer_id];
          return absl::UnavailableError("the service is down");
        }
        if (++calls[item.timer_id] == 1) fired.push_back(item.timer_id);
      }
      pb::UpsellSent sent;
      sent.set_offer_id(scheduled.offer_id());
      return store
          ->Append({item.tenant_id,
                    item.stream_id,
                    ledger::ExpectedVersion::Any(),
                    {{"tally.payments.v1.UpsellSent", sent.SerializeAsString(), ""}},
                    absl::StrCat("upsell-fired:", item.timer_id)})
          .status();
    };
  }
};

void Schedule(ledger::EventStore& store, const std::string& stream, const std::string& offer,
              int64_t due_at_us) {
  pb::UpsellScheduled m;
  m.set_offer_id(offer);
  m.set_due_at_us(due_at_us);
  auto r = store.Append({"tenant-1",
                         stream,
                         ledger::ExpectedVersion::Any(),
                         {{"tally.payments.v1.UpsellScheduled", m.SerializeAsString(), ""}},
                         absl::StrCat("upsell:", stream, ":", offer)});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}

void Cancel(ledger::EventStore& store, const std::string& stream, const std::string& offer) {
  pb::UpsellCancelled m;
  m.set_offer_id(offer);
  m.set_reason("parent refunded");
  auto r = store.Append({"tenant-1",
                         stream,
                         ledger::ExpectedVersion::Any(),
                         {{"tally.payments.v1.UpsellCancelled", m.SerializeAsString(), ""}},
                         absl::StrCat("upsell-cancelled:", stream, ":", offer)});
  REQUIRE(r.ok());
}

// The fold and the worker of one process.
struct Process {
  std::unique_ptr<TimerFold> fold;
  std::unique_ptr<TimerWorker> worker;
  std::unique_ptr<ReactorRunner> runner;

  Process(const std::string& url, RecordingKind& kind, const ledger::Clock& clock) {
    TimerWorkerOptions options;
    options.database_url = url;
    // Long: the tests pass only if the worker is woken (by the fold, or after the clock
    // moved), never because it happened to poll.
    options.poll_interval = 30s;
    options.fire_per_second = 5000;
    worker =
        std::make_unique<TimerWorker>(std::vector<const TimerKind*>{&kind.kind}, clock, options);
    fold = std::make_unique<TimerFold>(std::vector<const TimerKind*>{&kind.kind},
                                       [this] { worker->Wake(); });
    ReactorRunnerOptions runner_options;
    runner_options.database_url = url;
    runner_options.poll_interval = 100ms;
    runner = std::make_unique<ReactorRunner>(*fold, runner_options);
    runner->Start();
    worker->Start();
  }
  ~Process() {
    worker->Stop();
    runner->Stop();
  }
};

int64_t Count(const std::string& url, const std::string& where) {
  pqxx::connection c(url);
  pqxx::read_transaction txn(c);
  return txn.exec("SELECT count(*) FROM timers WHERE " + where)[0][0].as<int64_t>();
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST_CASE("timers fire once each when due, in due order, and a cancelled one never fires") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  const int64_t t0 = 1'800'000'000LL * kSecond;
  ManualClock clock(t0);
  RecordingKind kind;
  kind.store = store.get();
  Process process(db->url(), kind, clock);
  // Due in 10 s, 20 s, 30 s; one cancelled before its time.
  Schedule(*store, "payment-a", "o1", t0 + 30 * kSecond);
  Schedule(*store, "payment-b", "o1", t0 + 10 * kSecond);
  Schedule(*store, "payment-c", "o1", t0 + 20 * kSecond);
  Schedule(*store, "payment-d", "o1", t0 + 15 * kSecond);
  Cancel(*store, "payment-d", "o1");
  REQUIRE(WaitUntil([&] { return Count(db->url(), "true") == 4; }, 10s));
  std::this_thread::sleep_for(300ms);
  CHECK(kind.fired.empty());  // nothing is due yet
  clock.Advance(25 * kSecond);
  process.worker->Wake();
  REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == 2; }, 10s));
  clock.Advance(10 * kSecond);
  process.worker->Wake();
  REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == 3; }, 10s));
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lock(kind.mu);
  CHECK(kind.fired == std::vector<std::string>{"payment-b:o1", "payment-c:o1", "payment-a:o1"});
  for (const auto& [id, n] : kind.calls) CHECK_MESSAGE(n == 1, id);
  CHECK(Count(db->url(), "state = 'cancelled'") == 1);
}

TEST_CASE("after a full stop, every overdue timer fires exactly once at restart, oldest first") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  const int64_t t0 = 1'800'000'000LL * kSecond;
  ManualClock clock(t0);
  constexpr int kTimers = 500;
  {
    RecordingKind kind;
    kind.store = store.get();
    Process process(db->url(), kind, clock);
    for (int i = 0; i < kTimers; ++i) {
      // Due between 60 s and 120 s from now, scheduled in no particular order.
      Schedule(*store, absl::StrCat("payment-", i), "upsell",
               t0 + 60 * kSecond + ((i * 7919) % kTimers) * 120'000);
    }
    REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'scheduled'") == kTimers; }, 30s));
    CHECK(kind.fired.empty());
  }                                  // every process stops
  clock.Advance(10 * 60 * kSecond);  // the downtime: all of them are overdue
  RecordingKind kind;
  kind.store = store.get();
  {
    Process process(db->url(), kind, clock);
    REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == kTimers; }, 60s));
    std::this_thread::sleep_for(300ms);
  }
  // A second restart fires nothing again.
  RecordingKind again;
  again.store = store.get();
  {
    Process process(db->url(), again, clock);
    std::this_thread::sleep_for(500ms);
  }
  CHECK(again.fired.empty());
  REQUIRE(kind.fired.size() == kTimers);
  for (const auto& [id, n] : kind.calls) CHECK_MESSAGE(n == 1, id);
  // Oldest due first.
  std::vector<int64_t> due_order;
  for (const std::string& id : kind.fired) {
    const int i = std::stoi(id.substr(std::string("payment-").size()));
    due_order.push_back((i * 7919) % kTimers);
  }
  CHECK(std::is_sorted(due_order.begin(), due_order.end()));
}

TEST_CASE("a worker asleep until a far timer wakes for an earlier one") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  ManualClock clock(1'800'000'000LL * kSecond);
  RecordingKind kind;
  kind.store = store.get();
  Process process(db->url(), kind, clock);
  Schedule(*store, "payment-far", "o", clock.NowMicros() + 3600 * kSecond);
  REQUIRE(WaitUntil([&] { return Count(db->url(), "true") == 1; }, 10s));
  // Already due when scheduled: fired at once, not at the next poll of a sleeping worker.
  Schedule(*store, "payment-now", "o", clock.NowMicros() - kSecond);
  CHECK(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == 1; }, 5s));
  std::lock_guard<std::mutex> lock(kind.mu);
  CHECK(kind.fired == std::vector<std::string>{"payment-now:o"});
}

TEST_CASE("timers that keep failing hold back none behind them, and are retried") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  ManualClock clock(1'800'000'000LL * kSecond);
  RecordingKind kind;
  kind.store = store.get();
  // 250 failing timers due first: more than a page of the due list.
  for (int i = 0; i < 250; ++i) {
    Schedule(*store, absl::StrCat("payment-stuck-", i), "o", clock.NowMicros() - 100 * kSecond + i);
    kind.failing.insert(absl::StrCat("payment-stuck-", i, ":o"));
  }
  Schedule(*store, "payment-behind", "o", clock.NowMicros() - kSecond);
  Process process(db->url(), kind, clock);
  REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == 1; }, 30s));
  {
    std::lock_guard<std::mutex> lock(kind.mu);
    CHECK(kind.fired == std::vector<std::string>{"payment-behind:o"});
    kind.failing.clear();  // the service is back
  }
  clock.Advance(60 * kSecond);  // past the first retry
  process.worker->Wake();
  REQUIRE(WaitUntil([&] { return Count(db->url(), "state = 'fired'") == 251; }, 30s));
  std::lock_guard<std::mutex> lock(kind.mu);
  CHECK(kind.calls["payment-stuck-0:o"] == 2);  // failed once, then fired
}

}  // namespace
}  // namespace tally::reactors
