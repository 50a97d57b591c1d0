#include "ledger/partition_appender.h"

#include <pthread.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ledger/database.h"
#include "ledger/hash_chain.h"
#include "ledger/limits.h"
#include "metrics/metrics.h"

namespace tally::ledger {
namespace {

// The head, the current version of each stream of a batch, and which of its idempotency keys
// are in the log, in one snapshot. Lookups are correlated subqueries so that each one is an
// index probe whatever the planner believes about the table's size (see EnsureConnection).
constexpr const char* kReadSnapshot = "ledger_read_snapshot";
constexpr const char* kReadSnapshotSql =
    "SELECT 'h', '', position, hash FROM ledger_heads WHERE partition_id = $1 "
    "UNION ALL "
    "SELECT 'v', s.id, coalesce((SELECT max(e.stream_version) FROM events e "
    "                            WHERE e.partition_id = $1 AND e.stream_id = s.id), 0), NULL "
    "FROM unnest($2::text[]) AS s(id) "
    "UNION ALL "
    "SELECT 'k', k.key, 0, NULL FROM unnest($3::text[]) AS k(key) "
    "WHERE (SELECT e.position FROM events e "
    "       WHERE e.partition_id = $1 AND e.idempotency_key = k.key) IS NOT NULL";

constexpr const char* kFindKeys = "ledger_find_keys";
constexpr const char* kFindKeysSql =
    "SELECT k.key, e.position, e.stream_version FROM unnest($2::text[]) AS k(key) "
    "CROSS JOIN LATERAL (SELECT position, stream_version FROM events e "
    "                    WHERE e.partition_id = $1 AND e.idempotency_key = k.key) e";

// Writes a planned batch through ledger_append_batch (migrations/0001_ledger.sql): under the
// head lock, and only if the head and the claimed stream versions are as planned; the unique
// indexes reject a stream assumed new that exists and a key already used. Payloads, metadata
// and hashes travel as binary blobs sliced by offset, which costs the server far less than
// bytea[] literals.
constexpr const char* kWriteBatch = "ledger_write_batch";
constexpr const char* kWriteBatchSql =
    "SELECT ledger_append_batch($1, $2, $3, $4, $5::timestamptz, $6::text[], $7::int[],"
    " $8::text[], $9::text[], $10::int[], $11::int[], $12::int[], $13::int[], $14, $15, $16,"
    " $17, $18::text[], $19::int[])";

// A batch whose plan keeps being invalidated, or whose connection keeps dropping before it is
// written, is tried at most this many times.
constexpr int kMaxPlanAttempts = 50;
// The stream-version cache is dropped when it grows past this many streams.
constexpr size_t kMaxKnownStreams = 200000;

std::string EventKey(const std::string& key, size_t index) {
  if (key.empty()) return "";
  if (index == 0) return key;
  return absl::StrCat(key, std::string(1, kIdempotencySuffixSeparator), index);
}

// Events appended without a key store NULL.
std::string KeyArray(const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> items;
  items.reserve(keys.size());
  for (const auto& key : keys) {
    items.push_back(key.empty() ? std::nullopt : std::optional<std::string>(key));
  }
  return NullableTextArrayLiteral(items);
}

std::string IntArray(const std::vector<int64_t>& items) {
  return absl::StrCat("{", absl::StrJoin(items, ","), "}");
}

std::string TimestampLiteral(int64_t micros) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

// Everything an earlier append with `key` wrote: its events carry key, key#1, key#2, ...
std::optional<AppendResult> FindOriginal(pqxx::transaction_base& txn, int partition,
                                         const std::string& key) {
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
                                             request.stream_id, "\": expected ", expected.version(),
                                             ", stream is at ", current));
  }
  return absl::InternalError("unknown expected-version kind");
}

double SecondsSince(std::chrono::steady_clock::time_point start,
                    std::chrono::steady_clock::time_point now) {
  return std::chrono::duration<double>(now - start).count();
}

