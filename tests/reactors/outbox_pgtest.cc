// The outbox on real PostgreSQL: items folded from request events, sent by the only leading
// sender, retried with backoff, parked when terminal and retried on request, attempts lost in a
// crash tried again once their lease expires — and exactly one success per item.

#include "reactors/outbox.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;

// A kind built on the delivery events, whose calls a test scripts: per stream, how many
// attempts fail before one succeeds, or that every attempt is terminal.
struct ScriptedKind {
  std::mutex mu;
  std::map<std::string, int> calls;  // stream -> calls made
  std::map<std::string, int> failures_before_success;
  std::set<std::string> terminal;
  std::set<std::string> held;  // streams whose calls wait until `released`
  bool released = false;
  std::condition_variable release;
  OutboxKind kind;

  ScriptedKind() {
    kind.reactor = "test_delivery";
    kind.requested_type = "tally.payments.v1.DeliveryIssued";
    kind.attempted_type = "tally.payments.v1.DeliveryAttempted";
    kind.succeeded_type = "tally.payments.v1.DeliveryMessageSent";
    kind.failed_type = "tally.payments.v1.DeliveryFailed";
    kind.read = [this](const ledger::RecordedEvent& e) -> absl::StatusOr<OutboxEvent> {
      OutboxEvent out;
      if (e.type == kind.requested_type) {
        pb::DeliveryIssued m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("bad");
        out.type = OutboxEvent::Type::kRequested;
        out.tenant_id = m.tenant_id();
      } else if (e.type == kind.attempted_type) {
        pb::DeliveryAttempted m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("bad");
        out.type = OutboxEvent::Type::kAttempted;
        out.attempt = m.attempt();
      } else if (e.type == kind.succeeded_type) {
        out.type = OutboxEvent::Type::kSucceeded;
      } else {
        pb::DeliveryFailed m;
        if (!m.ParseFromString(e.payload)) return absl::DataLossError("bad");
        out.type = OutboxEvent::Type::kFailed;
        out.attempt = m.attempt();
        out.retry_at_us = m.retry_at_us();
        out.terminal = m.terminal();
        out.error = m.error();
      }
      return out;
    };
    kind.attempted_payload = [](int attempt) {
      pb::DeliveryAttempted m;
      m.set_attempt(attempt);
      return m.SerializeAsString();
    };
    kind.failed_payload = [](int attempt, const SendResult& r, int64_t retry_at) {
      pb::DeliveryFailed m;
      m.set_attempt(attempt);
      m.set_error(r.error);
      m.set_retry_at_us(retry_at);
      m.set_terminal(r.outcome == SendResult::Outcome::kTerminal);
      return m.SerializeAsString();
    };
    kind.send = [this](const OutboxItem& item) {
      std::unique_lock<std::mutex> lock(mu);
      if (held.count(item.stream_id)) release.wait(lock, [this] { return released; });
      const int n = ++calls[item.stream_id];
      SendResult r;
      if (terminal.count(item.stream_id)) {
        r.outcome = SendResult::Outcome::kTerminal;
        r.error = "403 bot was blocked by the user";
      } else if (n <= failures_before_success[item.stream_id]) {
        r.outcome = SendResult::Outcome::kRetry;
        r.error = "503";
      } else {
        pb::DeliveryMessageSent sent;
        sent.set_telegram_message_id(n);
        sent.set_attempt(item.attempt);
        r.outcome = SendResult::Outcome::kSucceeded;
        r.success_payload = sent.SerializeAsString();
      }
      return r;
    };
    kind.backoff = {20'000, 100'000};  // 20 ms, capped at 100 ms: a test's patience
    kind.lease_us = 300'000;
    kind.concurrency = 4;
  }
};

std::string Issued(const std::string& tenant) {
  pb::DeliveryIssued issued;
  issued.set_tenant_id(tenant);
  issued.set_channel("telegram");
  return issued.SerializeAsString();
}

