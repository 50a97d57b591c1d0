#include "ledger/partition_appender.h"

#include <pqxx/pqxx>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ledger/database.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"

namespace tally::ledger {
namespace {

constexpr const char* kLockHead = "ledger_lock_head";
constexpr const char* kLockHeadSql =
    "SELECT position, hash FROM ledger_heads WHERE partition_id = $1 FOR UPDATE";

constexpr const char* kFindKeys = "ledger_find_keys";
constexpr const char* kFindKeysSql =
    "SELECT idempotency_key, position, stream_version FROM events "
    "WHERE partition_id = $1 AND idempotency_key = ANY($2::text[])";

constexpr const char* kStreamVersions = "ledger_stream_versions";
constexpr const char* kStreamVersionsSql =
    "SELECT s.id, coalesce((SELECT max(e.stream_version) FROM events e "
    "                       WHERE e.partition_id = $1 AND e.stream_id = s.id), 0) "
    "FROM unnest($2::text[]) AS s(id)";

constexpr const char* kInsertEvents = "ledger_insert_events";
constexpr const char* kInsertEventsSql =
    "INSERT INTO events (partition_id, position, stream_id, stream_version, event_type, payload, "
    "                    metadata, idempotency_key, recorded_at, prev_hash, hash) "
    "SELECT $1, r.position, r.stream_id, r.stream_version, r.event_type, r.payload, r.metadata, "
    "       r.idempotency_key, $2::timestamptz, r.prev_hash, r.hash "
    "FROM unnest($3::bigint[], $4::text[], $5::int[], $6::text[], $7::bytea[], $8::bytea[], "
    "            $9::text[], $10::bytea[], $11::bytea[]) "
    "     AS r(position, stream_id, stream_version, event_type, payload, metadata, "
    "          idempotency_key, prev_hash, hash)";

constexpr const char* kMoveHead = "ledger_move_head";
constexpr const char* kMoveHeadSql =
    "UPDATE ledger_heads SET position = $2, hash = $3 WHERE partition_id = $1";

constexpr const char* kNotify = "ledger_notify";
constexpr const char* kNotifySql = "SELECT pg_notify($1, $2)";

std::string EventKey(const std::string& key, size_t index) {
  if (key.empty()) return "";
  if (index == 0) return key;
  return absl::StrCat(key, std::string(1, kIdempotencySuffixSeparator), index);
}

std::string NullableTextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (items[i].empty()) {
      out.append("NULL");
    } else {
      out.append(TextArrayLiteral({items[i]}), 1, std::string::npos);
      out.pop_back();
    }
  }
  out.push_back('}');
  return out;
}

std::string IntArray(const std::vector<int64_t>& items) {
  return absl::StrCat("{", absl::StrJoin(items, ","), "}");
}

std::string TimestampLiteral(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

// Everything an earlier append with `key` wrote: its events carry key, key#1, key#2, ...
std::optional<AppendResult> FindOriginal(pqxx::work& txn, int partition, const std::string& key) {
  AppendResult result;
  result.partition = partition;
  result.duplicate = true;
  constexpr size_t kChunk = 64;
  for (size_t start = 0;; start += kChunk) {
    std::vector<std::string> candidates;
    for (size_t i = start; i < start + kChunk; ++i) candidates.push_back(EventKey(key, i));
    pqxx::result rows = txn.exec_prepared(kFindKeys, partition, TextArrayLiteral(candidates));
    absl::flat_hash_map<std::string, std::pair<int64_t, int64_t>> found;
    for (const auto& row : rows) {
      found[row[0].as<std::string>()] = {row[1].as<int64_t>(), row[2].as<int64_t>()};
    }
    for (const auto& candidate : candidates) {
      auto it = found.find(candidate);
      if (it == found.end()) {
        if (result.positions.empty()) return std::nullopt;
        return result;
      }
      result.positions.push_back(it->second.first);
      result.last_version = it->second.second;
    }
  }
}

absl::Status CheckExpected(const AppendRequest& request, int64_t current) {
  const ExpectedVersion& expected = request.expected;
  switch (expected.kind()) {
    case ExpectedVersion::Kind::kAny:
      return absl::OkStatus();
    case ExpectedVersion::Kind::kNoStream:
      if (current == 0) return absl::OkStatus();
      return absl::AbortedError(absl::StrCat("stream \"", request.stream_id,
                                             "\" already exists (version ", current, ")"));
    case ExpectedVersion::Kind::kExact:
      if (current == expected.version()) return absl::OkStatus();
      return absl::AbortedError(absl::StrCat("wrong expected version for stream \"",
                                             request.stream_id, "\": expected ",
                                             expected.version(), ", stream is at ", current));
  }
  return absl::InternalError("unknown expected-version kind");
}

}  // namespace

