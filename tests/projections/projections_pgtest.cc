// Projections on real PostgreSQL: live folding equals a fresh fold, before and after a rebuild
// swap; exactly-once when connections die; one runner per partition across "processes";
// a poison event stops only its projection and says where.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "app/lifecycle_generator.h"
#include "ledger/database.h"
#include "projections/catalog.h"
#include "projections/rebuild.h"
#include "projections/runner.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"
#include "tests/support/projection_runners.h"

namespace tally::projections {
namespace {

using Clock = std::chrono::steady_clock;

// The runners as `tally serve` starts them, in small batches (batch boundaries get exercised).
struct Runners : testing::ProjectionRunners {
  Runners(const std::string& url, int partitions)
      : ProjectionRunners(url, partitions, SmallBatches()) {}
  static RunnerOptions SmallBatches() {
    RunnerOptions options;
    options.batch_size = 97;
    options.poll_interval = std::chrono::milliseconds(100);
    options.lock_retry = std::chrono::milliseconds(100);
    return options;
  }
};

void AppendLifecycles(const std::string& url, int from, int count, int threads = 4) {
  auto store = testing::OpenStore(url);
  app::LifecycleGenerator tenants(1);
  if (from == 0) {
    for (auto& t : tenants.Tenants()) {
      REQUIRE(
          store->Append({t.tenant_id, t.stream_id, ledger::ExpectedVersion::Any(), t.events, ""})
              .ok());
    }
  }
  std::atomic<int> next{from};
  std::vector<std::thread> writers;
  for (int w = 0; w < threads; ++w) {
    writers.emplace_back([&, w] {
      app::LifecycleGenerator generator(100 + w + from);
      for (int n; (n = next.fetch_add(1)) < from + count;) {
        app::Lifecycle life = generator.Payment(n);
        // Each event is its own append, as webhooks and reactors append them.
        for (auto& event : life.events) {
          auto result = store->Append(
              {life.tenant_id, life.stream_id, ledger::ExpectedVersion::Any(), {event}, ""});
          REQUIRE_MESSAGE(result.ok(), result.status().ToString());
        }
      }
    });
  }
  for (auto& w : writers) w.join();
}

void CheckAllEqual(const std::string& url) {
  for (const auto& projection : AllProjections()) {
    auto report = VerifyProjection(*projection, url);
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    for (const auto& table : report->tables) {
      INFO(projection->name(), " ", table.table, " differs at ",
           table.differing_keys.empty() ? "" : table.differing_keys[0]);
      CHECK(table.equal);
      // The generated lifecycles have payments only: no leads, no subscriptions.
      if (table.table != "anomalies" && projection->name() != "leads" &&
          projection->name() != "subscriptions") {
        CHECK(table.live_rows > 0);
      }
    }
  }
}

// The failure of seeds/002: Meta answered "success" without an event id (or with nothing
// received). Appends such a success to up to 10 payments that have no purchase success yet;
// returns their streams.
std::set<std::string> AppendSuccessesWithoutEventId(const std::string& url) {
  std::map<std::string, std::string> tenant_of;  // stream -> tenant, for payments not yet sent
  std::set<std::string> succeeded;
  for (const auto& event : testing::AllEvents(url)) {
    if (event.type == "tally.payments.v1.PaymentCreated") {
      payments::v1::PaymentCreated created;
      REQUIRE(created.ParseFromString(event.payload));
      tenant_of[event.stream_id] = created.tenant_id();
    } else if (event.type == "tally.payments.v1.MetaPurchaseSucceeded") {
      succeeded.insert(event.stream_id);
    }
  }
  auto store = testing::OpenStore(url);
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  std::set<std::string> streams;
  for (const auto& [stream, tenant] : tenant_of) {
    if (succeeded.contains(stream)) continue;
    payments::v1::MetaPurchaseSucceeded success;
    if (streams.size() % 2 == 0) {
      success.set_events_received(1);  // no event id
    } else {
      success.set_event_id("pv-nothing-received");  // events_received 0
    }
    auto appended = store->Append(
        testing::Request(tenant, stream, ledger::ExpectedVersion::Any(),
                         {{"tally.payments.v1.MetaPurchaseSucceeded", success.SerializeAsString(),
                           metadata.SerializeAsString()}}));
    REQUIRE_MESSAGE(appended.ok(), appended.status().ToString());
    streams.insert(stream);
    if (streams.size() == 10) break;
  }
  REQUIRE(!streams.empty());
  return streams;
}

// "Purchase sent" never without a Meta event id, checked on what the folds produce from the
// whole log, before a table's CHECK constraint could refuse (and so hide) a bad row; and the
// payments in `unsent` (successes without an id only) are not sent.
void CheckNoPurchaseSentWithoutEventId(const std::string& url,
                                       const std::set<std::string>& unsent) {
  const std::vector<ledger::RecordedEvent> log = testing::AllEvents(url);
  for (const auto& projection : AllProjections()) {
    auto fold = projection->NewFold();
    for (const auto& event : log) REQUIRE(fold->Apply(event).ok());
    const std::vector<TableSpec> tables = projection->tables();
    const std::vector<std::vector<Row>> rows = fold->AllRows();
    for (size_t t = 0; t < tables.size(); ++t) {
      auto column = [&](const std::string& name) {
        for (size_t c = 0; c < tables[t].columns.size(); ++c) {
          if (tables[t].columns[c].name == name) return static_cast<int>(c);
        }
        return -1;
      };
      const int sent = column("purchase_sent");
      const int event_id = column("meta_event_id");
      const int stream = column("stream_id");
      if (sent < 0 || event_id < 0) continue;
      size_t seen_unsent = 0;
      for (const Row& row : rows[t]) {
        INFO(tables[t].base, " ", row[stream].value_or(""));
        if (row[sent] == "t") CHECK(row[event_id].has_value());
        if (unsent.contains(row[stream].value_or(""))) {
          CHECK(row[sent] == "f");
          ++seen_unsent;
        }
      }
      CHECK(seen_unsent == unsent.size());
    }
  }
}

void LiveEqualsRebuild(int partitions) {
  auto db = testing::NewDatabase(partitions);
  Runners runners(db->url(), partitions);
  AppendLifecycles(db->url(), 0, 300);
  // Before the runners' tables, whose CHECK would refuse a bad row, have a say.
  CheckNoPurchaseSentWithoutEventId(db->url(), AppendSuccessesWithoutEventId(db->url()));
  testing::WaitProjectionsCaughtUp(db->url());
  CheckAllEqual(db->url());

  // Rebuild all three while appends continue; live runners pick up from the swapped tables.
  std::thread more([&] { AppendLifecycles(db->url(), 300, 150, 2); });
  std::vector<const Projection*> targets;
  auto all = AllProjections();
  for (const auto& p : all) targets.push_back(p.get());
  RebuildOptions options;
  options.database_url = db->url();
  options.drop_old = true;
  auto reports = RebuildProjections(targets, options);
  more.join();
  REQUIRE_MESSAGE(reports.ok(), reports.status().ToString());
  for (size_t i = 0; i < reports->size(); ++i) {
    CHECK((*reports)[i].suffix.find(SuffixFor(targets[i]->version()) + "_r") == 0);
  }
  testing::WaitProjectionsCaughtUp(db->url());
  CheckAllEqual(db->url());

  // Readers use the stable views, which now point at the rebuilt tables.
  pqxx::connection conn(db->url());
  pqxx::read_transaction txn(conn);
  const int64_t views = txn.exec1("SELECT count(*) FROM payments")[0].as<int64_t>();
  CHECK(views == 450);
  CHECK(txn.exec1("SELECT count(*) FROM revenue_daily")[0].as<int64_t>() > 0);
  CHECK(txn.exec1("SELECT count(*) FROM pg_tables WHERE tablename = 'proj_payments_v2'")[0]
            .as<int64_t>() == 0);  // dropped on request
}

TEST_CASE("live projections equal a fresh fold, before and after a rebuild: one partition") {
  LiveEqualsRebuild(1);
}

TEST_CASE("live projections equal a fresh fold, before and after a rebuild: four partitions") {
  LiveEqualsRebuild(4);
}

TEST_CASE("runner connections killed at random: no event applied twice or skipped") {
  auto db = testing::NewDatabase(1);
  Runners runners(db->url(), 1);
  std::atomic<bool> done{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    pqxx::connection admin(db->url());
    std::mt19937 random(3);
    while (!done) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 40)(random)));
      pqxx::nontransaction txn(admin);
      // Kill one projector session (a runner's).
      auto killed = txn.exec(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
          "current_database() AND pid <> pg_backend_pid() AND application_name = '' "
          "AND state IN ('active', 'idle in transaction', 'idle') ORDER BY random() LIMIT 1");
      if (!killed.empty()) kills.fetch_add(1);
    }
  });
  // The appenders name themselves 'tally-appender-N' and are spared; everything else dies.
  AppendLifecycles(db->url(), 0, 200, 2);
  done = true;
  killer.join();
  MESSAGE(kills.load(), " sessions killed");
  CHECK(kills.load() > 10);
  testing::WaitProjectionsCaughtUp(db->url());
  CheckAllEqual(db->url());
}