void Request(ledger::EventStore& store, const std::string& stream) {
  auto r = store.Append({"tenant-1",
                         stream,
                         ledger::ExpectedVersion::Any(),
                         {{"tally.payments.v1.DeliveryIssued", Issued("tenant-1"), ""}},
                         "delivery:" + stream});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}

struct Rig {
  std::unique_ptr<ledger::ScratchDatabase> db;
  std::unique_ptr<ledger::EventStore> store;
  ledger::SystemClock clock;
  ScriptedKind scripted;
  std::unique_ptr<OutboxSender> sender;
  std::unique_ptr<OutboxFold> fold;
  std::unique_ptr<ReactorRunner> runner;

  explicit Rig(std::unique_ptr<ledger::ScratchDatabase> existing = nullptr)
      : db(existing ? std::move(existing) : testing::NewDatabase()),
        store(testing::OpenStore(db->url())) {
    sender = std::make_unique<OutboxSender>(scripted.kind, *store, clock,
                                            OutboxSenderOptions{db->url(), 0, 50ms, 100ms, 7});
    fold = std::make_unique<OutboxFold>(std::vector<const OutboxKind*>{&scripted.kind},
                                        [this] { sender->Wake(); });
    ReactorRunnerOptions options;
    options.database_url = db->url();
    options.poll_interval = 50ms;
    runner = std::make_unique<ReactorRunner>(*fold, options);
    runner->Start();
    sender->Start();
  }
  ~Rig() {
    sender->Stop();
    runner->Stop();
  }

  // state of a stream's outbox row
  std::string State(const std::string& stream) {
    pqxx::connection c(db->url());
    pqxx::nontransaction txn(c);
    pqxx::result r = txn.exec_params(
        "SELECT state FROM outbox WHERE reactor = 'test_delivery' AND item_id = $1", stream);
    return r.empty() ? "" : r[0][0].as<std::string>();
  }
  int Count(const std::string& stream, const std::string& type) {
    int n = 0;
    for (const auto& e : testing::AllEvents(db->url())) {
      if (e.stream_id == stream && e.type == type) ++n;
    }
    return n;
  }
  bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 300; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }
};

TEST_CASE("every requested item is sent until it succeeds, once, with each attempt recorded") {
  Rig rig;
  rig.scripted.failures_before_success["s-flaky"] = 3;
  for (int i = 0; i < 20; ++i) Request(*rig.store, absl::StrCat("s-", i));
  Request(*rig.store, "s-flaky");
  Request(*rig.store, "s-flaky");  // a repeated decision adds nothing (same key)
  REQUIRE(rig.WaitFor([&] {
    for (int i = 0; i < 20; ++i) {
      if (rig.State(absl::StrCat("s-", i)) != "done") return false;
    }
    return rig.State("s-flaky") == "done";
  }));
  for (int i = 0; i < 20; ++i) {
    const std::string stream = absl::StrCat("s-", i);
    CHECK(rig.Count(stream, "tally.payments.v1.DeliveryMessageSent") == 1);
    CHECK(rig.Count(stream, "tally.payments.v1.DeliveryAttempted") == 1);
  }
  CHECK(rig.Count("s-flaky", "tally.payments.v1.DeliveryFailed") == 3);
  CHECK(rig.Count("s-flaky", "tally.payments.v1.DeliveryAttempted") == 4);
  CHECK(rig.Count("s-flaky", "tally.payments.v1.DeliveryMessageSent") == 1);
  std::lock_guard<std::mutex> lock(rig.scripted.mu);
  CHECK(rig.scripted.calls["s-flaky"] == 4);
  CHECK(rig.scripted.calls["s-3"] == 1);
}