struct PartitionAppender::Connection {
  std::unique_ptr<pqxx::connection> conn;
};

struct PartitionAppender::Pending {
  AppendRequest request;
  std::promise<absl::StatusOr<AppendResult>> done;
};

// The decision for one request within a batch: an answer that needs no write (conflict,
// duplicate) or a result that becomes true when the batch commits.
struct PartitionAppender::Planned {
  absl::StatusOr<AppendResult> answer;
  bool writes = false;
};

PartitionAppender::PartitionAppender(std::string database_url, int partition, const Clock& clock,
                                     AppenderOptions options)
    : database_url_(std::move(database_url)),
      partition_(partition),
      clock_(clock),
      options_(std::move(options)),
      writer_([this] { Run(); }) {}

PartitionAppender::~PartitionAppender() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

absl::StatusOr<AppendResult> PartitionAppender::Append(AppendRequest request) {
  auto pending = std::make_unique<Pending>();
  pending->request = std::move(request);
  auto answer = pending->done.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::UnavailableError("the appender is shutting down");
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return answer.get();
}

void PartitionAppender::Run() {
  for (;;) {
    std::vector<std::unique_ptr<Pending>> batch;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      size_t events = 0;
      while (!queue_.empty()) {
        const size_t n = queue_.front()->request.events.size();
        if (!batch.empty() && events + n > options_.max_batch_events) break;
        events += n;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    WriteBatch(batch);
  }
}

absl::Status PartitionAppender::EnsureConnection() {
  if (conn_ && conn_->conn->is_open()) return absl::OkStatus();
  conn_.reset();
  auto conn = Connect(database_url_, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    (*conn)->prepare(kLockHead, kLockHeadSql);
    (*conn)->prepare(kFindKeys, kFindKeysSql);
    (*conn)->prepare(kStreamVersions, kStreamVersionsSql);
    (*conn)->prepare(kInsertEvents, kInsertEventsSql);
    (*conn)->prepare(kMoveHead, kMoveHeadSql);
    (*conn)->prepare(kNotify, kNotifySql);
  } catch (const std::exception& e) {
    return StatusFromException(e, "preparing append statements");
  }
  conn_ = std::make_unique<Connection>(Connection{std::move(*conn)});
  return absl::OkStatus();
}

void PartitionAppender::WriteBatch(std::vector<std::unique_ptr<Pending>>& batch) {
  auto fail_all = [&](const absl::Status& status) {
    for (auto& pending : batch) pending->done.set_value(status);
  };
  if (absl::Status status = EnsureConnection(); !status.ok()) {
    fail_all(status);
    return;
  }

  std::vector<Planned> plans(batch.size());
  std::vector<RecordedEvent> rows;
  try {
    pqxx::work txn(*conn_->conn);
    pqxx::result head = txn.exec_prepared(kLockHead, partition_);
    if (head.empty()) {
      fail_all(absl::FailedPreconditionError(absl::StrCat(
          "partition ", partition_, " has no ledger_heads row: run `tally migrate`")));
      return;
    }
    int64_t position = head[0][0].as<int64_t>();
    std::string prev_hash = BytesFromField(head[0][1]);

    std::vector<std::string> keys;
    std::vector<std::string> streams;
    absl::flat_hash_set<std::string> seen_streams;
    for (const auto& pending : batch) {
      if (!pending->request.idempotency_key.empty()) keys.push_back(pending->request.idempotency_key);
      if (seen_streams.insert(pending->request.stream_id).second) {
        streams.push_back(pending->request.stream_id);
      }
    }
    absl::flat_hash_set<std::string> keys_in_log;
    if (!keys.empty()) {
      for (const auto& row : txn.exec_prepared(kFindKeys, partition_, TextArrayLiteral(keys))) {
        keys_in_log.insert(row[0].as<std::string>());
      }
    }
    absl::flat_hash_map<std::string, int64_t> versions;
    for (const auto& row : txn.exec_prepared(kStreamVersions, partition_, TextArrayLiteral(streams))) {
      versions[row[0].as<std::string>()] = row[1].as<int64_t>();
    }

    // recorded_at never goes backwards within a partition, whatever the wall clock does.
    const int64_t recorded_at = std::max(clock_.NowMicros(), last_recorded_at_us_);
    absl::flat_hash_map<std::string, size_t> key_owner;  // key -> index of the writing request
    for (size_t i = 0; i < batch.size(); ++i) {
      const AppendRequest& request = batch[i]->request;
      const std::string& key = request.idempotency_key;
      if (!key.empty()) {
        if (auto it = key_owner.find(key); it != key_owner.end()) {
          AppendResult copy = *plans[it->second].answer;
          copy.duplicate = true;
          plans[i].answer = std::move(copy);
          continue;
        }
        if (keys_in_log.contains(key)) {
          std::optional<AppendResult> original = FindOriginal(txn, partition_, key);
          if (original.has_value()) {
            plans[i].answer = std::move(*original);
            continue;
          }
        }
      }
      int64_t& current = versions[request.stream_id];
      if (absl::Status status = CheckExpected(request, current); !status.ok()) {
        plans[i].answer = status;
        continue;
      }
      AppendResult result;
      result.partition = partition_;
      for (size_t e = 0; e < request.events.size(); ++e) {
        RecordedEvent row;
        row.partition = partition_;
        row.position = ++position;
        row.stream_id = request.stream_id;
        row.stream_version = ++current;
        row.type = request.events[e].type;
        row.payload = request.events[e].payload;
        row.metadata = request.events[e].metadata;
        row.idempotency_key = EventKey(key, e);
        row.recorded_at_us = recorded_at;
        row.prev_hash = prev_hash;
        row.hash = ChainHash(prev_hash, row);
        prev_hash = row.hash;
        result.positions.push_back(row.position);
        rows.push_back(std::move(row));
      }
      result.last_version = current;
      plans[i].answer = std::move(result);
      plans[i].writes = true;
      if (!key.empty()) key_owner[key] = i;
    }

    if (!rows.empty()) {
      std::vector<int64_t> positions, stream_versions;
      std::vector<std::string> stream_ids, types, event_keys;
      std::vector<absl::string_view> payloads, metadata, prev_hashes, hashes;
      for (const auto& row : rows) {
        positions.push_back(row.position);
        stream_versions.push_back(row.stream_version);
        stream_ids.push_back(row.stream_id);
        types.push_back(row.type);
        event_keys.push_back(row.idempotency_key);
        payloads.push_back(row.payload);
        metadata.push_back(row.metadata);
        prev_hashes.push_back(row.prev_hash);
        hashes.push_back(row.hash);
      }
      txn.exec_prepared(kInsertEvents, partition_, TimestampLiteral(recorded_at),
                        IntArray(positions), TextArrayLiteral(stream_ids),
                        IntArray(stream_versions), TextArrayLiteral(types),
                        ByteaArrayLiteral(payloads), ByteaArrayLiteral(metadata),
                        NullableTextArray(event_keys), ByteaArrayLiteral(prev_hashes),
                        ByteaArrayLiteral(hashes));
      pqxx::binarystring head_hash(rows.back().hash.data(), rows.back().hash.size());
      txn.exec_prepared(kMoveHead, partition_, position, head_hash);
      txn.exec_prepared(kNotify, absl::StrCat("tally_events_", partition_),
                        std::to_string(position));
    }
    if (options_.before_commit) options_.before_commit(conn_->conn->backendpid());
    txn.commit();
    last_recorded_at_us_ = recorded_at;
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    if (rows.empty()) {
      // Nothing was written by this transaction; every plan is already a final answer.
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(plans[i].answer));
      return;
    }
    absl::StatusOr<bool> committed = BatchCommitted(rows.back().position, rows.back().hash);
    if (!committed.ok() || !*committed) {
      const absl::Status status =
          committed.ok()
              ? absl::UnavailableError("the database connection was lost during COMMIT; the "
                                       "batch was verified as not written: retry")
              : absl::UnavailableError(absl::StrCat(
                    "the database connection was lost during COMMIT and the outcome could not "
                    "be determined (",
                    committed.status().message(), "): retry with the same idempotency key"));
      fail_all(status);
      return;
    }
    last_recorded_at_us_ = std::max(last_recorded_at_us_, rows.back().recorded_at_us);
  } catch (const std::exception& e) {
    if (!conn_->conn->is_open() || dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
      conn_.reset();
    }
    fail_all(StatusFromException(e, absl::StrCat("appending to partition ", partition_)));
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(std::move(plans[i].answer));
}

absl::StatusOr<bool> PartitionAppender::BatchCommitted(int64_t last_position,
                                                       const std::string& last_hash) {
  auto conn = Connect(database_url_, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::work txn(**conn);
    // The lost transaction holds this lock until it has committed or aborted.
    txn.exec_params("SELECT 1 FROM ledger_heads WHERE partition_id = $1 FOR UPDATE", partition_);
    pqxx::result row = txn.exec_params(
        "SELECT hash FROM events WHERE partition_id = $1 AND position = $2", partition_,
        last_position);
    txn.commit();
    return !row.empty() && BytesFromField(row[0][0]) == last_hash;
  } catch (const std::exception& e) {
    return StatusFromException(e, "resolving an in-doubt commit");
  }
}

}  // namespace tally::ledger
