// migrate, events, audit verify.

#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "app/commands.h"
#include "ledger/auditor.h"
#include "ledger/database.h"
#include "ledger/event_json.h"
#include "ledger/event_registry.h"
#include "ledger/event_rows.h"
#include "ledger/migration.h"

namespace tally::app {

absl::StatusOr<ListenAddress> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError("--listen must be HOST:PORT, got \"" + listen + "\"");
  }
  return ListenAddress{listen.substr(0, colon), static_cast<uint16_t>(port)};
}

int Fail(int code, const std::string& message) {
  std::cerr << "tally: " << message << "\n";
  return code;
}

int RunMigrate(const std::string& database_url, int partitions) {
  auto report = ledger::ApplyMigrations(database_url, ledger::EmbeddedMigrations(), partitions);
  if (!report.ok()) return Fail(2, std::string(report.status().message()));
  for (const auto& name : report->applied) std::cout << "applied " << name << "\n";
  std::cout << "schema at version " << report->version << ", " << report->partitions
            << (report->partitions == 1 ? " partition" : " partitions") << "\n";
  return 0;
}

int RunEvents(const EventsOptions& options) {
  auto conn = ledger::Connect(options.database_url, ledger::Session::kService);
  if (!conn.ok()) return Fail(2, std::string(conn.status().message()));
  const ledger::EventRegistry registry = ledger::EventRegistry::Default();
  // Keyset pagination over (partition_id, position) so output of any size streams in batches.
  const std::string sql = absl::StrCat(
      "SELECT ", ledger::kEventColumns,
      " FROM events WHERE (partition_id, position) > ($1, $2)"
      " AND ($3 = '' OR stream_id = $3) AND ($4 < 0 OR partition_id = $4) AND position >= $5"
      " ORDER BY partition_id, position LIMIT $6");
  constexpr int64_t kBatch = 1000;
  int last_partition = -1;
  int64_t last_position = 0;
  int64_t printed = 0;
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    for (;;) {
      int64_t want = kBatch;
      if (options.limit >= 0) want = std::min(want, options.limit - printed);
      if (want <= 0) break;
      pqxx::result rows = txn.exec_params(sql, last_partition, last_position, options.stream,
                                          options.partition, options.from, want);
      for (const auto& row : rows) {
        ledger::RecordedEvent event = ledger::RecordedEventFromRow(row);
        std::cout << ledger::EventToJson(event, registry) << "\n";
        last_partition = event.partition;
        last_position = event.position;
        ++printed;
      }
      if (rows.size() < static_cast<size_t>(want)) break;
    }
  } catch (const std::exception& e) {
    return Fail(2, std::string(ledger::StatusFromException(e, "reading events").message()));
  }
  std::cout.flush();
  return 0;
}

int RunAuditVerify(const std::string& database_url) {
  auto results = ledger::VerifyLog(database_url, [](int partition, int64_t done) {
    if (done > 0 && done % 100000 == 0) {
      std::cerr << "partition " << partition << ": " << done << " events verified\n";
    }
  });
  if (!results.ok()) return Fail(2, std::string(results.status().message()));
  int rc = 0;
  for (const auto& partition : *results) {
    if (partition.ok) {
      std::cout << "partition " << partition.partition << ": verified " << partition.events
                << " events, head " << (partition.events == 0 ? "(empty)" : partition.head_hex)
                << "\n";
    } else {
      std::cout << "hash mismatch at partition " << partition.partition << " position "
                << partition.bad_position << " (" << partition.problem << ")\n";
      rc = 1;
    }
  }
  return rc;
}

}  // namespace tally::app
