// Migrations: applied once, in order, recorded with their SHA-256; a changed file is refused;
// `tally serve` refuses a database that is behind the binary instead of crashing later.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/migration.h"
#include "ledger/scratch_database.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

// An empty database (no Tally schema) on the test server, dropped afterwards.
class EmptyDatabase {
 public:
  EmptyDatabase() : name_(absl::StrCat("tally_empty_", getpid(), "_", counter_++)) {
    testing::ExecAsOwner(testing::AdminUrl(), absl::StrCat("CREATE DATABASE ", name_));
    url_ = *WithDatabaseName(testing::AdminUrl(), name_);
  }
  ~EmptyDatabase() {
    testing::ExecAsOwner(testing::AdminUrl(),
                         absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  }
  const std::string& url() const { return url_; }

 private:
  static inline int counter_ = 0;
  std::string name_;
  std::string url_;
};

std::vector<MigrationFile> TwoFiles() {
  return {{1, "0001_first.sql", "CREATE TABLE first_table (id int);"},
          {2, "0002_second.sql", "CREATE TABLE second_table (id int);"}};
}

TEST_CASE("migrations apply in order, once, and record version and sha256") {
  EmptyDatabase db;
  auto report = ApplyMigrations(db.url(), EmbeddedMigrations(), 0);
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->applied.size() == EmbeddedMigrations().size());
  CHECK(report->partitions == 1);
  auto again = ApplyMigrations(db.url(), EmbeddedMigrations(), 0);
  REQUIRE(again.ok());
  CHECK(again->applied.empty());
  CHECK(CheckSchema(db.url(), EmbeddedMigrations()).ok());

  pqxx::connection conn(db.url());
  pqxx::read_transaction txn(conn);
  auto row = txn.exec("SELECT version, name, length(sha256) FROM schema_migrations ORDER BY 1")[0];
  CHECK(row[0].as<int>() == 1);
  CHECK(row[1].as<std::string>() == "0001_ledger.sql");
  CHECK(row[2].as<int>() == 64);
}

TEST_CASE("an applied file whose content changed is refused, naming the file") {
  EmptyDatabase db;
  auto files = TwoFiles();
  REQUIRE(ApplyMigrations(db.url(), files, 0).status().code() != absl::StatusCode::kInternal);
  files[0].sql += "\n-- edited after it was applied\n";
  auto refused = ApplyMigrations(db.url(), files, 0);
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(refused.status().message()).find("0001_first.sql") != std::string::npos);
  CHECK(CheckSchema(db.url(), files).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a database behind the binary is reported with the command that fixes it") {
  EmptyDatabase db;
  auto files = TwoFiles();
  std::vector<MigrationFile> older = {files[0]};
  // ledger_heads does not exist with these toy files, so only the schema part is exercised.
  (void)ApplyMigrations(db.url(), older, 0);
  absl::Status behind = CheckSchema(db.url(), files);
  CHECK(behind.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(behind.message()).find("run `tally migrate`") != std::string::npos);
  CHECK(std::string(behind.message()).find("0002_second.sql") != std::string::npos);
}

TEST_CASE("the partition count of an existing log cannot change") {
  EmptyDatabase db;
  REQUIRE(ApplyMigrations(db.url(), EmbeddedMigrations(), 4).ok());
  auto changed = ApplyMigrations(db.url(), EmbeddedMigrations(), 2);
  CHECK(changed.status().code() == absl::StatusCode::kInvalidArgument);
  auto same = ApplyMigrations(db.url(), EmbeddedMigrations(), 0);
  REQUIRE(same.ok());
  CHECK(same->partitions == 4);
}

TEST_CASE("tally serve refuses an unmigrated database, tally migrate fixes it") {
  EmptyDatabase db;
  const std::string env = absl::StrCat("TALLY_DATABASE_URL='", db.url(), "' ");
  auto serve = testing::RunCommand(env + testing::TallyBinary() + " serve --listen 127.0.0.1:0");
  CHECK(serve.exit_code == 2);
  CHECK(serve.output.find("run `tally migrate`") != std::string::npos);

  auto migrate = testing::RunCommand(env + testing::TallyBinary() + " migrate");
  CHECK(migrate.exit_code == 0);
  CHECK(migrate.output.find("applied 0001_ledger.sql") != std::string::npos);
}

TEST_CASE("tally events prints NDJSON with rendered payloads") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  REQUIRE(store
              ->Append(testing::Request("t", "payment-stripe-pi_9", ExpectedVersion::Any(),
                                        {testing::PaymentCreatedEvent("marker-1", 4990)}, "key-1"))
              .ok());
  auto out = testing::RunCommand(absl::StrCat(testing::TallyBinary(), " events --database '",
                                              db->url(), "' --stream payment-stripe-pi_9"));
  CHECK(out.exit_code == 0);
  CHECK(out.output.find("\"stream_id\":\"payment-stripe-pi_9\"") != std::string::npos);
  CHECK(out.output.find("\"amount_minor\":\"4990\"") != std::string::npos);
  CHECK(out.output.find("\"request_id\":\"marker-1\"") != std::string::npos);
  CHECK(out.output.find("\"idempotency_key\":\"key-1\"") != std::string::npos);
}

TEST_CASE("tally events renders an unknown event type as base64 without failing") {
  auto db = testing::NewDatabase();
  // Written as the owner, as a future binary with a newer event type would have.
  testing::ExecAsOwner(db->url(),
                       "INSERT INTO events VALUES (0, 1, 'future-1', 1, 'tally.future.v9.Thing', "
                       "'\\x0102'::bytea, ''::bytea, NULL, now(), "
                       "'\\x" +
                           std::string(64, '0') + "'::bytea, '\\x" + std::string(64, '1') +
                           "'::bytea)");
  auto out = testing::RunCommand(
      absl::StrCat(testing::TallyBinary(), " events --database '", db->url(), "'"));
  CHECK(out.exit_code == 0);
  CHECK(out.output.find("\"event_type\":\"tally.future.v9.Thing\"") != std::string::npos);
  CHECK(out.output.find("\"payload_base64\":\"AQI=\"") != std::string::npos);
}

}  // namespace
}  // namespace tally::ledger