TEST_CASE("a terminal failure parks the item, an operator's retry makes it due again") {
  Rig rig;
  rig.scripted.terminal.insert("s-blocked");
  Request(*rig.store, "s-blocked");
  Request(*rig.store, "s-fine");
  REQUIRE(rig.WaitFor([&] { return rig.State("s-blocked") == "parked"; }));
  REQUIRE(rig.WaitFor([&] { return rig.State("s-fine") == "done"; }));
  CHECK(rig.Count("s-blocked", "tally.payments.v1.DeliveryFailed") == 1);
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard<std::mutex> lock(rig.scripted.mu);
    CHECK(rig.scripted.calls["s-blocked"] == 1);  // parked: never tried again by itself
    rig.scripted.terminal.erase("s-blocked");
  }
  pb::OutboxRetryRequested retry;
  retry.set_reactor("test_delivery");
  retry.set_reason("the buyer unblocked the bot");
  REQUIRE(rig.store
              ->Append({"tenant-1",
                        "s-blocked",
                        ledger::ExpectedVersion::Any(),
                        {{"tally.payments.v1.OutboxRetryRequested", retry.SerializeAsString(), ""}},
                        ""})
              .ok());
  REQUIRE(rig.WaitFor([&] { return rig.State("s-blocked") == "done"; }));
  CHECK(rig.Count("s-blocked", "tally.payments.v1.DeliveryMessageSent") == 1);
}

TEST_CASE("an attempt lost in a crash is made again after its lease, and counted") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  Request(*store, "s-lost");
  // A process recorded attempt 1 and died in the call: no outcome.
  pb::DeliveryAttempted attempted;
  attempted.set_attempt(1);
  REQUIRE(
      store
          ->Append({"tenant-1",
                    "s-lost",
                    ledger::ExpectedVersion::Any(),
                    {{"tally.payments.v1.DeliveryAttempted", attempted.SerializeAsString(), ""}},
                    "test_delivery:s-lost:attempt:1"})
          .ok());
  store.reset();
  // The next leader: attempt 1's lease (300 ms) must pass before attempt 2 is made.
  Rig rig(std::move(db));
  REQUIRE(rig.WaitFor([&] { return rig.State("s-lost") == "done"; }));
  CHECK(rig.Count("s-lost", "tally.payments.v1.DeliveryAttempted") == 2);
  CHECK(rig.Count("s-lost", "tally.payments.v1.DeliveryMessageSent") == 1);
  {
    std::lock_guard<std::mutex> lock(rig.scripted.mu);
    CHECK(rig.scripted.calls["s-lost"] == 1);  // attempt 1 never called here: attempt 2 did
  }
  pqxx::connection c(rig.db->url());
  pqxx::nontransaction txn(c);
  CHECK(
      txn.exec("SELECT unresolved_attempts FROM outbox WHERE item_id = 's-lost'")[0][0].as<int>() ==
      1);
}

TEST_CASE("two senders: only the leader calls, and the standby takes over when it stops") {
  Rig rig;
  OutboxSender standby(rig.scripted.kind, *rig.store, rig.clock,
                       OutboxSenderOptions{rig.db->url(), 0, 50ms, 100ms, 8});
  standby.Start();
  for (int i = 0; i < 10; ++i) Request(*rig.store, absl::StrCat("a-", i));
  REQUIRE(rig.WaitFor([&] { return rig.State("a-9") == "done"; }));
  CHECK(rig.sender->stats().leading != standby.stats().leading);
  rig.sender->Stop();
  REQUIRE(rig.WaitFor([&] { return standby.stats().leading; }));
  Request(*rig.store, "a-after");
  REQUIRE(rig.WaitFor([&] { return rig.State("a-after") == "done"; }));
  standby.Stop();
  std::lock_guard<std::mutex> lock(rig.scripted.mu);
  for (const auto& [stream, calls] : rig.scripted.calls) {
    INFO(stream);
    CHECK(calls == 1);
  }
}