TEST_CASE("one runner per projection and partition across processes and the standby takes over") {
  auto db = testing::NewDatabase(1);
  auto projection = NewPaymentsProjection();
  RunnerOptions options;
  options.database_url = db->url();
  options.lock_retry = std::chrono::milliseconds(50);
  options.poll_interval = std::chrono::milliseconds(50);
  ProjectionRunner first(*projection, options);
  ProjectionRunner second(*projection, options);
  first.Start();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (first.state() != ProjectionRunner::State::kLive && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(first.state() == ProjectionRunner::State::kLive);
  second.Start();
  AppendLifecycles(db->url(), 0, 30, 1);
  while (first.position() < testing::LogHeads(db->url())[0] && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(first.position() == testing::LogHeads(db->url())[0]);
  CHECK(second.state() == ProjectionRunner::State::kStandby);
  CHECK(second.position() == 0);

  first.Stop();  // its session ends, and with it the advisory lock
  AppendLifecycles(db->url(), 30, 30, 1);
  const int64_t head = testing::LogHeads(db->url())[0];
  const auto takeover = Clock::now() + std::chrono::seconds(10);
  while (second.position() < head && Clock::now() < takeover) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(second.state() == ProjectionRunner::State::kLive);
  CHECK(second.position() == head);
  second.Stop();
  auto report = VerifyProjection(*projection, db->url());
  REQUIRE(report.ok());
  CHECK(report->equal);
}

TEST_CASE("a poison event stops only its projection, at its position, with the error") {
  auto db = testing::NewDatabase(1);
  Runners runners(db->url(), 1);
  AppendLifecycles(db->url(), 0, 10, 1);
  testing::WaitProjectionsCaughtUp(db->url());
  // A tenant event whose payload a future or broken writer got wrong; only revenue_daily
  // folds tenant events.
  const int64_t poison_position = testing::LogHeads(db->url())[0] + 1;
  testing::ExecAsOwner(
      db->url(),
      absl::StrCat("SELECT ledger_append_batch(0, position, hash, '\\x", std::string(64, 'a'),
                   "'::bytea, now(), '{tenant-tenant-0}', '{2}', "
                   "'{tally.tenants.v1.TenantCreated}', '{NULL}',"
                   " '{1}', '{3}', '{1}', '{0}', '\\xffffff'::bytea, ''::bytea, '\\x",
                   std::string(64, 'a'),
                   "'::bytea, hash, '{}', '{}') FROM ledger_heads WHERE partition_id = 0"));
  AppendLifecycles(db->url(), 10, 5, 1);
  const int64_t head = testing::LogHeads(db->url())[0];
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto status = ReadStatus(db->url(), AllProjections());
    REQUIRE(status.ok());
    bool settled = true;
    for (const auto& p : *status) {
      const auto& part = p.partitions[0];
      if (p.name == "revenue_daily") {
        settled = settled && !part.error.empty();
      } else {
        settled = settled && part.checkpoint == head;
      }
    }
    if (settled) {
      for (const auto& p : *status) {
        const auto& part = p.partitions[0];
        if (p.name == "revenue_daily") {
          CHECK(part.error_position == poison_position);
          CHECK(part.checkpoint == poison_position - 1);  // everything before it is folded
          CHECK(p.state.find("stopped at partition 0 position") == 0);
          CHECK(part.error.find("does not parse") != std::string::npos);
        } else {
          CHECK(p.state == "live");
        }
      }
      break;
    }
    REQUIRE_MESSAGE(Clock::now() < deadline, "projections did not settle");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Rebuilds all three projections, killing the rebuild's sessions (found by their
// application_name) when `phase` begins. The rebuild must fail and leave nothing behind but
// the projections it had swapped (`swapped`), which serve from their rebuilt tables.
void RebuildKilledAt(const std::string& phase, const std::set<std::string>& swapped) {
  auto db = testing::NewDatabase(1);
  Runners runners(db->url(), 1);
  AppendLifecycles(db->url(), 0, 40, 1);
  testing::WaitProjectionsCaughtUp(db->url());

  std::vector<const Projection*> targets;
  auto all = AllProjections();
  for (const auto& p : all) targets.push_back(p.get());
  RebuildOptions options;
  options.database_url = db->url() + " application_name=rebuild-under-test";
  options.drop_old = true;
  int kills = 0;
  options.progress = [&](const RebuildProgress& progress) {
    if (progress.phase != phase) return;
    pqxx::connection admin(db->url());
    pqxx::nontransaction txn(admin);
    // The timeout makes it wait until the sessions are gone.
    kills += static_cast<int>(
        txn.exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE "
                 "application_name = 'rebuild-under-test'")
            .size());
  };
  auto reports = RebuildProjections(targets, options);
  REQUIRE(kills > 0);
  CHECK_FALSE(reports.ok());
  MESSAGE(reports.status().ToString());

  auto status = ReadStatus(db->url(), AllProjections());
  REQUIRE(status.ok());
  for (const auto& p : *status) {
    INFO(p.name);
    CHECK(p.rebuilding.empty());
    CHECK(p.state == "live");
  }
  pqxx::connection conn(db->url());
  pqxx::read_transaction txn(conn);
  for (const auto& row : txn.exec("SELECT name, tables_suffix FROM projection_state")) {
    INFO(row[0].as<std::string>());
    CHECK(absl::StrContains(row[1].as<std::string>(), "_r") ==
          swapped.contains(row[0].as<std::string>()));
  }
  // Tables of the failed rebuild are gone; the serving ones are all there.
  std::vector<std::string> serving;
  for (const auto& row : txn.exec("SELECT tablename FROM pg_tables WHERE tablename LIKE 'proj\\_%' "
                                  "ORDER BY tablename")) {
    serving.push_back(row[0].as<std::string>());
  }
  std::vector<std::string> expected;
  for (const auto& row :
       txn.exec("SELECT 'proj_' || t || s.tables_suffix FROM projection_state s, "
                "unnest(CASE s.name WHEN 'payments' THEN '{payments,anomalies}'::text[] "
                "WHEN 'revenue_daily' THEN '{revenue_daily,revenue_daily_payments,"
                "revenue_daily_tenants}'::text[] ELSE ARRAY[s.name] END) t "
                "ORDER BY 1")) {
    expected.push_back(row[0].as<std::string>());
  }
  CHECK(absl::StrJoin(serving, " ") == absl::StrJoin(expected, " "));
  // The runners carry on, on whatever tables serve.
  AppendLifecycles(db->url(), 40, 10, 1);
  testing::WaitProjectionsCaughtUp(db->url());
  CheckAllEqual(db->url());
}

TEST_CASE("a rebuild whose connection dies before catching up leaves no marker or tables") {
  RebuildKilledAt("copy", {});
}

TEST_CASE("a rebuild that dies after one swap keeps the swapped projection, undoes the rest") {
  RebuildKilledAt("swapped payments", {"payments"});
}

// Corrupts the revenue fold state of one payment with `corrupt` (an SQL expression over
// `state`), then appends to that payment: the live fold must stop with a DataLoss whose message
// holds `expected`, at that event, while the other projections go on.
void CorruptRevenueState(const std::string& corrupt, const std::string& expected) {
  auto db = testing::NewDatabase(1);
  Runners runners(db->url(), 1);
  AppendLifecycles(db->url(), 0, 10, 1);
  testing::WaitProjectionsCaughtUp(db->url());
  const std::string contributions =
      "proj_revenue_daily_payments" + SuffixFor(NewRevenueProjection()->version());
  std::string stream;
  {
    pqxx::connection conn(db->url());
    pqxx::read_transaction txn(conn);
    stream =
        txn.exec1("SELECT min(stream_id) FROM " + contributions + " WHERE state LIKE '1:0%'")[0]
            .as<std::string>();
  }
  testing::ExecAsOwner(db->url(), "UPDATE " + contributions + " SET state = " + corrupt +
                                      " WHERE stream_id = '" + stream + "'");
  // One more event on that payment makes the live fold load the corrupt row.
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_API);
  auto store = testing::OpenStore(db->url());
  auto appended = store->Append(testing::Request(
      "tenant-0", stream, ledger::ExpectedVersion::Any(),
      {{"tally.payments.v1.DeliveryAccessed", payments::v1::DeliveryAccessed().SerializeAsString(),
        metadata.SerializeAsString()}}));
  REQUIRE(appended.ok());
  const int64_t position = appended->positions[0];

  const auto deadline = Clock::now() + std::chrono::seconds(10);
  std::vector<ProjectionStatus> status;
  for (;;) {
    auto read = ReadStatus(db->url(), AllProjections());
    REQUIRE(read.ok());
    status = *read;
    bool settled = true;
    for (const auto& p : status) {
      const auto& part = p.partitions[0];
      settled = settled &&
                (p.name == "revenue_daily" ? !part.error.empty() : part.checkpoint == position);
    }
    if (settled || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& p : status) {
    INFO(p.name, ": ", p.state);
    const auto& part = p.partitions[0];
    if (p.name == "revenue_daily") {
      CHECK(part.error_position == position);
      CHECK(part.checkpoint == position - 1);
      CHECK(part.error.find(stream) != std::string::npos);
      MESSAGE(part.error);
      CHECK(part.error.find(expected) != std::string::npos);
    } else {
      CHECK(part.checkpoint == position);
      CHECK(p.state == "live");
    }
  }
}

TEST_CASE("revenue fold state that does not read back stops the projection, not counted as 0") {
  // The packed state starts with the partition, "1:0"; "1:x" used to read back as partition 0
  // without a word.
  CorruptRevenueState("'1:x' || substr(state, 4)", "partition_id is not an integer: \"x\"");
  // Cut short: used to read past the end of the row.
  CorruptRevenueState("substr(state, 1, 20)", "packed row: bad length");
  CorruptRevenueState("'3:abc'", "a payment row has 1 columns, not 38");
}

TEST_CASE("a deploy whose revenue_daily has a new version keeps v1 serving until the rebuild") {
  auto db = testing::NewDatabase(1);
  {
    Runners runners(db->url(), 1);
    AppendLifecycles(db->url(), 0, 60, 1);
    testing::WaitProjectionsCaughtUp(db->url());
  }
  // The database as the previous binary left it: revenue_daily v1, without the origin.
  testing::ExecAsOwner(
      db->url(),
      "DROP VIEW revenue_daily; "
      "ALTER TABLE proj_revenue_daily_v3 RENAME TO proj_revenue_daily_v1; "
      "ALTER TABLE proj_revenue_daily_payments_v3 RENAME TO proj_revenue_daily_payments_v1; "
      "ALTER TABLE proj_revenue_daily_tenants_v3 RENAME TO proj_revenue_daily_tenants_v1; "
      "ALTER TABLE proj_revenue_daily_v1 DROP COLUMN origin, DROP COLUMN product_id; "
      "ALTER TABLE proj_revenue_daily_payments_v1 DROP COLUMN origin, DROP COLUMN product_id; "
      "CREATE VIEW revenue_daily AS SELECT *, paid_minor - refunded_minor AS net_minor "
      "FROM proj_revenue_daily_v1; GRANT SELECT ON revenue_daily TO tally_app; "
      "ALTER VIEW revenue_daily OWNER TO tally_projector; "
      "UPDATE projection_state SET version = 1, tables_suffix = '_v1' "
      "WHERE name = 'revenue_daily'");
  auto paid_total = [&] {
    pqxx::connection conn(db->url());
    pqxx::read_transaction txn(conn);
    return txn.exec1("SELECT sum(paid_minor) FROM revenue_daily")[0].as<int64_t>();
  };
  const int64_t v1_total = paid_total();

  // The new binary: the other projections go on; revenue_daily waits, v1 still answers.
  Runners runners(db->url(), 1);
  AppendLifecycles(db->url(), 60, 40, 1);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (runners.runners[1]->state() != ProjectionRunner::State::kWaitingForRebuild) {
    REQUIRE_MESSAGE(Clock::now() < deadline, "revenue_daily did not wait for the rebuild");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto status = ReadStatus(db->url(), AllProjections());
  REQUIRE(status.ok());
  CHECK(
      (*status)[1].state ==
      "waiting: serving v1, this binary folds v3 (run `tally projections rebuild revenue_daily`)");
  CHECK(paid_total() == v1_total);

  RebuildOptions options;
  options.database_url = db->url();
  options.drop_old = true;
  auto report = RebuildProjection(*NewRevenueProjection(), options);
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->suffix == "_v3");
  CHECK(report->dropped == "_v1");
  testing::WaitProjectionsCaughtUp(db->url());
  CheckAllEqual(db->url());
  pqxx::connection conn(db->url());
  pqxx::read_transaction txn(conn);
  CHECK(txn.exec1("SELECT string_agg(DISTINCT origin, ',' ORDER BY origin) FROM revenue_daily")[0]
            .as<std::string>() == "direct,downsell,upsell");
  CHECK(txn.exec1("SELECT sum(paid_minor) FROM revenue_daily")[0].as<int64_t>() > v1_total);
}

TEST_CASE("rebuilding the serving version twice within a second swaps in new tables each time") {
  auto db = testing::NewDatabase(1);
  {
    Runners runners(db->url(), 1);
    AppendLifecycles(db->url(), 0, 5, 1);
    testing::WaitProjectionsCaughtUp(db->url());
  }
  RebuildOptions options;
  options.database_url = db->url();
  // Three in a row on a tiny log: at least two fall within one second, and the later one must
  // not take the name (_v<N>_r<unix seconds>) of the tables the earlier one swapped in.
  std::string live = "_v" + std::to_string(NewPaymentsProjection()->version());
  for (int i = 0; i < 3; ++i) {
    auto report = RebuildProjection(*NewPaymentsProjection(), options);
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    CHECK(report->suffix != live);
    live = report->suffix;
  }
  CheckAllEqual(db->url());
}

TEST_CASE("tally projections status, verify and rebuild from the command line") {
  auto db = testing::NewDatabase(1);
  {
    Runners runners(db->url(), 1);
    AppendLifecycles(db->url(), 0, 20, 1);
    testing::WaitProjectionsCaughtUp(db->url());
  }
  auto status = testing::RunCommand(testing::TallyBinary() + " projections status --database '" +
                                    db->url() + "'");
  CHECK(status.exit_code == 0);
  CHECK(status.output.find("payments v2 (binary v2): live") != std::string::npos);
  CHECK(status.output.find("lag 0 events") != std::string::npos);
  auto verify = testing::RunCommand(
      testing::TallyBinary() + " projections verify revenue_daily --database '" + db->url() + "'");
  CHECK(verify.exit_code == 0);
  CHECK(verify.output.find("revenue_daily: equal") != std::string::npos);
  auto rebuild = testing::RunCommand(
      testing::TallyBinary() + " projections rebuild payments --database '" + db->url() + "'");
  CHECK(rebuild.exit_code == 0);
  CHECK(rebuild.output.find("rebuilt payments into proj_*_v2_r") != std::string::npos);
  auto unknown = testing::RunCommand(testing::TallyBinary() +
                                     " projections rebuild nope --database '" + db->url() + "'");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.output.find("unknown projection") != std::string::npos);

  // Tamper with a live row: verify names the key and fails.
  testing::ExecAsOwner(db->url(),
                       "UPDATE proj_purchase_tracking_v1 SET attempts = attempts + 7 "
                       "WHERE stream_id = (SELECT min(stream_id) FROM "
                       "proj_purchase_tracking_v1)");
  auto tampered =
      testing::RunCommand(testing::TallyBinary() +
                          " projections verify purchase_tracking --database '" + db->url() + "'");
  CHECK(tampered.exit_code == 1);
  CHECK(tampered.output.find("purchase_tracking: DIFFERENT") != std::string::npos);
  CHECK(tampered.output.find("differs: (0,payment-") != std::string::npos);
}

}  // namespace
}  // namespace tally::projections
