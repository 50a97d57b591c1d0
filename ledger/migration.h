#pragma once
// Schema migrations of the ledger's own tables, and the runner that applies them.
//
// Migrations are the numbered files in migrations/, compiled into the binary (see
// migrations/embed.cmake). ApplyMigrations applies the pending ones in order, each in its own
// transaction, recording version, name and SHA-256 in `schema_migrations`; it refuses to run
// when an applied file's content has changed (FailedPrecondition naming the file). Concurrent
// runs are serialised by an advisory lock. CheckSchema is what `tally serve` asks at start-up.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tally::ledger {

struct MigrationFile {
  int version;
  std::string name;
  std::string sql;
};

// The files compiled into this binary, in version order.
const std::vector<MigrationFile>& EmbeddedMigrations();

struct MigrationReport {
  std::vector<std::string> applied;  // names of the files applied by this run
  int version = 0;                   // schema version afterwards
  int partitions = 0;                // partitions of the log afterwards
};

// `partitions`: how many partitions a new log gets (0: one). On an existing log a different
// non-zero value is InvalidArgument: streams would move between partitions.
absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& database_url,
                                                const std::vector<MigrationFile>& files,
                                                int partitions);

// OK when every file is applied unchanged. FailedPrecondition, with a message that says to run
// `tally migrate`, when the database is behind; also when it is ahead of this binary or a file
// changed.
absl::Status CheckSchema(const std::string& database_url, const std::vector<MigrationFile>& files);

}  // namespace tally::ledger
