// Projection table helpers on real PostgreSQL: a failed statement comes back as a Status with
// the most specific code, not as a libpqxx exception.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "projections/table.h"
#include "tests/support/pg.h"

namespace tally::projections {
namespace {

const TableSpec kSpec{"things", {{"id", "text"}, {"n", "bigint"}}, 1, "CHECK (n >= 0)"};

TEST_CASE("table helpers report failed statements as a Status") {
  auto db = testing::NewDatabase();
  pqxx::connection conn(db->url());
  {
    pqxx::work txn(conn);
    auto rows = LoadRows(txn, kSpec, "proj_missing", {{"a"}});
    CHECK(rows.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(rows.status().message()).find("loading rows of proj_missing") == 0);
  }
  {
    pqxx::work txn(conn);
    CHECK(UpsertRows(txn, kSpec, "proj_missing", {{"a", "1"}}).code() ==
          absl::StatusCode::kFailedPrecondition);
  }
  {
    pqxx::work txn(conn);
    CHECK(DeleteRows(txn, kSpec, "proj_missing", {{"a"}}).code() ==
          absl::StatusCode::kFailedPrecondition);
  }
  testing::ExecAsOwner(db->url(), CreateTableSql(kSpec, "proj_things"));
  pqxx::work txn(conn);
  REQUIRE(UpsertRows(txn, kSpec, "proj_things", {{"a", "1"}, {"b", "2"}}).ok());
  REQUIRE(AddRows(txn, kSpec, "proj_things", {{"a", "5"}}, {"n"}).ok());
  auto rows = LoadRows(txn, kSpec, "proj_things", {{"a"}, {"b"}, {"c"}});
  REQUIRE(rows.ok());
  CHECK(rows->size() == 2);
  CHECK(rows->at(KeyOf(kSpec, {"a"})) == Row{"a", "6"});
  CHECK(AddRows(txn, kSpec, "proj_things", {{"a", "-10"}}, {"n"}).code() ==
        absl::StatusCode::kInternal);  // the CHECK refuses it
}

}  // namespace
}  // namespace tally::projections
