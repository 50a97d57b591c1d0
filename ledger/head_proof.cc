#include "ledger/head_proof.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "ledger/hash_chain.h"

namespace tally::ledger {
namespace {

constexpr int64_t kBatch = 10000;

constexpr const char* kPartitionExists = "SELECT 1 FROM ledger_heads WHERE partition_id = $1";

HeadCheck CheckPartition(pqxx::transaction_base& txn, const SignedHead& signed_head) {
  HeadCheck check;
  check.partition = signed_head.partition;
  check.position = signed_head.position;
  if (txn.exec_params(kPartitionExists, signed_head.partition).empty()) {
    check.match = HeadMatch::kMissingPartition;
    return check;
  }
  const std::string sql = absl::StrCat("SELECT ", kEventColumns,
                                       " FROM events WHERE partition_id = $1 AND position > $2 "
                                       "AND position <= $3 ORDER BY position LIMIT $4");
  std::string prev = GenesisHash();
  int64_t position = 0;
  while (position < signed_head.position) {
    pqxx::result rows =
        txn.exec_params(sql, signed_head.partition, position, signed_head.position, kBatch);
    for (const auto& row : rows) {
      RecordedEvent event = RecordedEventFromRow(row);
      if (event.position != position + 1) {
        check.match = HeadMatch::kHeadDiffers;
        check.missing_position = position + 1;
        return check;
      }
      position = event.position;
      prev = ChainHash(prev, event);
    }
    if (rows.size() < static_cast<size_t>(kBatch)) break;
  }
  if (position < signed_head.position) {
    check.match = HeadMatch::kBeyondLog;
    check.log_position = position;
    return check;
  }
  check.log_head_hex = HexEncode(prev);
  check.match =
      check.log_head_hex == signed_head.head_hex ? HeadMatch::kVerified : HeadMatch::kHeadDiffers;
  return check;
}

}  // namespace

absl::StatusOr<std::vector<HeadCheck>> CheckSignedHeads(const std::string& database_url,
                                                        const std::vector<SignedHead>& heads) {
  auto conn = Connect(database_url, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    std::vector<HeadCheck> checks;
    for (const SignedHead& head : heads) checks.push_back(CheckPartition(txn, head));
    return checks;
  } catch (const std::exception& e) {
    return StatusFromException(e, "checking signed heads");
  }
}

}  // namespace tally::ledger
