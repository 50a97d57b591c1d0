// Jobs (reactors/job_control.h) on real PostgreSQL, in one process: a pause recorded while a
// reactor follows the log stops its checkpoint where it is, and a resume lets it handle what
// accumulated, once each, in order; a paused timer kind does not fire while other kinds do,
// and fires once on resume; the jobs stream folds into who paused what and when; a JobControl
// that has not read the stream yet holds every job.

#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "reactors/job_control.h"
#include "reactors/job_status.h"
#include "reactors/reactor.h"
#include "reactors/timers.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

using namespace std::chrono_literals;

// Remembers the streams of the "work-" events it is handed, in order.
class Recorder final : public Reactor {
 public:
  std::string name() const override { return "recorder"; }
  absl::Status React(pqxx::transaction_base&, const ledger::RecordedEvent& event) override {
    if (!absl::StartsWith(event.stream_id, "work-")) return absl::OkStatus();
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(event.stream_id);
    return absl::OkStatus();
  }
  std::vector<std::string> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
};

int64_t AppendWork(ledger::EventStore& store, const std::string& stream) {
  auto r = store.Append(testing::Request("tenant-1", stream, ledger::ExpectedVersion::Any(),
                                         {testing::PaymentCreatedEvent(stream)}));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return r->positions[0];
}

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

ledger::v1::Metadata Admin(const std::string& key_id) {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  metadata.set_actor(key_id);
  return metadata;
}

TEST_CASE("a paused reactor keeps its checkpoint, and on resume handles what waited, in order") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  JobControl control(*store, {db->url()});
  // Nothing read yet: every job waits.
  CHECK(control.Paused("recorder"));
  REQUIRE(control.Refresh().ok());
  CHECK_FALSE(control.Paused("recorder"));

  Recorder recorder;
  ReactorRunnerOptions options;
  options.database_url = db->url();
  options.poll_interval = 50ms;
  options.retry_interval = 50ms;
  options.jobs = &control;
  ReactorRunner runner(recorder, options);
  AppendWork(*store, "work-1");
  AppendWork(*store, "work-2");
  runner.Start();
  REQUIRE(WaitFor([&] { return recorder.seen().size() == 2; }));

  auto paused = RecordJobCommand(*store, "recorder", JobCommand::kPause, "deploy", Admin("key_a"));
  REQUIRE(paused.ok());
  CHECK(*paused);
  auto again = RecordJobCommand(*store, "recorder", JobCommand::kPause, "", Admin("key_b"));
  REQUIRE(again.ok());
  CHECK_FALSE(*again);  // already paused: nothing appended
  REQUIRE(control.Refresh().ok());
  REQUIRE(control.Paused("recorder"));
  CHECK_FALSE(control.Paused("other"));

  const int64_t third = AppendWork(*store, "work-3");
  AppendWork(*store, "work-4");
  // The runner was handed the batch and answered Wait: it stays before work-3.
  REQUIRE(WaitFor([&] { return runner.state() == ledger::LogFollower::State::kWaiting; }));
  CHECK(runner.position() < third);
  CHECK(recorder.seen().size() == 2);

  auto resumed = RecordJobCommand(*store, "recorder", JobCommand::kResume, "", Admin("key_b"));
  REQUIRE(resumed.ok());
  CHECK(*resumed);
  REQUIRE(control.Refresh().ok());
  CHECK_FALSE(control.Paused("recorder"));
  REQUIRE(WaitFor([&] { return recorder.seen().size() >= 4; }));
  const int64_t fifth = AppendWork(*store, "work-5");
  REQUIRE(WaitFor([&] { return runner.position() >= fifth; }));
  runner.Stop();
  CHECK(recorder.seen() ==
        std::vector<std::string>{"work-1", "work-2", "work-3", "work-4", "work-5"});
}

// A timer kind whose timers are due when scheduled (`scheduled_type` events, whatever their
// payload), ended by `ended_type` events its firing appends; counts its firings per timer.
struct CountingKind {
  ledger::EventStore* store = nullptr;
  std::mutex mu;
  std::map<std::string, int> fired;
  TimerKind kind;

  CountingKind(const std::string& name, const std::string& scheduled_type,
               const std::string& ended_type, const std::string& ended_payload) {
    kind.name = name;
    kind.scheduled_type = scheduled_type;
    kind.ended_types = {ended_type};
    kind.read = [scheduled_type](const ledger::RecordedEvent& e) -> absl::StatusOr<TimerEvent> {
      TimerEvent out;
      out.type = e.type == scheduled_type ? TimerEvent::Type::kScheduled : TimerEvent::Type::kEnded;
      out.timer_id = e.stream_id;
      out.due_at_us = e.recorded_at_us;
      out.tenant_id = "tenant-1";
      return out;
    };
    kind.fire = [this, name, ended_type, ended_payload](const TimerItem& item) -> absl::Status {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++fired[item.timer_id];
      }
      return store
          ->Append({item.tenant_id,
                    item.stream_id,
                    ledger::ExpectedVersion::Any(),
                    {{ended_type, ended_payload, ""}},
                    absl::StrCat(name, ":", item.timer_id)})
          .status();
    };
  }
  int Fired(const std::string& timer) {
    std::lock_guard<std::mutex> lock(mu);
    return fired[timer];
  }
};

