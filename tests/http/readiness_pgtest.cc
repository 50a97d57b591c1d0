// GET /readyz's decision on real PostgreSQL: ready on a current schema with projections caught
// up; not ready (503, a stable code and the reason) when the schema is not the binary's, when a
// projection lags more than the limit, when one stopped on an event, or when the database does
// not answer.

#include "http/readiness.h"

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "ledger/migration.h"
#include "tests/support/pg.h"

namespace tally::http {
namespace {

TEST_CASE("readyz: ready when the schema is current and projections keep up, else 503 with why") {
  auto db = testing::NewDatabase(2);
  auto store = testing::OpenStore(db->url());
  ReadinessOptions options{db->url(), ledger::EmbeddedMigrations(), /*max_projection_lag=*/3};
  {
    HttpResponse ready = Readiness(options).Check();
    CHECK(ready.status == 200);
    CHECK(ready.body == R"({"status":"ready","projection_lag":0})");
  }
  // Five events in a partition whose projection has read none of them.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(store
                ->Append({"tenant-a",
                          "payment-stripe-pi_" + std::to_string(i),
                          ledger::ExpectedVersion::Any(),
                          {{"tally.payments.v1.PaymentAbandoned", "", ""}},
                          ""})
                .ok());
  }
  int partition = 0;
  {
    pqxx::connection c(db->url());
    pqxx::work txn(c);
    partition =
        txn.exec("SELECT partition_id FROM ledger_heads WHERE position > 0")[0][0].as<int>();
    txn.exec_params(
        "INSERT INTO projection_checkpoints (name, partition_id, position) VALUES ('payments', $1, "
        "0) ON CONFLICT (name, partition_id) DO UPDATE SET position = 0",
        partition);
    txn.commit();
  }
  HttpResponse lagging = Readiness(options).Check();
  CHECK(lagging.status == 503);
  CHECK(absl::StrContains(lagging.body, "projections_lagging"));
  CHECK(absl::StrContains(lagging.body, "5 events behind"));
  options.max_projection_lag = 5;
  HttpResponse within = Readiness(options).Check();
  CHECK(within.status == 200);
  CHECK(within.body == R"({"status":"ready","projection_lag":5})");
  {
    pqxx::connection c(db->url());
    pqxx::work txn(c);
    txn.exec_params(
        "UPDATE projection_checkpoints SET error = 'does not parse', error_position = 1 "
        "WHERE name = 'payments' AND partition_id = $1",
        partition);
    txn.commit();
  }
  HttpResponse stopped = Readiness(options).Check();
  CHECK(stopped.status == 503);
  CHECK(absl::StrContains(stopped.body, "projection_stopped"));

  // A binary that expects one more migration than the database has.
  ReadinessOptions newer = options;
  newer.migrations.push_back({9999, "9999_later.sql", "SELECT 1;"});
  HttpResponse behind = Readiness(newer).Check();
  CHECK(behind.status == 503);
  CHECK(absl::StrContains(behind.body, "schema_not_current"));

  ReadinessOptions nowhere = options;
  nowhere.database_url = "host=/nonexistent port=1 user=postgres dbname=none connect_timeout=2";
  HttpResponse down = Readiness(nowhere).Check();
  CHECK(down.status == 503);
  CHECK(absl::StrContains(down.body, "database_unavailable"));
}

}  // namespace
}  // namespace tally::http
