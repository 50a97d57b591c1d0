#include "reactors/operations.h"

#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

constexpr const char* kCheckpoints =
    "SELECT c.name, c.partition_id, c.position, COALESCE(h.position, 0), COALESCE(c.error, ''), "
    "COALESCE(c.error_position, 0) FROM reactor_checkpoints c "
    "LEFT JOIN ledger_heads h ON h.partition_id = c.partition_id ORDER BY c.name, c.partition_id";
constexpr const char* kOutbox =
    "SELECT reactor, partition_id, "
    "count(*) FILTER (WHERE state = 'due'), count(*) FILTER (WHERE state = 'in_flight'), "
    "count(*) FILTER (WHERE state = 'parked'), count(*) FILTER (WHERE state = 'done'), "
    "COALESCE(sum(unresolved_attempts), 0), "
    "COALESCE(min(due_at_us) FILTER (WHERE state IN ('due', 'in_flight')), 0) "
    "FROM outbox GROUP BY reactor, partition_id";
constexpr const char* kQueue =
    "SELECT partition_id, count(*) FILTER (WHERE state = 'pending'), "
    "count(*) FILTER (WHERE state = 'done'), "
    "COALESCE(min(next_poll_at_us) FILTER (WHERE state = 'pending'), 0) "
    "FROM reconciliation_queue GROUP BY partition_id";
constexpr const char* kIntents =
    "SELECT partition_id, count(*) FILTER (WHERE state = 'open'), "
    "count(*) FILTER (WHERE state = 'unresolved'), "
    "count(*) FILTER (WHERE state IN ('recorded', 'absent')), "
    "COALESCE(min(due_at_us) FILTER (WHERE state = 'open'), 0) "
    "FROM charge_intents GROUP BY partition_id";
// Parked outbox items, and charge intents nobody could settle (the operator's to look into).
constexpr const char* kParked =
    "SELECT * FROM ("
    "SELECT reactor, partition_id, stream_id, tenant_id, next_attempt - 1, "
    "COALESCE(last_error, '') FROM outbox WHERE state = 'parked' "
    "UNION ALL SELECT 'charge_intents', partition_id, 'charge-' || payment_id, tenant_id, "
    "attempt, gateway || ': ' || COALESCE(reason, '') || ': ' || COALESCE(detail, '') "
    "FROM charge_intents WHERE state = 'unresolved') parked "
    "WHERE ($1 = '' OR reactor = $1) ORDER BY 1, 2, 3";

}  // namespace

absl::StatusOr<std::vector<ReactorPartitionStatus>> ReadReactorStatus(
    const std::string& database_url, int64_t now_us) {
  auto connection = ledger::Connect(database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  try {
    pqxx::read_transaction txn(**connection);
    std::vector<ReactorPartitionStatus> out;
    std::map<std::pair<std::string, int>, size_t> index;
    std::map<int, int64_t> heads;
    for (const auto& row : txn.exec(kCheckpoints)) {
      ReactorPartitionStatus s;
      s.reactor = row[0].as<std::string>();
      s.partition = row[1].as<int>();
      s.checkpoint = row[2].as<int64_t>();
      s.head = row[3].as<int64_t>();
      s.error = row[4].as<std::string>();
      s.error_position = row[5].as<int64_t>();
      heads[s.partition] = s.head;
      index[{s.reactor, s.partition}] = out.size();
      out.push_back(std::move(s));
    }
    auto entry = [&](const std::string& name, int partition) -> ReactorPartitionStatus& {
      auto it = index.find({name, partition});
      if (it != index.end()) return out[it->second];
      ReactorPartitionStatus s;
      s.reactor = name;
      s.partition = partition;
      s.head = heads[partition];
      index[{name, partition}] = out.size();
      out.push_back(std::move(s));
      return out.back();
    };
    for (const auto& row : txn.exec(kOutbox)) {
      // Each outbox kind is shown under its sender's name, with the fold's checkpoint.
      ReactorPartitionStatus& s =
          entry(absl::StrCat("outbox:", row[0].as<std::string>()), row[1].as<int>());
      if (auto fold = index.find({"outbox", s.partition}); fold != index.end()) {
        s.checkpoint = out[fold->second].checkpoint;
      }
      s.backlog = row[2].as<int64_t>();
      s.in_flight = row[3].as<int64_t>();
      s.parked = row[4].as<int64_t>();
      s.done = row[5].as<int64_t>();
      s.unresolved_attempts = row[6].as<int64_t>();
      const int64_t oldest = row[7].as<int64_t>();
      s.oldest_due_age_us = oldest > 0 && oldest < now_us ? now_us - oldest : 0;
    }
    for (const auto& row : txn.exec(kQueue)) {
      ReactorPartitionStatus& s = entry("reconciliation_queue", row[0].as<int>());
      s.backlog = row[1].as<int64_t>();
      s.done = row[2].as<int64_t>();
      const int64_t oldest = row[3].as<int64_t>();
      s.oldest_due_age_us = oldest > 0 && oldest < now_us ? now_us - oldest : 0;
    }
    for (const auto& row : txn.exec(kIntents)) {
      ReactorPartitionStatus& s = entry("charge_intents", row[0].as<int>());
      s.backlog = row[1].as<int64_t>();
      s.parked = row[2].as<int64_t>();
      s.done = row[3].as<int64_t>();
      const int64_t oldest = row[4].as<int64_t>();
      s.oldest_due_age_us = oldest > 0 && oldest < now_us ? now_us - oldest : 0;
    }
    return out;
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading reactor status");
  }
}

absl::StatusOr<std::vector<ParkedItem>> ReadParked(const std::string& database_url,
                                                   const std::string& reactor) {
  auto connection = ledger::Connect(database_url, ledger::Session::kService);
  if (!connection.ok()) return connection.status();
  try {
    pqxx::read_transaction txn(**connection);
    std::vector<ParkedItem> out;
    for (const auto& row : txn.exec_params(kParked, reactor)) {
      out.push_back({row[0].as<std::string>(), row[1].as<int>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<int>(), row[5].as<std::string>()});
    }
    return out;
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading parked items");
  }
}

absl::StatusOr<int> RequestRetry(ledger::EventStore& store, const std::string& database_url,
                                 const std::string& stream_id, const std::string& reactor,
                                 const std::string& actor, const std::string& reason,
                                 int64_t now_us) {
  auto parked = ReadParked(database_url, reactor);
  if (!parked.ok()) return parked.status();
  int requested = 0;
  for (const ParkedItem& item : *parked) {
    if (!stream_id.empty() && item.stream_id != stream_id) continue;
    payments::v1::OutboxRetryRequested retry;
    retry.set_reactor(item.reactor);
    retry.set_reason(reason);
    ledger::v1::Metadata metadata;
    metadata.set_source(ledger::v1::SOURCE_ADMIN);
    metadata.set_actor(actor);
    metadata.set_received_at_us(now_us);
    auto appended = store.Append({item.tenant_id,
                                  item.stream_id,
                                  ledger::ExpectedVersion::Any(),
                                  {{"tally.payments.v1.OutboxRetryRequested",
                                    retry.SerializeAsString(), metadata.SerializeAsString()}},
                                  ""});
    if (!appended.ok()) return appended.status();
    ++requested;
  }
  if (requested == 0) {
    return absl::NotFoundError(stream_id.empty() ? "nothing is parked"
                                                 : absl::StrCat("nothing parked for ", stream_id));
  }
  return requested;
}

}  // namespace tally::reactors
