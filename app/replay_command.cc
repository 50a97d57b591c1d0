// tally replay --stream S | --tenant T [--from TIME] [--to TIME]: NDJSON for auditors' tools.

#include <chrono>
#include <iostream>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/audit_commands.h"
#include "app/commands.h"
#include "ledger/database.h"
#include "ledger/event_json.h"
#include "ledger/event_registry.h"
#include "ledger/event_rows.h"
#include "ledger/event_store.h"
#include "tenants/stream_tenants.h"

namespace tally::app {
namespace {

constexpr int64_t kBatch = 1000;
constexpr auto kProgressEvery = std::chrono::seconds(2);

struct ReplayCli {
  std::string database_url;
  std::string stream;
  std::string tenant;
  std::string from;
  std::string to;
};

// The bounds as PostgreSQL reads them; "-infinity" / "infinity" when not given.
absl::StatusOr<std::string> Bound(const std::string& flag, const std::string& text,
                                  const char* open) {
  if (text.empty()) return std::string(open);
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", text, "\" is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)"));
  }
  return ledger::FormatMicros(absl::ToUnixMicros(time));
}

constexpr char kRecordedBetween[] =
    " AND recorded_at >= $3::timestamptz AND recorded_at <= $4::timestamptz";

class Replay {
 public:
  explicit Replay(pqxx::transaction_base& txn) : txn_(txn) {}

  void Write(const ledger::RecordedEvent& event) {
    std::cout << ledger::EventToJson(event, registry_) << '\n';
    ++written_;
  }
  // At most every two seconds, on stderr: where the read is.
  void Progress(int partition, int64_t position, int64_t head) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < kProgressEvery) return;
    last_progress_ = now;
    std::cerr << "replay: partition " << partition << " position " << position << " of " << head
              << ", " << written_ << " events written" << std::endl;
  }
  int64_t written() const { return written_; }
  pqxx::transaction_base& txn() { return txn_; }

 private:
  pqxx::transaction_base& txn_;
  const ledger::EventRegistry registry_ = ledger::EventRegistry::Default();
  int64_t written_ = 0;
  std::chrono::steady_clock::time_point last_progress_ = std::chrono::steady_clock::now();
};

// Every partition may hold the stream (its tenant key picks one); each is looked up by the
// (partition_id, stream_id, stream_version) index.
void ReplayStream(Replay& replay, const std::vector<std::pair<int, int64_t>>& heads,
                  const std::string& stream, const std::string& from, const std::string& to) {
  const std::string sql = absl::StrCat(
      "SELECT ", ledger::kEventColumns, " FROM events WHERE partition_id = $1 AND stream_id = $2",
      kRecordedBetween, " AND stream_version > $5 ORDER BY stream_version LIMIT $6");
  for (const auto& [partition, head] : heads) {
    int64_t version = 0;
    for (;;) {
      pqxx::result rows =
          replay.txn().exec_params(sql, partition, stream, from, to, version, kBatch);
      for (const auto& row : rows) {
        ledger::RecordedEvent event = ledger::RecordedEventFromRow(row);
        version = event.stream_version;
        replay.Write(event);
      }
      std::cout.flush();
      if (rows.size() < static_cast<size_t>(kBatch)) break;
    }
  }
}