// Records one answered request in the process's metrics; returns the events it wrote.
size_t RecordAnswer(const absl::StatusOr<AppendResult>& answer, double seconds) {
  metrics::AppendOutcome outcome = metrics::AppendOutcome::kFailed;
  size_t written = 0;
  if (answer.ok()) {
    outcome =
        answer->duplicate ? metrics::AppendOutcome::kDuplicate : metrics::AppendOutcome::kAppended;
    if (!answer->duplicate) written = answer->positions.size();
  } else if (answer.status().code() == absl::StatusCode::kAborted) {
    outcome = metrics::AppendOutcome::kConflict;
  }
  metrics::RecordAppendRequest(outcome, seconds);
  return written;
}

}  // namespace

struct PartitionAppender::Connection {
  std::unique_ptr<pqxx::connection> conn;
};

struct PartitionAppender::Pending {
  AppendRequest request;
  AppendCallback done;
  size_t bytes = 0;  // payload and metadata of its events, counted against max_batch_bytes
  std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();
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
  std::promise<absl::StatusOr<AppendResult>> answer;
  auto result = answer.get_future();
  AppendAsync(std::move(request),
              [&answer](absl::StatusOr<AppendResult> r) { answer.set_value(std::move(r)); });
  return result.get();
}

void PartitionAppender::AppendAsync(AppendRequest request, AppendCallback done) {
  auto pending = std::make_unique<Pending>();
  pending->request = std::move(request);
  pending->done = std::move(done);
  for (const EventData& event : pending->request.events) {
    pending->bytes += event.payload.size() + event.metadata.size();
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      metrics::RecordAppendRequest(metrics::AppendOutcome::kFailed, 0);
      pending->done(absl::UnavailableError("the appender is shutting down"));
      return;
    }
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
}

void PartitionAppender::Run() {
  // Named for `top -H` and debuggers: "append-p<N>".
  pthread_setname_np(pthread_self(), absl::StrCat("append-p", partition_).substr(0, 15).c_str());
  for (;;) {
    std::vector<std::unique_ptr<Pending>> batch;
    BatchStats stats;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] {
        if (stopping_) return true;
        if (queue_.empty()) return false;
        return !options_.hold || !options_.hold(queue_.size());
      });
      if (queue_.empty()) return;
      while (!queue_.empty()) {
        const size_t n = queue_.front()->request.events.size();
        const size_t bytes = queue_.front()->bytes;
        // A request over either bound by itself still goes, alone.
        if (!batch.empty() && (stats.events + n > options_.max_batch_events ||
                               stats.bytes + bytes > options_.max_batch_bytes)) {
          break;
        }
        stats.events += n;
        stats.bytes += bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    stats.requests = batch.size();
    if (options_.on_batch) options_.on_batch(stats);
    WriteBatch(batch);
  }
}

absl::Status PartitionAppender::EnsureConnection() {
  if (conn_ && conn_->conn->is_open() && conn_->conn->sock() >= 0) return absl::OkStatus();
  conn_.reset();
  Forget();
  auto conn = Connect(database_url_, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::nontransaction txn(**conn);
    txn.exec(absl::StrCat("SET application_name = 'tally-appender-", partition_, "'"));
    // Every statement here is a handful of index probes. A generic plan cached while `events`
    // was still small would otherwise keep scanning it (measured: 10 ms per batch at 40k
    // events); without sequential scans the cached plans stay index probes as the log grows.
    txn.exec("SET enable_seqscan = off");
    (*conn)->prepare(kReadSnapshot, kReadSnapshotSql);
    (*conn)->prepare(kFindKeys, kFindKeysSql);
    (*conn)->prepare(kWriteBatch, kWriteBatchSql);
  } catch (const std::exception& e) {
    return StatusFromException(e, "preparing append statements");
  }
  conn_ = std::make_unique<Connection>(Connection{std::move(*conn)});
  return absl::OkStatus();
}

