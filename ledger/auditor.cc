#include "ledger/auditor.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "ledger/hash_chain.h"

namespace tally::ledger {
namespace {

constexpr int64_t kBatch = 10000;

PartitionVerification VerifyPartition(pqxx::transaction_base& txn, int partition,
                                      int64_t head_position, const std::string& head_hash,
                                      const VerifyProgress& progress) {
  PartitionVerification result;
  result.partition = partition;
  std::string prev = GenesisHash();
  const std::string sql = absl::StrCat("SELECT ", kEventColumns,
                                       " FROM events WHERE partition_id = $1 AND position > $2 "
                                       "ORDER BY position LIMIT $3");
  auto fail = [&](int64_t position, std::string problem) {
    result.ok = false;
    result.bad_position = position;
    result.problem = std::move(problem);
  };
  int64_t position = 0;
  for (;;) {
    pqxx::result rows = txn.exec_params(sql, partition, position, kBatch);
    for (const auto& row : rows) {
      RecordedEvent event = RecordedEventFromRow(row);
      if (event.position != position + 1) {
        fail(position + 1, absl::StrCat("position missing (next present is ", event.position, ")"));
        return result;
      }
      position = event.position;
      if (event.prev_hash != prev) {
        fail(position, "prev_hash is not the previous event's hash");
        return result;
      }
      if (ChainHash(prev, event) != event.hash) {
        fail(position, "hash mismatch");
        return result;
      }
      prev = event.hash;
      ++result.events;
      result.head_hex = HexEncode(prev);
    }
    if (progress) progress(partition, result.events);
    if (rows.size() < static_cast<size_t>(kBatch)) break;
  }
  if (position != head_position) {
    fail(position + 1,
         absl::StrCat("ledger_heads says ", head_position, " events, found ", position));
  } else if (head_hash != prev) {
    fail(position, "ledger_heads hash differs from the last event's hash");
  }
  return result;
}

}  // namespace

absl::StatusOr<std::vector<PartitionVerification>> VerifyLog(const std::string& database_url,
                                                             const VerifyProgress& progress) {
  auto conn = Connect(database_url, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    std::vector<PartitionVerification> results;
    for (const auto& head :
         txn.exec("SELECT partition_id, position, hash FROM ledger_heads ORDER BY partition_id")) {
      results.push_back(VerifyPartition(txn, head[0].as<int>(), head[1].as<int64_t>(),
                                        BytesFromField(head[2]), progress));
    }
    return results;
  } catch (const std::exception& e) {
    return StatusFromException(e, "verifying the log");
  }
}

}  // namespace tally::ledger
