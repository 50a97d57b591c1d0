#pragma once
// Helpers for tests that need PostgreSQL (`*_pgtest.cc`). The server comes from
// TALLY_TEST_DATABASE_URL (scripts/test starts a private cluster and sets it); each test gets
// its own scratch database, so tests cannot see each other. A missing URL fails the test: a
// database test that silently skips proves nothing.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ledger/event.h"
#include "ledger/event_store.h"
#include "ledger/scratch_database.h"

namespace tally::testing {

std::string AdminUrl();

std::unique_ptr<ledger::ScratchDatabase> NewDatabase(int partitions = 1);

std::unique_ptr<ledger::EventStore> OpenStore(const std::string& url,
                                              ledger::AppenderOptions appender = {});

// A valid PaymentCreated event whose metadata carries `marker` as its request id.
ledger::EventData PaymentCreatedEvent(const std::string& marker, int64_t amount_minor = 1990);

ledger::AppendRequest Request(const std::string& tenant, const std::string& stream,
                              ledger::ExpectedVersion expected,
                              std::vector<ledger::EventData> events, std::string key = "");

// The request id stored in an event's metadata.
std::string MarkerOf(const ledger::RecordedEvent& event);

// Every event of every partition, in (partition, position) order, read as the owner.
std::vector<ledger::RecordedEvent> AllEvents(const std::string& url);

// Runs one SQL statement as the URL's user (the superuser in tests).
void ExecAsOwner(const std::string& url, const std::string& sql);

// Runs a command line through the shell; returns exit code and combined output.
struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult RunCommand(const std::string& command_line);

// The tally binary under test (TALLY_BINARY, set by scripts/test and by CTest).
std::string TallyBinary();

}  // namespace tally::testing