PartitionAppender::Snapshot PartitionAppender::SnapshotFromCache(
    const std::vector<std::unique_ptr<Pending>>& batch) const {
  Snapshot snapshot;
  snapshot.head_position = known_head_position_;
  snapshot.head_hash = known_head_hash_;
  for (const auto& pending : batch) {
    const AppendRequest& request = pending->request;
    if (snapshot.versions.contains(request.stream_id)) continue;
    if (auto it = known_versions_.find(request.stream_id); it != known_versions_.end()) {
      snapshot.versions[request.stream_id] = it->second;
    } else if (request.expected.kind() == ExpectedVersion::Kind::kExact &&
               request.expected.version() > 0) {
      // The caller's belief is the best guess; the write verifies it.
      snapshot.versions[request.stream_id] = request.expected.version();
      snapshot.claimed.insert(request.stream_id);
    } else {
      snapshot.versions[request.stream_id] = 0;  // assumed new; verified by the write
    }
  }
  return snapshot;
}

absl::StatusOr<PartitionAppender::Snapshot> PartitionAppender::ReadSnapshot(
    pqxx::transaction_base& txn, const std::vector<std::unique_ptr<Pending>>& batch) {
  std::vector<std::string> keys;
  std::vector<std::string> streams;
  absl::flat_hash_set<std::string> seen_streams;
  for (const auto& pending : batch) {
    if (!pending->request.idempotency_key.empty()) keys.push_back(pending->request.idempotency_key);
    if (seen_streams.insert(pending->request.stream_id).second) {
      streams.push_back(pending->request.stream_id);
    }
  }
  Snapshot snapshot;
  bool have_head = false;
  for (const auto& row : txn.exec_prepared(kReadSnapshot, partition_, TextArrayLiteral(streams),
                                           TextArrayLiteral(keys))) {
    const std::string kind = row[0].as<std::string>();
    if (kind == "h") {
      snapshot.head_position = row[2].as<int64_t>();
      snapshot.head_hash = BytesFromField(row[3]);
      have_head = true;
    } else if (kind == "v") {
      snapshot.versions[row[1].as<std::string>()] = row[2].as<int64_t>();
    } else {
      snapshot.keys_in_log.insert(row[1].as<std::string>());
    }
  }
  if (!have_head) {
    return absl::FailedPreconditionError(
        absl::StrCat("partition ", partition_, " has no ledger_heads row: run `tally migrate`"));
  }
  return snapshot;
}

PartitionAppender::Plan PartitionAppender::PlanBatch(
    const std::vector<std::unique_ptr<Pending>>& batch, const Snapshot& snapshot,
    pqxx::transaction_base* txn) {
  Plan plan;
  plan.head_position = snapshot.head_position;
  plan.head_hash = snapshot.head_hash;
  plan.answers.resize(batch.size());
  absl::flat_hash_map<std::string, int64_t> versions = snapshot.versions;
  // recorded_at never goes backwards within a partition, whatever the wall clock does.
  const int64_t recorded_at = std::max(clock_.NowMicros(), last_recorded_at_us_);
  int64_t position = snapshot.head_position;
  std::string prev_hash = snapshot.head_hash;
  absl::flat_hash_map<std::string, size_t> key_owner;  // key -> index of the writing request
  absl::flat_hash_set<std::string> claimed;
  for (size_t i = 0; i < batch.size(); ++i) {
    const AppendRequest& request = batch[i]->request;
    const std::string& key = request.idempotency_key;
    if (!key.empty()) {
      if (auto it = key_owner.find(key); it != key_owner.end()) {
        AppendResult copy = *plan.answers[it->second];
        copy.duplicate = true;
        plan.answers[i] = std::move(copy);
        continue;
      }
      if (txn != nullptr && snapshot.keys_in_log.contains(key)) {
        std::optional<AppendResult> original = FindOriginal(*txn, partition_, key);
        if (original.has_value()) {
          plan.answers[i] = std::move(*original);
          continue;
        }
      }
    }
    int64_t& current = versions[request.stream_id];
    if (absl::Status status = CheckExpected(request, current); !status.ok()) {
      plan.answers[i] = status;
      continue;
    }
    if (snapshot.claimed.contains(request.stream_id) && claimed.insert(request.stream_id).second) {
      plan.claimed_streams.push_back(request.stream_id);
      plan.claimed_versions.push_back(current);
    }
    if (!key.empty()) key_owner[key] = i;
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
      plan.rows.push_back(std::move(row));
    }
    result.last_version = current;
    plan.answers[i] = std::move(result);
  }
  return plan;
}

