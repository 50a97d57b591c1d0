// State as of a time (projections/as_of.h) on real PostgreSQL: as of T, the payments and
// revenue views equal what the live projections held when T was taken, for every tenant and
// for one; appending later events (the same payments paid, delivered and refunded later, and
// new payments) changes nothing as of T, while the live tables move on. `tally audit as-of`
// prints the same JSON and refuses a bad time with exit 2.

#include "projections/as_of.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "app/lifecycle_generator.h"
#include "ledger/database.h"
#include "ledger/event_json.h"
#include "ledger/log_scan.h"
#include "projections/catalog.h"
#include "projections/runner.h"
#include "tests/support/pg.h"
#include "tests/support/projection_runners.h"

namespace tally::projections {
namespace {

using SteadyClock = std::chrono::steady_clock;

class ManualClock final : public ledger::Clock {
 public:
  explicit ManualClock(int64_t now_us) : now_us_(now_us) {}
  int64_t NowMicros() const override { return now_us_.load(); }
  void Set(int64_t now_us) { now_us_.store(now_us); }

 private:
  std::atomic<int64_t> now_us_;
};

// The runners as `tally serve` starts them, polling often.
struct Runners : testing::ProjectionRunners {
  Runners(const std::string& url, int partitions) : ProjectionRunners(url, partitions, Polling()) {}
  static RunnerOptions Polling() {
    RunnerOptions options;
    options.poll_interval = std::chrono::milliseconds(50);
    options.lock_retry = std::chrono::milliseconds(100);
    return options;
  }
};

// Rows in the live view (`where` filters) that are not in the as-of rows, plus the reverse,
// compared by PostgreSQL over the table's own columns: the as-of rows are loaded into a table
// of the same shape first, so values compare as the declared types.
int64_t Differences(const std::string& url, const AsOfState& state, const std::string& where) {
  const std::string scratch = absl::StrCat("asof_check_", state.table.base);
  {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    txn.exec("SET TIME ZONE 'UTC'");
    txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", scratch));
    txn.exec(CreateTableSql(state.table, scratch));
    txn.commit();
  }
  auto raw = ledger::ConnectRaw(url, ledger::Session::kOwner);
  REQUIRE(raw.ok());
  REQUIRE(ledger::ExecRaw(raw->get(), "SET TIME ZONE 'UTC'").ok());
  absl::Status copied = CopyRows(raw->get(), state.table, scratch, state.rows);
  REQUIRE_MESSAGE(copied.ok(), copied.ToString());
  std::vector<std::string> names;
  for (const Column& c : state.table.columns) names.push_back(c.name);
  const std::string columns = absl::StrJoin(names, ", ");
  const std::string live =
      absl::StrCat("SELECT ", columns, " FROM ", state.table.base, " WHERE ", where);
  const std::string mine = absl::StrCat("SELECT ", columns, " FROM ", scratch);
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  return txn
      .exec(absl::StrCat("SELECT (SELECT count(*) FROM (", live, " EXCEPT ALL ", mine,
                         ") a) + (SELECT count(*) FROM (", mine, " EXCEPT ALL ", live,
                         ") b)"))[0][0]
      .as<int64_t>();
}

int64_t LiveRows(const std::string& url, const std::string& view) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  return txn.exec(absl::StrCat("SELECT count(*) FROM ", view))[0][0].as<int64_t>();
}

TEST_CASE("as-of T equals the live projections at T and stays the same after later events") {
  constexpr int kPartitions = 2;
  auto db = testing::NewDatabase(kPartitions);
  const int64_t t0 = 1795000000000000;  // 2026-11-18
  ManualClock clock(t0);
  ledger::EventStoreOptions store_options;
  store_options.database_url = db->url();
  store_options.clock = &clock;
  auto opened = ledger::EventStore::Open(std::move(store_options));
  REQUIRE(opened.ok());
  ledger::EventStore& store = **opened;

  app::LifecycleGenerator generator(7, 4);
  for (auto& t : generator.Tenants()) {
    REQUIRE(store.Append({t.tenant_id, t.stream_id, ledger::ExpectedVersion::Any(), t.events, ""})
                .ok());
  }
  // Before T: 150 whole lifecycles, and the PaymentCreated only of 150 more, whose webhooks,
  // deliveries and refunds come after T.
  std::vector<app::Lifecycle> later;
  for (int n = 0; n < 300; ++n) {
    app::Lifecycle life = generator.Payment(n);
    clock.Set(t0 + n * 1000);
    const size_t now = n < 150 ? life.events.size() : 1;
    for (size_t i = 0; i < now; ++i) {
      REQUIRE(store
                  .Append({life.tenant_id,
                           life.stream_id,
                           ledger::ExpectedVersion::Any(),
                           {life.events[i]},
                           ""})
                  .ok());
    }
    life.events.erase(life.events.begin(), life.events.begin() + now);
    if (!life.events.empty()) later.push_back(std::move(life));
  }
  const int64_t as_of_us = t0 + 3600 * 1000000LL;  // an hour after the last event before it

  Runners runners(db->url(), kPartitions);
  testing::WaitProjectionsCaughtUp(db->url());
  auto payments = FoldAsOf(db->url(), "payments", as_of_us, "");
  REQUIRE_MESSAGE(payments.ok(), payments.status().ToString());
  auto revenue = FoldAsOf(db->url(), "revenue", as_of_us, "");
  REQUIRE_MESSAGE(revenue.ok(), revenue.status().ToString());
  const std::string tenant = "tenant-1";
  auto tenant_payments = FoldAsOf(db->url(), "payments", as_of_us, tenant);
  REQUIRE(tenant_payments.ok());
  auto tenant_revenue = FoldAsOf(db->url(), "revenue", as_of_us, tenant);
  REQUIRE(tenant_revenue.ok());

  CHECK(payments->rows.size() == 300);
  CHECK(LiveRows(db->url(), "payments") == 300);
  CHECK(!revenue->rows.empty());
  CHECK(Differences(db->url(), *payments, "true") == 0);
  CHECK(Differences(db->url(), *revenue, "true") == 0);
  CHECK(!tenant_payments->rows.empty());
  CHECK(tenant_payments->rows.size() < payments->rows.size());
  CHECK(tenant_payments->cuts.size() == 1);
  CHECK(Differences(db->url(), *tenant_payments, "tenant_id = 'tenant-1'") == 0);
  CHECK(Differences(db->url(), *tenant_revenue, "tenant_id = 'tenant-1'") == 0);
  const std::string payments_json = AsOfJson(*payments);
  const std::string revenue_json = AsOfJson(*revenue);
  const std::string tenant_json = AsOfJson(*tenant_payments);
  CHECK(absl::StrContains(payments_json, "\"status\":\"pending\""));

  // After T: the rest of every lifecycle (paid, delivered, refunded) and 100 new payments.
  clock.Set(as_of_us + 1);
  for (app::Lifecycle& life : later) {
    for (auto& event : life.events) {
      REQUIRE(store
                  .Append({life.tenant_id,
                           life.stream_id,
                           ledger::ExpectedVersion::Any(),
                           {std::move(event)},
                           ""})
                  .ok());
    }
  }
  for (int n = 300; n < 400; ++n) {
    app::Lifecycle life = generator.Payment(n);
    REQUIRE(store
                .Append({life.tenant_id, life.stream_id, ledger::ExpectedVersion::Any(),
                         life.events, ""})
                .ok());
  }
  testing::WaitProjectionsCaughtUp(db->url());
  // The live tables moved on (so the comparison below can fail)...
  CHECK(LiveRows(db->url(), "payments") == 400);
  CHECK(Differences(db->url(), *payments, "true") > 0);
  CHECK(Differences(db->url(), *revenue, "true") > 0);
  // ...and as of T nothing changed, to the byte.
  auto again = FoldAsOf(db->url(), "payments", as_of_us, "");
  REQUIRE(again.ok());
  CHECK(AsOfJson(*again) == payments_json);
  auto revenue_again = FoldAsOf(db->url(), "revenue", as_of_us, "");
  REQUIRE(revenue_again.ok());
  CHECK(AsOfJson(*revenue_again) == revenue_json);
  auto tenant_again = FoldAsOf(db->url(), "payments", as_of_us, tenant);
  REQUIRE(tenant_again.ok());
  CHECK(AsOfJson(*tenant_again) == tenant_json);

  // A time before the first event: nothing was recorded, every cut at 0, no rows.
  auto before = FoldAsOf(db->url(), "payments", t0 - 1, "");
  REQUIRE(before.ok());
  CHECK(before->rows.empty());
  for (const AsOfCut& cut : before->cuts) CHECK(cut.position == 0);

  // The command prints the same JSON; a bad time or view is exit 2 naming the flag.
  const std::string cli = absl::StrCat(testing::TallyBinary(), " audit as-of --database '",
                                       db->url(), "' --json --time ");
  testing::CommandResult printed = testing::RunCommand(cli + ledger::FormatMicros(as_of_us));
  REQUIRE_MESSAGE(printed.exit_code == 0, printed.output);
  CHECK(printed.output == payments_json + "\n");
  testing::CommandResult tenant_printed = testing::RunCommand(
      cli + "2026-11-18T09:06:40-03:00 --tenant tenant-1");  // as_of_us, in São Paulo
  REQUIRE_MESSAGE(tenant_printed.exit_code == 0, tenant_printed.output);
  CHECK(tenant_printed.output == tenant_json + "\n");
  testing::CommandResult bad_time = testing::RunCommand(cli + "yesterday");
  CHECK(bad_time.exit_code == 2);
  CHECK(absl::StrContains(bad_time.output, "--time"));
  testing::CommandResult bad_view =
      testing::RunCommand(cli + ledger::FormatMicros(as_of_us) + " --view ledger");
  CHECK(bad_view.exit_code == 2);
  CHECK(absl::StrContains(bad_view.output, "--view"));

  CHECK(ParseAsOfTime("2026-13-01T00:00:00Z").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(*ParseAsOfTime("1970-01-01T00:00:01Z") == 1000000);
}

}  // namespace
}  // namespace tally::projections
