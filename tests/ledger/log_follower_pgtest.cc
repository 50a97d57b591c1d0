// The log follower on real PostgreSQL: catch-up then live, a checkpoint that moves only with the
// handler's transaction (exactly-once across restarts, killed sessions and a standby's
// takeover), one leader per name and partition, waiting, and a poison event that stops the
// follower at its position with what came before it committed.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ledger/log_follower.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

using Clock = std::chrono::steady_clock;
using testing::PaymentCreatedEvent;
using testing::Request;

// Where handlers record what they handled, in the batch's transaction. The primary key makes
// an event handled twice fail the batch instead of passing unnoticed.
constexpr const char* kCreateHandledTable =
    "CREATE TABLE follower_handled (name text, position bigint, handler text, "
    "PRIMARY KEY (name, position)); GRANT SELECT, INSERT ON follower_handled TO tally_app";

// A handler the way a reactor keeps its checkpoint: in subscription_checkpoints, checked FOR
// UPDATE and moved in the batch's transaction together with its effects (a row per event).
class TableHandler final : public BatchHandler {
 public:
  TableHandler(std::string name, std::string label, int64_t poison_at = 0)
      : name_(std::move(name)), label_(std::move(label)), poison_at_(poison_at) {}

  absl::StatusOr<int64_t> Resume(pqxx::transaction_base& txn) override {
    pqxx::result row = txn.exec_params(
        "SELECT position FROM subscription_checkpoints WHERE subscriber = $1 AND partition_id = 0",
        name_);
    return row.empty() ? 0 : row[0][0].as<int64_t>();
  }

  absl::StatusOr<BatchOutcome> Handle(pqxx::transaction_base& txn, const LogBatch& batch) override {
    ++calls;
    pqxx::result row = txn.exec_params(
        "SELECT position FROM subscription_checkpoints WHERE subscriber = $1 AND partition_id = 0 "
        "FOR UPDATE",
        name_);
    const int64_t at = row.empty() ? 0 : row[0][0].as<int64_t>();
    if (at != batch.after) return BatchOutcome::Moved(at);
    int64_t last = batch.after;
    bool poisoned = false;
    for (const auto& event : batch.events) {
      if (event.position == poison_at_) {
        poisoned = true;
        break;
      }
      txn.exec_params("INSERT INTO follower_handled VALUES ($1, $2, $3)", name_, event.position,
                      label_);
      last = event.position;
    }
    txn.exec_params(
        "INSERT INTO subscription_checkpoints (subscriber, partition_id, position) "
        "VALUES ($1, 0, $2) ON CONFLICT (subscriber, partition_id) "
        "DO UPDATE SET position = excluded.position, updated_at = now()",
        name_, last);
    if (poisoned) return BatchOutcome::Poison(last, absl::DataLossError("cannot handle this"));
    return BatchOutcome::Handled(last);
  }

  std::atomic<int> calls{0};

 private:
  const std::string name_;
  const std::string label_;
  const int64_t poison_at_;
};

void AppendEvents(EventStore& store, int count) {
  for (int i = 0; i < count; ++i) {
    REQUIRE(
        store.Append(Request("t", "s", ExpectedVersion::Any(), {PaymentCreatedEvent("e")})).ok());
  }
}

LogFollowerOptions Options(const std::string& url, const std::string& name) {
  LogFollowerOptions options;
  options.database_url = url;
  options.name = name;
  options.poll_interval = std::chrono::milliseconds(50);
  options.retry_interval = std::chrono::milliseconds(50);
  options.max_backoff = std::chrono::milliseconds(200);
  return options;
}

bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// handler label -> positions it handled, in order.
std::map<std::string, std::vector<int64_t>> Handled(const std::string& url,
                                                    const std::string& name) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& row : txn.exec_params(
           "SELECT handler, position FROM follower_handled WHERE name = $1 ORDER BY position",
           name)) {
    out[row[0].as<std::string>()].push_back(row[1].as<int64_t>());
  }
  return out;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t p = from; p <= to; ++p) out.push_back(p);
  return out;
}