bool PartitionAppender::WriteRows(pqxx::transaction_base& txn, const Plan& plan) {
  std::vector<int64_t> stream_versions, payload_at, payload_len, metadata_at, metadata_len;
  std::vector<std::string> stream_ids, types, event_keys;
  std::string payloads, metadata, hashes;
  for (const auto& row : plan.rows) {
    stream_versions.push_back(row.stream_version);
    stream_ids.push_back(row.stream_id);
    types.push_back(row.type);
    event_keys.push_back(row.idempotency_key);
    payload_at.push_back(static_cast<int64_t>(payloads.size()) + 1);  // SQL counts from 1
    payload_len.push_back(static_cast<int64_t>(row.payload.size()));
    payloads.append(row.payload);
    metadata_at.push_back(static_cast<int64_t>(metadata.size()) + 1);
    metadata_len.push_back(static_cast<int64_t>(row.metadata.size()));
    metadata.append(row.metadata);
    hashes.append(row.hash);
  }
  const RecordedEvent& first = plan.rows.front();
  const RecordedEvent& last = plan.rows.back();
  pqxx::result result = txn.exec_prepared(
      kWriteBatch, partition_, plan.head_position,
      pqxx::binarystring(plan.head_hash.data(), plan.head_hash.size()),
      pqxx::binarystring(last.hash.data(), last.hash.size()), TimestampLiteral(last.recorded_at_us),
      TextArrayLiteral(stream_ids), IntArray(stream_versions), TextArrayLiteral(types),
      KeyArray(event_keys), IntArray(payload_at), IntArray(payload_len), IntArray(metadata_at),
      IntArray(metadata_len), pqxx::binarystring(payloads.data(), payloads.size()),
      pqxx::binarystring(metadata.data(), metadata.size()),
      pqxx::binarystring(hashes.data(), hashes.size()),
      pqxx::binarystring(first.prev_hash.data(), first.prev_hash.size()),
      TextArrayLiteral(plan.claimed_streams), IntArray(plan.claimed_versions));
  return result[0][0].as<bool>();
}

void PartitionAppender::Remember(const Snapshot& snapshot, const Plan& plan) {
  if (known_versions_.size() > kMaxKnownStreams) known_versions_.clear();
  for (const auto& [stream, version] : snapshot.versions) known_versions_[stream] = version;
  for (const auto& row : plan.rows) known_versions_[row.stream_id] = row.stream_version;
  head_known_ = true;
  known_head_position_ = plan.rows.back().position;
  known_head_hash_ = plan.rows.back().hash;
  last_recorded_at_us_ = plan.rows.back().recorded_at_us;
}

void PartitionAppender::Forget() {
  head_known_ = false;
  known_versions_.clear();
}

