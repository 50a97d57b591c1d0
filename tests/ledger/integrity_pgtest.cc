// The log's integrity in the database itself: immutability (trigger and grants), tamper
// detection by the hash chain, and an appender whose connection dies mid-batch.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ledger/auditor.h"
#include "ledger/database.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

using testing::PaymentCreatedEvent;
using testing::Request;

void AppendSome(const std::string& url, int tenants) {
  auto store = testing::OpenStore(url);
  for (int i = 0; i < tenants * 3; ++i) {
    REQUIRE(store
                ->Append(Request(absl::StrCat("tenant-", i % tenants), absl::StrCat("s", i % 5),
                                 ExpectedVersion::Any(), {PaymentCreatedEvent("e")}))
                .ok());
  }
}

// The SQLSTATE of running `sql` in `session`, or "" when it succeeded. libpqxx 6.4 leaves
// sqlstate() empty on the exception subclasses it maps (insufficient_privilege among them), so
// the class is checked first.
std::string SqlStateOf(const std::string& url, Session session, const std::string& sql) {
  auto conn = Connect(url, session);
  REQUIRE(conn.ok());
  try {
    pqxx::work txn(**conn);
    txn.exec(sql);
    txn.commit();
    return "";
  } catch (const pqxx::insufficient_privilege&) {
    return "42501";
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate().empty() ? std::string(e.what()) : e.sqlstate();
  }
}

TEST_CASE("UPDATE, DELETE and TRUNCATE on events fail for the service role and for the owner") {
  auto db = testing::NewDatabase();
  AppendSome(db->url(), 1);
  const char* statements[] = {
      "UPDATE events SET payload = '\\x00' WHERE position = 1",
      "DELETE FROM events WHERE position = 1",
      "TRUNCATE events",
  };
  for (const char* sql : statements) {
    INFO(sql);
    // The service role lacks the privilege; the owner (a superuser here) meets the trigger.
    CHECK(SqlStateOf(db->url(), Session::kService, sql) == "42501");
    CHECK(SqlStateOf(db->url(), Session::kOwner, sql) == "42501");
  }
  CHECK(testing::AllEvents(db->url()).size() == 3);
  // The service role can still do its job.
  CHECK(SqlStateOf(db->url(), Session::kService, "SELECT count(*) FROM events").empty());
}

TEST_CASE("a payload edited behind the trigger's back is named by audit verify") {
  auto db = testing::NewDatabase(4);
  AppendSome(db->url(), 8);
  auto clean = VerifyLog(db->url());
  REQUIRE(clean.ok());
  for (const auto& p : *clean) CHECK(p.ok);

  // Pick the third event of some partition and tamper with it as a superuser.
  const auto events = testing::AllEvents(db->url());
  const RecordedEvent& victim = events[events.size() / 2];
  testing::ExecAsOwner(
      db->url(),
      absl::StrCat("BEGIN; ALTER TABLE events DISABLE TRIGGER events_no_update_delete; "
                   "UPDATE events SET payload = payload || '\\x00'::bytea WHERE partition_id = ",
                   victim.partition, " AND position = ", victim.position,
                   "; ALTER TABLE events ENABLE TRIGGER events_no_update_delete; COMMIT;"));

  auto tampered = VerifyLog(db->url());
  REQUIRE(tampered.ok());
  for (const auto& p : *tampered) {
    if (p.partition == victim.partition) {
      CHECK_FALSE(p.ok);
      CHECK(p.bad_position == victim.position);
      CHECK(p.events == victim.position - 1);
    } else {
      CHECK(p.ok);
    }
  }

  auto cli = testing::RunCommand(absl::StrCat("TALLY_DATABASE_URL='", db->url(), "' ",
                                              testing::TallyBinary(), " audit verify"));
  CHECK(cli.exit_code == 1);
  CHECK(cli.output.find(absl::StrCat("hash mismatch at partition ", victim.partition, " position ",
                                     victim.position)) != std::string::npos);
}

TEST_CASE("audit verify on an intact log exits 0 and prints each partition's head") {
  auto db = testing::NewDatabase(2);
  AppendSome(db->url(), 4);
  auto cli = testing::RunCommand(
      absl::StrCat(testing::TallyBinary(), " audit verify --database '", db->url(), "'"));
  CHECK(cli.exit_code == 0);
  CHECK(cli.output.find("partition 0: verified ") != std::string::npos);
  CHECK(cli.output.find("partition 1: verified ") != std::string::npos);
  CHECK(cli.output.find(" events, head ") != std::string::npos);
}