// The tenant's partition in position order, keeping its streams' events (tenants/
// stream_tenants.h decides whose a stream is).
absl::Status ReplayTenant(Replay& replay, const std::vector<std::pair<int, int64_t>>& heads,
                          const std::string& tenant, const std::string& from,
                          const std::string& to) {
  const int partition = ledger::PartitionForKey(tenant, static_cast<int>(heads.size()));
  const int64_t head = heads[partition].second;
  const std::string stream_sql =
      absl::StrCat("SELECT ", ledger::kEventColumns,
                   " FROM events WHERE partition_id = $1 AND stream_id = $2 ORDER BY "
                   "stream_version");
  tenants::StreamTenants owners(
      [&replay, &stream_sql](
          int p, const std::string& stream) -> absl::StatusOr<std::vector<ledger::RecordedEvent>> {
        std::vector<ledger::RecordedEvent> events;
        for (const auto& row : replay.txn().exec_params(stream_sql, p, stream)) {
          events.push_back(ledger::RecordedEventFromRow(row));
        }
        return events;
      });
  const std::string sql = absl::StrCat("SELECT ", ledger::kEventColumns,
                                       " FROM events WHERE partition_id = $1 AND position > $2",
                                       kRecordedBetween, " ORDER BY position LIMIT $5");
  int64_t position = 0;
  for (;;) {
    pqxx::result rows = replay.txn().exec_params(sql, partition, position, from, to, kBatch);
    for (const auto& row : rows) {
      ledger::RecordedEvent event = ledger::RecordedEventFromRow(row);
      position = event.position;
      auto owner = owners.Of(event);
      if (!owner.ok()) return owner.status();
      if (*owner == tenant) replay.Write(event);
    }
    std::cout.flush();
    replay.Progress(partition, position, head);
    if (rows.size() < static_cast<size_t>(kBatch)) break;
  }
  return absl::OkStatus();
}

int RunReplay(const ReplayCli& cli) {
  if (cli.stream.empty() == cli.tenant.empty()) {
    return Fail(2, "replay: give either --stream or --tenant");
  }
  auto from = Bound("--from", cli.from, "-infinity");
  if (!from.ok()) return Fail(2, std::string(from.status().message()));
  auto to = Bound("--to", cli.to, "infinity");
  if (!to.ok()) return Fail(2, std::string(to.status().message()));
  if (cli.database_url.empty()) {
    return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  auto conn = ledger::Connect(cli.database_url, ledger::Session::kService);
  if (!conn.ok()) return Fail(2, std::string(conn.status().message()));
  int64_t written = 0;
  try {
    // One snapshot: the output is the log as it was when the replay began, however long it runs.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**conn);
    std::vector<std::pair<int, int64_t>> heads;
    for (const auto& row :
         txn.exec("SELECT partition_id, position FROM ledger_heads ORDER BY partition_id")) {
      heads.emplace_back(row[0].as<int>(), row[1].as<int64_t>());
    }
    if (heads.empty()) return Fail(2, "the log has no partitions: run tally migrate");
    Replay replay(txn);
    if (!cli.stream.empty()) {
      ReplayStream(replay, heads, cli.stream, *from, *to);
    } else if (absl::Status s = ReplayTenant(replay, heads, cli.tenant, *from, *to); !s.ok()) {
      return Fail(2, std::string(s.message()));
    }
    written = replay.written();
  } catch (const std::exception& e) {
    return Fail(2, std::string(ledger::StatusFromException(e, "replaying").message()));
  }
  std::cout.flush();
  std::cerr << "replay: " << written << " events" << std::endl;
  return 0;
}

}  // namespace

ChosenCommand AddReplayCommand(CLI::App& app) {
  auto cli = std::make_shared<ReplayCli>();
  auto* replay = app.add_subcommand(
      "replay",
      "Print a stream's events (--stream, in version order) or a tenant's (--tenant, every "
      "event of its streams in log order) as NDJSON for auditors' tools: one event per line with "
      "its partition, position, stream, version, type, recorded_at, payload and metadata as "
      "JSON, prev_hash and hash. Read in one snapshot and written as it is read; progress on "
      "stderr. --from and --to (RFC 3339, inclusive) keep events recorded in between.");
  replay
      ->add_option("--database", cli->database_url,
                   "PostgreSQL connection URL or conninfo string (env TALLY_DATABASE_URL)")
      ->envname("TALLY_DATABASE_URL");
  auto* stream =
      replay->add_option("--stream", cli->stream, "One stream, e.g. payment-stripe-pi_1");
  auto* tenant = replay->add_option("--tenant", cli->tenant, "Every stream of one tenant");
  stream->excludes(tenant);
  replay->add_option("--from", cli->from, "Only events recorded at or after this time");
  replay->add_option("--to", cli->to, "Only events recorded at or before this time");
  return [cli, replay]() -> std::optional<int> {
    if (*replay) return RunReplay(*cli);
    return std::nullopt;
  };
}

}  // namespace tally::app
