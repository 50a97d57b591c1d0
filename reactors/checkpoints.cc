#include "reactors/checkpoints.h"

#include "absl/strings/str_cat.h"
#include "ledger/database.h"

namespace tally::reactors {
namespace {

constexpr const char* kEnsure =
    "INSERT INTO reactor_checkpoints (name, partition_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
constexpr const char* kRead =
    "SELECT position FROM reactor_checkpoints WHERE name = $1 AND partition_id = $2";
constexpr const char* kReadLocked =
    "SELECT position FROM reactor_checkpoints WHERE name = $1 AND partition_id = $2 FOR UPDATE";
constexpr const char* kMove =
    "UPDATE reactor_checkpoints SET position = $3, updated_at = now(), error = NULL, "
    "error_position = NULL WHERE name = $1 AND partition_id = $2";
constexpr const char* kPoison =
    "UPDATE reactor_checkpoints SET error = $3, error_position = $4, updated_at = now() "
    "WHERE name = $1 AND partition_id = $2";

}  // namespace

absl::StatusOr<int64_t> ReadCheckpoint(pqxx::transaction_base& txn, const std::string& name,
                                       int partition, bool lock) {
  try {
    txn.exec_params(kEnsure, name, partition);
    pqxx::result row = txn.exec_params(lock ? kReadLocked : kRead, name, partition);
    return row[0][0].as<int64_t>();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("reading the checkpoint of ", name));
  }
}

absl::Status MoveCheckpoint(pqxx::transaction_base& txn, const std::string& name, int partition,
                            int64_t position) {
  try {
    txn.exec_params(kMove, name, partition, position);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("moving the checkpoint of ", name));
  }
}

absl::Status RecordPoison(pqxx::transaction_base& txn, const std::string& name, int partition,
                          int64_t position, const std::string& error) {
  try {
    txn.exec_params(kPoison, name, partition, error, position);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, absl::StrCat("recording the poison of ", name));
  }
}

}  // namespace tally::reactors