TEST_CASE("the appender's connection killed mid-batch: errors, nothing half-written, no loss") {
  auto db = testing::NewDatabase();
  const std::string admin_url = db->url();
  std::atomic<int> batches{0};
  std::atomic<int> kills{0};
  AppenderOptions options;
  options.before_commit = [&](int backend_pid) {
    // Every fifth batch loses its connection after writing its rows, before COMMIT.
    if (batches.fetch_add(1) % 5 != 4) return;
    pqxx::connection admin(admin_url);
    pqxx::nontransaction txn(admin);
    // pg_terminate_backend only signals; wait until the backend is gone, so that COMMIT
    // really meets a dead connection.
    txn.exec_params("SELECT pg_terminate_backend($1, 5000)", backend_pid);
    kills.fetch_add(1);
  };
  auto store = testing::OpenStore(db->url(), options);

  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::vector<std::string> failed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string marker = absl::StrCat("t", t, "-", i);
        auto result = store->Append(
            Request("tenant", absl::StrCat("payment-", t), ExpectedVersion::Any(),
                    {PaymentCreatedEvent(marker), PaymentCreatedEvent(marker + "b")}));
        std::lock_guard lock(mu);
        if (result.ok()) {
          acknowledged.push_back(marker);
        } else {
          CHECK_MESSAGE(result.status().code() == absl::StatusCode::kUnavailable,
                        result.status().ToString());
          failed.push_back(marker);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(kills.load() > 0);
  CHECK(failed.size() > 0);
  CHECK(acknowledged.size() > 0);

  std::set<std::string> present;
  for (const auto& event : testing::AllEvents(db->url())) present.insert(testing::MarkerOf(event));
  for (const auto& marker : acknowledged) {
    CHECK(present.contains(marker));
    CHECK(present.contains(marker + "b"));
  }
  for (const auto& marker : failed) {
    CHECK_FALSE(present.contains(marker));
    CHECK_FALSE(present.contains(marker + "b"));
  }
  CHECK(present.size() == 2 * acknowledged.size());
  auto verification = VerifyLog(db->url());
  REQUIRE(verification.ok());
  CHECK((*verification)[0].ok);
  CHECK((*verification)[0].events == static_cast<int64_t>(2 * acknowledged.size()));
}

TEST_CASE("appender backends killed at random moments: every acknowledged append survives") {
  // The production path (no hook: the write call commits by itself), with the appender's
  // backend terminated from outside while appends are in flight. Whatever the moment, an
  // acknowledged append is in the log and a failed one is not (an outcome lost with the
  // connection is resolved before answering).
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  std::atomic<bool> done{false};
  std::atomic<int> kills{0};
  std::atomic<int> acknowledged_so_far{0};
  std::thread killer([&] {
    pqxx::connection admin(db->url());
    std::mt19937 random(7);
    int seen = 0;
    while (!done.load()) {
      // Let the appender reconnect and make progress between kills (a reconnect takes a few
      // milliseconds on a loaded machine), then kill at a random moment.
      if (acknowledged_so_far.load() == seen) {
        std::this_thread::yield();
        continue;
      }
      seen = acknowledged_so_far.load();
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(random)));
      pqxx::nontransaction txn(admin);
      pqxx::result killed = txn.exec(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          "WHERE application_name = 'tally-appender-0' AND datname = current_database()");
      if (!killed.empty()) kills.fetch_add(1);
    }
  });
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> outcomes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const std::string marker = absl::StrCat("t", t, "-", i);
        auto result =
            store->Append(Request("tenant", absl::StrCat("payment-", t % 3), ExpectedVersion::Any(),
                                  {PaymentCreatedEvent(marker)}, absl::StrCat("key-", marker)));
        std::lock_guard lock(mu);
        if (!result.ok()) {
          CHECK_MESSAGE(result.status().code() == absl::StatusCode::kUnavailable,
                        result.status().ToString());
        } else {
          acknowledged_so_far.fetch_add(1);
        }
        outcomes.emplace_back(marker, result.ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  done = true;
  killer.join();
  MESSAGE(kills.load(), " kills");
  CHECK(kills.load() > 5);

  std::set<std::string> present;
  for (const auto& event : testing::AllEvents(db->url())) present.insert(testing::MarkerOf(event));
  size_t acknowledged = 0;
  for (const auto& [marker, ok] : outcomes) {
    if (ok) {
      ++acknowledged;
      CHECK_MESSAGE(present.contains(marker), "acknowledged and lost: ", marker);
    } else {
      CHECK_MESSAGE(!present.contains(marker), "reported failed but written: ", marker);
    }
  }
  CHECK(acknowledged > 0);
  CHECK(present.size() == acknowledged);
  auto verification = VerifyLog(db->url());
  REQUIRE(verification.ok());
  CHECK_MESSAGE((*verification)[0].ok, (*verification)[0].problem);
}

}  // namespace
}  // namespace tally::ledger