void PartitionAppender::WriteBatch(std::vector<std::unique_ptr<Pending>>& batch) {
  // Metrics are recorded before any caller hears its answer, so a caller that reads them next
  // sees its own append counted.
  const auto started = std::chrono::steady_clock::now();
  auto answer_all = [&](std::vector<absl::StatusOr<AppendResult>>& answers) {
    const auto now = std::chrono::steady_clock::now();
    size_t written = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      written += RecordAnswer(answers[i], SecondsSince(batch[i]->queued_at, now));
    }
    metrics::RecordAppendBatch(batch.size(), written, SecondsSince(started, now));
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->done(std::move(answers[i]));
  };
  auto fail_all = [&](const absl::Status& status) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& pending : batch) RecordAnswer(status, SecondsSince(pending->queued_at, now));
    metrics::RecordAppendBatch(batch.size(), 0, SecondsSince(started, now));
    for (auto& pending : batch) pending->done(status);
  };
  // With a fault-injection hook the write runs in an explicit transaction so the hook can act
  // between the head lock and COMMIT; otherwise the write statement commits by itself.
  const bool explicit_transaction = static_cast<bool>(options_.before_commit);
  for (int attempt = 0; attempt < kMaxPlanAttempts; ++attempt) {
    if (absl::Status status = EnsureConnection(); !status.ok()) return fail_all(status);
    pqxx::connection& conn = *conn_->conn;
    const bool optimistic = head_known_;
    Snapshot snapshot;
    Plan plan;
    bool write_sent = false;
    // Whether the server answered the write before the connection was lost (only possible in
    // the explicit-transaction mode, where COMMIT is a second round trip).
    bool write_answered = false;
    try {
      if (optimistic) {
        snapshot = SnapshotFromCache(batch);
        plan = PlanBatch(batch, snapshot, nullptr);
      } else {
        pqxx::nontransaction read(conn);
        auto read_snapshot = ReadSnapshot(read, batch);
        if (!read_snapshot.ok()) return fail_all(read_snapshot.status());
        snapshot = std::move(*read_snapshot);
        plan = PlanBatch(batch, snapshot, &read);
      }
      if (plan.rows.empty()) {
        // Conflicts and duplicates decided from the cache alone are confirmed by a read.
        if (optimistic) {
          Forget();
          continue;
        }
        return answer_all(plan.answers);
      }
      bool written = false;
      if (explicit_transaction) {
        pqxx::work txn(conn);
        written = WriteRows(txn, plan);
        write_answered = true;
        if (written) {
          options_.before_commit(conn.backendpid());
          write_sent = true;
          txn.commit();
        }
      } else {
        pqxx::nontransaction txn(conn);
        write_sent = true;
        written = WriteRows(txn, plan);
      }
      if (!written) {
        Forget();  // something moved under the plan: plan again from a fresh snapshot
        continue;
      }
      Remember(snapshot, plan);
      return answer_all(plan.answers);
    } catch (const pqxx::unique_violation&) {
      // A stream assumed new existed or a key was already used: plan again from a snapshot,
      // which turns them into a version conflict or a duplicate answer.
      Forget();
      if (!optimistic) {
        return fail_all(absl::InternalError(absl::StrCat(
            "partition ", partition_, ": unique violation on a plan made from a fresh snapshot")));
      }
      continue;
    } catch (const std::exception& e) {
      const bool broken = dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
                          dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
                          !conn.is_open();
      Forget();
      if (broken) conn_.reset();
      if (!(write_sent && broken)) {
        return fail_all(
            StatusFromException(e, absl::StrCat("appending to partition ", partition_)));
      }
      // The connection died after the write was sent: it may or may not have committed.
      absl::StatusOr<bool> committed =
          BatchCommitted(plan.rows.back().position, plan.rows.back().hash);
      if (committed.ok() && *committed) {
        last_recorded_at_us_ = plan.rows.back().recorded_at_us;
        return answer_all(plan.answers);
      }
      // Verified as not written, and lost before the server even answered the write (typically
      // a connection the server dropped while it was idle): write it again on a fresh one.
      // Lost after the server took the batch, the callers hear of it and decide.
      if (committed.ok() && !write_answered) continue;
      return fail_all(
          committed.ok()
              ? absl::UnavailableError("the database connection was lost during the append; "
                                       "verified as not written: retry")
              : absl::UnavailableError(absl::StrCat(
                    "the database connection was lost during the append and the outcome could "
                    "not be determined (",
                    committed.status().message(), "): retry with the same idempotency key")));
    }
  }
  fail_all(absl::UnavailableError(
      absl::StrCat("partition ", partition_, ": the batch was not written in ", kMaxPlanAttempts,
                   " attempts (the head kept moving or connections kept dropping): retry")));
}

absl::StatusOr<bool> PartitionAppender::BatchCommitted(int64_t last_position,
                                                       const std::string& last_hash) {
  auto conn = Connect(database_url_, Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::work txn(**conn);
    // The lost transaction holds this lock until it has committed or aborted.
    txn.exec_params("SELECT 1 FROM ledger_heads WHERE partition_id = $1 FOR UPDATE", partition_);
    pqxx::result row =
        txn.exec_params("SELECT hash FROM events WHERE partition_id = $1 AND position = $2",
                        partition_, last_position);
    txn.commit();
    return !row.empty() && BytesFromField(row[0][0]) == last_hash;
  } catch (const std::exception& e) {
    return StatusFromException(e, "resolving an in-doubt commit");
  }
}

}  // namespace tally::ledger