TEST_CASE("an offered item is sent at once and exactly once, though the table loop has it too") {
  Rig rig;
  REQUIRE(rig.WaitFor([&] { return rig.sender->stats().leading; }));
  OutboxSender standby(rig.scripted.kind, *rig.store, rig.clock,
                       OutboxSenderOptions{rig.db->url(), 0, 50ms, 100ms, 9});
  standby.Start();
  auto offer = [](OutboxSender& sender, const std::string& stream) {
    OutboxItem item;
    item.stream_id = stream;
    item.tenant_id = "tenant-1";
    item.request = Issued("tenant-1");
    return sender.Offer(std::move(item));
  };
  const std::string sent = "tally.payments.v1.DeliveryMessageSent";
  const std::string attempted = "tally.payments.v1.DeliveryAttempted";

  // The fold stopped: only the offer can send it. A standby's offer does nothing.
  rig.runner->Stop();
  Request(*rig.store, "o-fast");
  CHECK_FALSE(offer(standby, "o-fast"));
  CHECK(offer(*rig.sender, "o-fast"));
  REQUIRE(rig.WaitFor([&] { return rig.Count("o-fast", sent) == 1; }));
  CHECK(rig.State("o-fast").empty());  // sent before the table had it

  // Offered and held in its call while the fold catches up (request, attempt) and the
  // attempt's 300 ms lease expires: the table loop sees it due again, as attempt 2, and leaves
  // it (in a call here); a second offer is refused for the same reason.
  {
    std::lock_guard<std::mutex> lock(rig.scripted.mu);
    rig.scripted.held.insert("o-held");
  }
  Request(*rig.store, "o-held");
  CHECK(offer(*rig.sender, "o-held"));
  CHECK_FALSE(offer(*rig.sender, "o-held"));
  rig.runner->Start();
  REQUIRE(rig.WaitFor([&] { return rig.State("o-held") == "in_flight"; }));
  std::this_thread::sleep_for(600ms);  // the lease expires; the table loop reads it ~12 times
  {
    std::lock_guard<std::mutex> lock(rig.scripted.mu);
    rig.scripted.released = true;
  }
  rig.scripted.release.notify_all();
  REQUIRE(rig.WaitFor([&] { return rig.State("o-held") == "done"; }));
  REQUIRE(rig.WaitFor([&] { return rig.State("o-fast") == "done"; }));

  // Offered after the table loop sent it: attempt 1 is a duplicate, and nothing is called.
  Request(*rig.store, "o-late");
  REQUIRE(rig.WaitFor([&] { return rig.State("o-late") == "done"; }));
  const uint64_t skipped = rig.sender->stats().skipped_duplicate_attempts;
  CHECK(offer(*rig.sender, "o-late"));
  REQUIRE(
      rig.WaitFor([&] { return rig.sender->stats().skipped_duplicate_attempts == skipped + 1; }));

  // Offered and folded at once, many times over: each still sent once.
  for (int i = 0; i < 30; ++i) {
    const std::string stream = absl::StrCat("o-race-", i);
    Request(*rig.store, stream);
    offer(*rig.sender, stream);
  }
  REQUIRE(rig.WaitFor([&] {
    for (int i = 0; i < 30; ++i) {
      if (rig.State(absl::StrCat("o-race-", i)) != "done") return false;
    }
    return true;
  }));

  CHECK(rig.sender->stats().offers_taken >= 4);
  CHECK(standby.stats().offers_taken == 0);
  CHECK(standby.stats().attempts == 0);
  standby.Stop();
  std::vector<std::string> streams = {"o-fast", "o-held", "o-late"};
  for (int i = 0; i < 30; ++i) streams.push_back(absl::StrCat("o-race-", i));
  for (const std::string& stream : streams) {
    INFO(stream);
    CHECK(rig.Count(stream, attempted) == 1);
    CHECK(rig.Count(stream, sent) == 1);
  }
  std::lock_guard<std::mutex> lock(rig.scripted.mu);
  for (const std::string& stream : streams) {
    INFO(stream);
    CHECK(rig.scripted.calls[stream] == 1);
  }
}

}  // namespace
}  // namespace tally::reactors