TEST_CASE("a paused timer kind fires nothing while other kinds fire, and fires once on resume") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  payments::v1::UpsellSent sent;
  CountingKind early("early", "tally.payments.v1.UpsellScheduled", "tally.payments.v1.UpsellSent",
                     sent.SerializeAsString());
  payments::v1::PaymentAbandoned abandoned;
  CountingKind late("late", "tally.payments.v1.PaymentCreated",
                    "tally.payments.v1.PaymentAbandoned", abandoned.SerializeAsString());
  early.store = late.store = store.get();

  REQUIRE(
      RecordJobCommand(*store, TimerJobName("early"), JobCommand::kPause, "", Admin("key_a")).ok());
  JobControl control(*store, {db->url()});
  REQUIRE(control.Refresh().ok());

  // The paused kind's timer is due first: were it not paused, it would fire first.
  payments::v1::UpsellScheduled scheduled;
  scheduled.set_offer_id("o1");
  REQUIRE(store
              ->Append({"tenant-1",
                        "timer-early",
                        ledger::ExpectedVersion::Any(),
                        {{"tally.payments.v1.UpsellScheduled", scheduled.SerializeAsString(), ""}},
                        ""})
              .ok());
  AppendWork(*store, "timer-late");

  const std::vector<const TimerKind*> kinds = {&early.kind, &late.kind};
  TimerWorkerOptions worker_options;
  worker_options.database_url = db->url();
  worker_options.poll_interval = 50ms;
  worker_options.jobs = &control;
  TimerWorker worker(kinds, clock, worker_options);
  TimerFold fold(kinds, [&worker] { worker.Wake(); });
  ReactorRunnerOptions runner_options;
  runner_options.database_url = db->url();
  runner_options.poll_interval = 50ms;
  ReactorRunner runner(fold, runner_options);
  runner.Start();
  worker.Start();

  REQUIRE(WaitFor([&] { return late.Fired("timer-late") == 1; }));
  CHECK(early.Fired("timer-early") == 0);

  REQUIRE(RecordJobCommand(*store, TimerJobName("early"), JobCommand::kResume, "", Admin("key_a"))
              .ok());
  REQUIRE(control.Refresh().ok());
  worker.Wake();  // what the host's listener on the JobControl does
  REQUIRE(WaitFor([&] { return early.Fired("timer-early") == 1; }));
  const int64_t head = AppendWork(*store, "work-after");
  REQUIRE(WaitFor([&] { return runner.position() >= head; }));
  worker.Stop();
  runner.Stop();
  CHECK(early.Fired("timer-early") == 1);
  CHECK(late.Fired("timer-late") == 1);
}

TEST_CASE("the jobs stream says who paused, resumed and triggered which job, and when") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  REQUIRE(RecordJobCommand(*store, "delivery", JobCommand::kPause, "deploy", Admin("key_a")).ok());
  REQUIRE(
      RecordJobCommand(*store, "reconciliation", JobCommand::kTrigger, "", Admin("key_b")).ok());
  REQUIRE(
      RecordJobCommand(*store, "reconciliation", JobCommand::kTrigger, "", Admin("key_c")).ok());
  auto trigger_again =
      RecordJobCommand(*store, "reconciliation", JobCommand::kTrigger, "", Admin("key_c"));
  REQUIRE(trigger_again.ok());
  CHECK(*trigger_again);  // a trigger is always recorded
  auto not_paused = RecordJobCommand(*store, "outbox", JobCommand::kResume, "", Admin("key_a"));
  REQUIRE(not_paused.ok());
  CHECK_FALSE(*not_paused);

  JobControl control(*store, {db->url()});
  REQUIRE(control.Refresh().ok());
  const JobStates states = control.states();
  REQUIRE(states.count("delivery") == 1);
  CHECK(states.at("delivery").paused);
  CHECK(states.at("delivery").changed_by == "key_a");
  CHECK(states.at("delivery").reason == "deploy");
  CHECK(states.at("delivery").changed_at_us > 0);
  REQUIRE(states.count("reconciliation") == 1);
  CHECK_FALSE(states.at("reconciliation").paused);
  CHECK(states.at("reconciliation").triggers == 3);
  CHECK(states.at("reconciliation").triggered_by == "key_c");
  CHECK(control.TriggeredAtUs("reconciliation") == states.at("reconciliation").triggered_at_us);
  CHECK(control.TriggeredAtUs("delivery") == 0);

  // Every command is an event of the jobs stream, under the system tenant's partition.
  auto events = store->ReadStream("system", kJobsStream);
  REQUIRE(events.ok());
  CHECK(events->size() == 4);
}

}  // namespace
}  // namespace tally::reactors