TEST_CASE("a follower catches up, goes live, and resumes from the checkpoint it committed") {
  auto db = testing::NewDatabase();
  testing::ExecAsOwner(db->url(), kCreateHandledTable);
  auto store = testing::OpenStore(db->url());
  AppendEvents(*store, 5);
  {
    TableHandler handler("reader", "first");
    LogFollower follower(Options(db->url(), "reader"), handler);
    follower.Start();
    REQUIRE(WaitUntil([&] { return follower.position() == 5; }));  // caught up
    CHECK(follower.state() == LogFollower::State::kLive);
    AppendEvents(*store, 2);  // live: woken by NOTIFY (or the poll)
    REQUIRE(WaitUntil([&] { return follower.position() == 7; }));
    follower.Stop();
    CHECK(follower.state() == LogFollower::State::kStopped);
    CHECK(follower.status().ok());
  }
  AppendEvents(*store, 3);
  TableHandler handler("reader", "second");
  LogFollower follower(Options(db->url(), "reader"), handler);
  follower.Start();
  REQUIRE(WaitUntil([&] { return follower.position() == 10; }));
  follower.Stop();
  CHECK(Handled(db->url(), "reader") == std::map<std::string, std::vector<int64_t>>{
                                            {"first", Range(1, 7)}, {"second", Range(8, 10)}});
}

TEST_CASE("one follower per name and partition leads and the standby takes over where it stopped") {
  auto db = testing::NewDatabase();
  testing::ExecAsOwner(db->url(), kCreateHandledTable);
  auto store = testing::OpenStore(db->url());
  TableHandler first_handler("shared", "first");
  TableHandler second_handler("shared", "second");
  TableHandler other_handler("other", "other");
  LogFollower first(Options(db->url(), "shared"), first_handler);
  LogFollower second(Options(db->url(), "shared"), second_handler);
  LogFollower other(Options(db->url(), "other"), other_handler);  // another name: its own lead
  first.Start();
  REQUIRE(WaitUntil([&] { return first.state() == LogFollower::State::kLive; }));
  second.Start();
  other.Start();
  REQUIRE(WaitUntil([&] { return second.state() == LogFollower::State::kStandby; }));
  AppendEvents(*store, 20);
  REQUIRE(WaitUntil([&] { return first.position() == 20 && other.position() == 20; }));
  CHECK(second.state() == LogFollower::State::kStandby);
  CHECK(second_handler.calls == 0);

  first.Stop();  // its session ends, and the advisory lock with it
  AppendEvents(*store, 10);
  REQUIRE(WaitUntil([&] { return second.position() == 30; }));
  CHECK(second.state() == LogFollower::State::kLive);
  second.Stop();
  other.Stop();
  CHECK(Handled(db->url(), "shared") == std::map<std::string, std::vector<int64_t>>{
                                            {"first", Range(1, 20)}, {"second", Range(21, 30)}});
  CHECK(Handled(db->url(), "other") ==
        std::map<std::string, std::vector<int64_t>>{{"other", Range(1, 30)}});
}

TEST_CASE("a follower whose session is killed reconnects and handles no event twice or skips one") {
  auto db = testing::NewDatabase();
  testing::ExecAsOwner(db->url(), kCreateHandledTable);
  auto store = testing::OpenStore(db->url());
  TableHandler handler("survivor", "survivor");
  LogFollowerOptions options = Options(db->url(), "survivor");
  options.batch_size = 7;
  LogFollower follower(options, handler);
  follower.Start();
  pqxx::connection admin(db->url());
  // The appender names its session; the follower's is the only other one.
  auto kill = [&] {
    pqxx::nontransaction txn(admin);
    return !txn.exec(
                   "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND pid <> pg_backend_pid() AND application_name = ''")
                .empty();
  };
  std::mt19937 random(5);
  for (int round = 0; round < 10; ++round) {
    AppendEvents(*store, 30);
    // Somewhere in catching up (batches of 7), or waiting, or resuming after the last kill.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 15)(random)));
    REQUIRE(WaitUntil(kill));
  }
  // The last kill may land after the follower reached the end: it then says why until its
  // next session leads again. Either way it ends caught up and well.
  REQUIRE(WaitUntil([&] { return follower.position() == 300 && follower.status().ok(); }));
  follower.Stop();
  CHECK(Handled(db->url(), "survivor") ==
        std::map<std::string, std::vector<int64_t>>{{"survivor", Range(1, 300)}});
}

