#include "tests/support/pg.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::testing {

std::string AdminUrl() {
  const char* url = std::getenv("TALLY_TEST_DATABASE_URL");
  REQUIRE_MESSAGE(url != nullptr,
                  "TALLY_TEST_DATABASE_URL is not set: run the tests through scripts/test");
  return url;
}

std::unique_ptr<ledger::ScratchDatabase> NewDatabase(int partitions) {
  auto db = ledger::ScratchDatabase::Create(AdminUrl(), "tally_test", partitions);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(*db);
}

std::unique_ptr<ledger::EventStore> OpenStore(const std::string& url,
                                              ledger::AppenderOptions appender) {
  ledger::EventStoreOptions options;
  options.database_url = url;
  options.appender = std::move(appender);
  auto store = ledger::EventStore::Open(std::move(options));
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(*store);
}

ledger::EventData PaymentCreatedEvent(const std::string& marker, int64_t amount_minor) {
  payments::v1::PaymentCreated created;
  created.set_tenant_id("tenant-1");
  created.set_payment_id(marker);
  created.mutable_amount()->set_amount_minor(amount_minor);
  created.mutable_amount()->set_currency("BRL");
  ledger::v1::Metadata metadata;
  metadata.set_request_id(marker);
  metadata.set_source(ledger::v1::SOURCE_API);
  return {"tally.payments.v1.PaymentCreated", created.SerializeAsString(),
          metadata.SerializeAsString()};
}

ledger::AppendRequest Request(const std::string& tenant, const std::string& stream,
                              ledger::ExpectedVersion expected,
                              std::vector<ledger::EventData> events, std::string key) {
  ledger::AppendRequest request;
  request.tenant_key = tenant;
  request.stream_id = stream;
  request.expected = expected;
  request.events = std::move(events);
  request.idempotency_key = std::move(key);
  return request;
}

std::string MarkerOf(const ledger::RecordedEvent& event) {
  ledger::v1::Metadata metadata;
  REQUIRE(metadata.ParseFromString(event.metadata));
  return metadata.request_id();
}

std::vector<ledger::RecordedEvent> AllEvents(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  std::vector<ledger::RecordedEvent> events;
  for (const auto& row : txn.exec(absl::StrCat("SELECT ", ledger::kEventColumns,
                                               " FROM events ORDER BY partition_id, position"))) {
    events.push_back(ledger::RecordedEventFromRow(row));
  }
  return events;
}

void ExecAsOwner(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction txn(conn);
  txn.exec(sql);
}

CommandResult RunCommand(const std::string& command_line) {
  CommandResult result{-1, ""};
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string TallyBinary() {
  const char* binary = std::getenv("TALLY_BINARY");
  REQUIRE_MESSAGE(binary != nullptr, "TALLY_BINARY is not set");
  return binary;
}

}  // namespace tally::testing
