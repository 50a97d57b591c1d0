#include "ledger/scratch_database.h"

#include <unistd.h>

#include <atomic>
#include <pqxx/pqxx>
#include <random>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/migration.h"

namespace tally::ledger {

absl::StatusOr<std::unique_ptr<ScratchDatabase>> ScratchDatabase::Create(
    const std::string& admin_url, const std::string& prefix, int partitions) {
  static std::atomic<int> counter{0};
  std::random_device random;
  const std::string name =
      absl::StrCat(prefix, "_", getpid(), "_", counter++, "_", random() % 1000000);
  auto url = WithDatabaseName(admin_url, name);
  if (!url.ok()) return url.status();
  {
    auto conn = Connect(admin_url, Session::kOwner);
    if (!conn.ok()) return conn.status();
    try {
      pqxx::nontransaction txn(**conn);
      txn.exec(absl::StrCat("CREATE DATABASE ", txn.quote_name(name)));
    } catch (const std::exception& e) {
      return StatusFromException(e, "creating a scratch database");
    }
  }
  std::unique_ptr<ScratchDatabase> db(new ScratchDatabase(admin_url, name, *url));
  auto report = ApplyMigrations(db->url(), EmbeddedMigrations(), partitions);
  if (!report.ok()) return report.status();
  return db;
}

ScratchDatabase::~ScratchDatabase() {
  auto conn = Connect(admin_url_, Session::kOwner);
  if (!conn.ok()) return;
  try {
    pqxx::nontransaction txn(**conn);
    txn.exec(absl::StrCat("DROP DATABASE IF EXISTS ", txn.quote_name(name_), " WITH (FORCE)"));
  } catch (const std::exception&) {
    // Best effort: a leftover scratch database is harmless and named for what it is.
  }
}

}  // namespace tally::ledger