TEST_CASE(
    "a poison event stops the follower at its position after committing the events before it") {
  auto db = testing::NewDatabase();
  testing::ExecAsOwner(db->url(), kCreateHandledTable);
  auto store = testing::OpenStore(db->url());
  AppendEvents(*store, 3);
  TableHandler handler("poisoned", "poisoned", /*poison_at=*/2);
  LogFollower follower(Options(db->url(), "poisoned"), handler);
  follower.Start();
  REQUIRE(WaitUntil([&] { return follower.state() == LogFollower::State::kStopped; }));
  CHECK(follower.status().code() == absl::StatusCode::kDataLoss);
  CHECK(follower.status().message() == "poison event at position 2: cannot handle this");
  CHECK(follower.position() == 1);
  CHECK(handler.calls == 1);
  follower.Stop();
  CHECK(follower.status().code() == absl::StatusCode::kDataLoss);  // Stop keeps the reason
  CHECK(Handled(db->url(), "poisoned") ==
        std::map<std::string, std::vector<int64_t>>{{"poisoned", {1}}});

  // Started again, it meets the same event and stops again: nothing is skipped.
  TableHandler again("poisoned", "again", /*poison_at=*/2);
  LogFollower restarted(Options(db->url(), "poisoned"), again);
  restarted.Start();
  REQUIRE(WaitUntil([&] { return restarted.state() == LogFollower::State::kStopped; }));
  CHECK(restarted.position() == 1);
  CHECK(restarted.status().message() == "poison event at position 2: cannot handle this");
}

// Waits while `ready` is false, then records positions in memory.
class WaitingHandler final : public BatchHandler {
 public:
  absl::StatusOr<int64_t> Resume(pqxx::transaction_base&) override { return 0; }
  absl::StatusOr<BatchOutcome> Handle(pqxx::transaction_base&, const LogBatch& batch) override {
    if (!ready) return BatchOutcome::Wait();
    return BatchOutcome::Handled(batch.events.back().position);
  }
  std::atomic<bool> ready{false};
};

TEST_CASE("a handler that is not ready makes the follower wait, then it goes on") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  AppendEvents(*store, 4);
  WaitingHandler handler;
  LogFollower follower(Options(db->url(), "waiting"), handler);
  follower.Start();
  REQUIRE(WaitUntil([&] { return follower.state() == LogFollower::State::kWaiting; }));
  CHECK(follower.position() == 0);
  handler.ready = true;
  REQUIRE(WaitUntil([&] { return follower.position() == 4; }));
  CHECK(follower.state() == LogFollower::State::kLive);
  follower.Stop();
}

// Claims to have handled nothing, which would make the follower read the same batch forever.
class StuckHandler final : public BatchHandler {
 public:
  absl::StatusOr<int64_t> Resume(pqxx::transaction_base&) override { return 0; }
  absl::StatusOr<BatchOutcome> Handle(pqxx::transaction_base&, const LogBatch& batch) override {
    return BatchOutcome::Handled(batch.after);
  }
};

TEST_CASE("a handler that answers outside its batch stops the follower") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  AppendEvents(*store, 2);
  StuckHandler handler;
  LogFollower follower(Options(db->url(), "stuck"), handler);
  follower.Start();
  REQUIRE(WaitUntil([&] { return follower.state() == LogFollower::State::kStopped; }));
  CHECK(follower.status().code() == absl::StatusCode::kInternal);
  CHECK(follower.status().message() == "stuck: handler answered position 0 for the batch 1..2");
  CHECK(follower.position() == 0);
  follower.Stop();
}

TEST_CASE("a follower that cannot connect says why and keeps trying") {
  WaitingHandler handler;
  LogFollowerOptions options =
      Options("host=/nonexistent-socket-dir dbname=nowhere connect_timeout=1", "unreachable");
  LogFollower follower(options, handler);
  follower.Start();
  REQUIRE(WaitUntil([&] { return !follower.status().ok(); }));
  CHECK(follower.status().code() == absl::StatusCode::kUnavailable);
  CHECK(follower.state() == LogFollower::State::kStarting);
  follower.Stop();
}

}  // namespace
}  // namespace tally::ledger
