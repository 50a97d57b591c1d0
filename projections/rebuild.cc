#include "projections/rebuild.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "ledger/database.h"
#include "ledger/event_rows.h"
#include "ledger/log_scan.h"
#include "projections/catalog.h"

namespace tally::projections {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int64_t> Heads(pqxx::transaction_base& txn) {
  std::vector<int64_t> heads;
  for (const auto& row : txn.exec("SELECT position FROM ledger_heads ORDER BY partition_id")) {
    heads.push_back(row[0].as<int64_t>());
  }
  return heads;
}

// A fold of `ranges` of the log, read in bulk.
absl::StatusOr<std::unique_ptr<ProjectionFold>> BulkFold(
    PGconn* raw, const std::vector<ledger::ScanRange>& ranges, const Projection& projection) {
  std::unique_ptr<ProjectionFold> fold = projection.NewFold();
  absl::Status scanned = ledger::ScanLog(
      raw, ranges, [&](ledger::RecordedEvent&& event) { return fold->Apply(event); });
  if (!scanned.ok()) return scanned;
  return fold;
}

// Writes every row of `fold` with COPY into the tables under `suffix` (created without primary
// keys) and then adds the keys, in one transaction on a connection of its own. The fold is
// released once its rows are out: the two together may hold the whole log's state twice.
absl::Status CopyAll(const std::string& url, const Projection& projection,
                     std::unique_ptr<ProjectionFold> fold, const std::string& suffix) {
  auto raw = ledger::ConnectRaw(url, ledger::Session::kProjector);
  if (!raw.ok()) return raw.status();
  std::vector<std::vector<Row>> rows = fold->AllRows();
  fold.reset();
  const std::vector<TableSpec> tables = projection.tables();
  if (absl::Status s = ledger::ExecRaw(raw->get(), "BEGIN"); !s.ok()) return s;
  for (size_t i = 0; i < tables.size(); ++i) {
    const std::string table = TableName(tables[i], suffix);
    absl::Status s = CopyRows(raw->get(), tables[i], table, rows[i]);
    if (s.ok()) s = ledger::ExecRaw(raw->get(), AddPrimaryKeySql(tables[i], table));
    for (const std::string& sql : CreateIndexSqls(tables[i], table)) {
      if (s.ok()) s = ledger::ExecRaw(raw->get(), sql);
    }
    if (!s.ok()) {
      (void)ledger::ExecRaw(raw->get(), "ROLLBACK");
      return s;
    }
  }
  return ledger::ExecRaw(raw->get(), "COMMIT");
}

// CopyAll for several projections at once, one thread and connection each.
absl::Status CopyAllParallel(const std::string& url,
                             const std::vector<const Projection*>& projections,
                             std::vector<std::unique_ptr<ProjectionFold>> folds,
                             const std::vector<std::string>& suffixes) {
  std::vector<absl::Status> results(projections.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < projections.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = CopyAll(url, *projections[i], std::move(folds[i]), suffixes[i]); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) {
    if (!result.ok()) return result;
  }
  return absl::OkStatus();
}

struct CaughtUp {
  std::vector<int64_t> positions;  // per partition, the last event folded
  int64_t folded = 0;
};

// Folds events after `positions` into the tables under `suffix`, live-style, inside `txn`, at
// most `limit` events per partition.
absl::StatusOr<CaughtUp> CatchUp(pqxx::transaction_base& txn, const Projection& projection,
                                 const std::string& suffix, const std::vector<int64_t>& positions,
                                 size_t limit) {
  CaughtUp result{positions, 0};
  for (size_t p = 0; p < positions.size(); ++p) {
    auto read = ledger::ReadEventsAfter(txn, static_cast<int>(p), positions[p], limit);
    if (!read.ok()) return read.status();
    const std::vector<ledger::RecordedEvent>& batch = *read;
    if (batch.empty()) continue;
    auto fold = projection.NewFold();
    if (absl::Status s = fold->Load(txn, suffix, batch); !s.ok()) return s;
    for (const auto& event : batch) {
      if (absl::Status s = fold->Apply(event); !s.ok()) return s;
    }
    if (absl::Status s = fold->Store(txn, suffix); !s.ok()) return s;
    result.positions[p] = batch.back().position;
    result.folded += static_cast<int64_t>(batch.size());
  }
  return result;
}

std::pair<int64_t, std::string> Digest(pqxx::transaction_base& txn, const std::string& table) {
  pqxx::row row = txn.exec1(absl::StrCat(
      "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)"
      "::text FROM ",
      table, " t"));
  return {row[0].as<int64_t>(), row[1].as<std::string>()};
}

// Feeds the same batches of events to several folds, each on its own thread. Push blocks
// while a fold is more than a few batches behind; the first error stops everything.
class FoldPipeline {
 public:
  static constexpr size_t kBatch = 4096;
  using Batch = std::shared_ptr<const std::vector<ledger::RecordedEvent>>;

  explicit FoldPipeline(std::vector<std::unique_ptr<ProjectionFold>>& folds)
      : queues_(folds.size()) {
    for (size_t i = 0; i < folds.size(); ++i) {
      threads_.emplace_back([this, i, &fold = *folds[i]] { Run(i, fold); });
    }
  }
  ~FoldPipeline() { (void)Finish(); }

  absl::Status Push(std::vector<ledger::RecordedEvent> events) {
    Batch batch = std::make_shared<const std::vector<ledger::RecordedEvent>>(std::move(events));
    std::unique_lock lock(mu_);
    for (auto& queue : queues_) {
      space_.wait(lock, [&] { return queue.size() < 8 || !error_.ok(); });
      if (!error_.ok()) return error_;
      queue.push_back(batch);
    }
    work_.notify_all();
    return absl::OkStatus();
  }

  // Waits for every fold to apply everything pushed; the first error, if any.
  absl::Status Finish() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    work_.notify_all();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  void Run(size_t index, ProjectionFold& fold) {
    for (;;) {
      Batch batch;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !queues_[index].empty() || done_ || !error_.ok(); });
        if (!error_.ok() || queues_[index].empty()) return;
        batch = std::move(queues_[index].front());
        queues_[index].pop_front();
      }
      space_.notify_all();
      for (const auto& event : *batch) {
        if (absl::Status status = fold.Apply(event); !status.ok()) {
          std::lock_guard lock(mu_);
          if (error_.ok()) error_ = status;
          space_.notify_all();
          work_.notify_all();
          return;
        }
      }
    }
  }

  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable space_;
  std::vector<std::deque<Batch>> queues_;
  bool done_ = false;
  absl::Status error_;
  std::vector<std::thread> threads_;
};

// Serialises first starts (EnsureInitialized), a rebuild's start, swap and undoing, per
// projection: each of them creates tables or points the views somewhere.
constexpr const char* kInitLock =
    "SELECT pg_advisory_xact_lock(hashtext('tally.projection.init.' || $1))";

// What a rebuild builds for one projection.
struct Target {
  std::string suffix;
  std::string marker;  // projection_state.rebuilding while it works
  std::optional<LiveVersion> before;
};

struct Prepared {
  std::vector<int64_t> heads;
  std::vector<Target> targets;  // one per projection
};

// Undoes what a rebuild that failed left of itself for each target: the `rebuilding` marker
// (only its own) and the tables under its suffix, unless the rebuild swapped them in (they
// serve). On a connection of its own: the failure may have been the rebuild's connection.
// Returns the first failure, after trying every target.
absl::Status Abandon(const std::string& url, const std::vector<const Projection*>& projections,
                     const std::vector<Target>& targets) {
  auto conn = ledger::Connect(url, ledger::Session::kProjector);
  if (!conn.ok()) return conn.status();
  absl::Status first_failure;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Projection& projection = *projections[i];
    try {
      pqxx::work txn(**conn);
      txn.exec_params(kInitLock, projection.name());
      std::optional<LiveVersion> live = ReadLiveVersion(txn, projection.name(), false);
      if (live.has_value() && live->suffix == targets[i].suffix) continue;
      txn.exec_params(
          "UPDATE projection_state SET rebuilding = NULL WHERE name = $1 AND rebuilding = $2",
          projection.name(), targets[i].marker);
      for (const auto& spec : projection.tables()) {
        txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", TableName(spec, targets[i].suffix)));
      }
      txn.commit();
    } catch (const std::exception& e) {
      if (first_failure.ok()) {
        first_failure = ledger::StatusFromException(
            e, absl::StrCat("undoing the rebuild of ", projection.name()));
      }
    }
  }
  return first_failure;
}

// `failure`, saying that undoing the rebuild failed too when it did.
absl::Status WithUndo(const absl::Status& failure, const absl::Status& undo) {
  if (undo.ok()) return failure;
  return absl::Status(failure.code(),
                      absl::StrCat(failure.message(),
                                   "; undoing the rebuild failed too (`tally projections status` "
                                   "shows it until the next rebuild): ",
                                   undo.message()));
}

// Reads the heads, creates each projection's new tables (without keys) and sets its marker.
absl::StatusOr<Prepared> Prepare(pqxx::connection& conn, const std::string& url,
                                 const std::vector<const Projection*>& projections) {
  Prepared prepared;
  try {
    pqxx::work txn(conn);
    prepared.heads = Heads(txn);
    for (const Projection* projection : projections) {
      txn.exec_params(kInitLock, projection->name());
      Target target;
      target.before = ReadLiveVersion(txn, projection->name(), false);
      target.suffix = SuffixFor(projection->version());
      if (target.before.has_value() && target.before->suffix.rfind(target.suffix, 0) == 0) {
        // Rebuilding the serving version: new tables beside it.
        target.suffix = absl::StrCat(target.suffix, "_r", absl::ToUnixSeconds(absl::Now()));
      }
      target.marker = absl::StrCat("v", projection->version(), " into proj_*", target.suffix,
                                   " (started ", absl::FormatTime(absl::Now()), ")");
      CreateTables(txn, *projection, target.suffix, /*primary_keys=*/false);
      txn.exec_params("UPDATE projection_state SET rebuilding = $2 WHERE name = $1",
                      projection->name(), target.marker);
      prepared.targets.push_back(std::move(target));
    }
    txn.commit();
  } catch (const std::exception& e) {
    absl::Status status = ledger::StatusFromException(e, "preparing the rebuild");
    // The commit may have happened even so (its outcome is unknown when the connection drops).
    if (prepared.targets.size() < projections.size()) return status;
    return WithUndo(status, Abandon(url, projections, prepared.targets));
  }
  return prepared;
}

// Everything after Prepare: bulk read and fold, COPY, catch-up and the swap of each projection.
absl::StatusOr<std::vector<RebuildReport>> BuildAndSwap(
    pqxx::connection& conn, PGconn* raw, const std::vector<const Projection*>& projections,
    const Prepared& prepared, const RebuildOptions& options, Clock::time_point start) {
  const std::vector<int64_t>& heads = prepared.heads;
  std::vector<RebuildReport> reports(projections.size());
  for (size_t i = 0; i < projections.size(); ++i) reports[i].suffix = prepared.targets[i].suffix;
  int64_t total = 0;
  std::vector<ledger::ScanRange> ranges;
  for (size_t p = 0; p < heads.size(); ++p) {
    ranges.push_back({static_cast<int>(p), 0, heads[p]});
    total += heads[p];
  }
  std::vector<std::unique_ptr<ProjectionFold>> folds;
  for (const Projection* projection : projections) folds.push_back(projection->NewFold());
  int64_t events = 0;
  // The scan decodes COPY data on this thread; each fold runs on a thread of its own, fed the
  // same batches, so reading and folding overlap.
  FoldPipeline pipeline(folds);
  std::vector<ledger::RecordedEvent> batch;
  absl::Status scanned = ledger::ScanLog(raw, ranges, [&](ledger::RecordedEvent&& event) {
    batch.push_back(std::move(event));
    if (batch.size() == FoldPipeline::kBatch) {
      if (absl::Status s = pipeline.Push(std::move(batch)); !s.ok()) return s;
      batch = {};
    }
    if (++events % 100000 == 0 && options.progress) {
      options.progress({events, total, Since(start), "read+fold"});
    }
    return absl::OkStatus();
  });
  if (scanned.ok() && !batch.empty()) scanned = pipeline.Push(std::move(batch));
  if (absl::Status folded = pipeline.Finish(); scanned.ok()) scanned = folded;
  if (!scanned.ok()) return scanned;
  const double read_fold_seconds = Since(start);
  if (options.progress) options.progress({events, total, Since(start), "copy"});
  const auto copy_start = Clock::now();
  std::vector<std::string> suffixes;
  for (const auto& report : reports) suffixes.push_back(report.suffix);
  if (absl::Status s =
          CopyAllParallel(options.database_url, projections, std::move(folds), suffixes);
      !s.ok()) {
    return s;
  }
  for (auto& report : reports) {
    report.events = events;
    report.read_fold_seconds = read_fold_seconds;
    report.copy_seconds = Since(copy_start);
  }

  for (size_t i = 0; i < projections.size(); ++i) {
    const Projection& projection = *projections[i];
    const std::optional<LiveVersion>& before = prepared.targets[i].before;
    RebuildReport& report = reports[i];
    std::vector<int64_t> positions = heads;
    try {
      // Catch up outside the swap while there is much to do, so the swap itself is short.
      for (;;) {
        pqxx::work txn(conn);
        auto caught_up = CatchUp(txn, projection, report.suffix, positions, 5000);
        if (!caught_up.ok()) return caught_up.status();
        txn.commit();
        positions = std::move(caught_up->positions);
        report.catch_up_events += caught_up->folded;
        if (caught_up->folded < 1000) break;
        if (options.progress) {
          options.progress({events + report.catch_up_events, total, Since(start), "catch-up"});
        }
      }
      pqxx::work txn(conn);
      txn.exec_params(kInitLock, projection.name());
      // Waits for live batches in flight; new ones wait for this transaction.
      txn.exec_params("SELECT 1 FROM projection_state WHERE name = $1 FOR UPDATE",
                      projection.name());
      for (;;) {
        auto caught_up = CatchUp(txn, projection, report.suffix, positions, 5000);
        if (!caught_up.ok()) return caught_up.status();
        positions = std::move(caught_up->positions);
        report.catch_up_events += caught_up->folded;
        if (caught_up->folded == 0) break;
      }
      SetLive(txn, projection, report.suffix, positions);
      if (options.drop_old && before.has_value() && before->suffix != report.suffix) {
        for (const auto& spec : projection.tables()) {
          txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", TableName(spec, before->suffix)));
        }
        report.dropped = before->suffix;
      }
      txn.commit();
      if (options.progress) {
        options.progress(
            {events + report.catch_up_events, total, Since(start), "swapped " + projection.name()});
      }
    } catch (const std::exception& e) {
      return ledger::StatusFromException(e, "catching up and swapping");
    }
    report.total_seconds = Since(start);
  }
  return reports;
}

}  // namespace

absl::StatusOr<std::vector<RebuildReport>> RebuildProjections(
    const std::vector<const Projection*>& projections, const RebuildOptions& options) {
  const auto start = Clock::now();
  auto conn = ledger::Connect(options.database_url, ledger::Session::kProjector);
  if (!conn.ok()) return conn.status();
  auto raw = ledger::ConnectRaw(options.database_url, ledger::Session::kProjector);
  if (!raw.ok()) return raw.status();
  auto prepared = Prepare(**conn, options.database_url, projections);
  if (!prepared.ok()) return prepared.status();

  absl::StatusOr<std::vector<RebuildReport>> reports;
  absl::Status abandoned;
  {
    // However the rebuild ends short of success (an error, an exception), its marker and its
    // half-built tables must not stay behind: status would say "rebuilding" forever.
    absl::Cleanup abandon = [&] {
      abandoned = Abandon(options.database_url, projections, prepared->targets);
    };
    reports = BuildAndSwap(**conn, raw->get(), projections, *prepared, options, start);
    if (reports.ok()) std::move(abandon).Cancel();
  }
  if (!reports.ok()) return WithUndo(reports.status(), abandoned);
  return reports;
}

absl::StatusOr<RebuildReport> RebuildProjection(const Projection& projection,
                                                const RebuildOptions& options) {
  const int version = options.version == 0 ? projection.version() : options.version;
  if (version != projection.version()) {
    return absl::InvalidArgumentError(absl::StrCat("this binary folds ", projection.name(), " v",
                                                   projection.version(), ", not v", version));
  }
  RebuildOptions own = options;
  own.version = 0;
  auto reports = RebuildProjections({&projection}, own);
  if (!reports.ok()) return reports.status();
  return std::move((*reports)[0]);
}

absl::StatusOr<VerifyReport> VerifyProjection(const Projection& projection,
                                              const std::string& database_url) {
  auto conn_or = ledger::Connect(database_url, ledger::Session::kProjector);
  if (!conn_or.ok()) return conn_or.status();
  auto raw = ledger::ConnectRaw(database_url, ledger::Session::kProjector);
  if (!raw.ok()) return raw.status();
  pqxx::connection& conn = **conn_or;
  VerifyReport report;
  std::string live_suffix;
  std::vector<std::pair<int64_t, std::string>> live_digests;
  const std::vector<TableSpec> tables = projection.tables();
  try {
    // Live tables and checkpoints move together, so one snapshot sees a consistent pair.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
    std::optional<LiveVersion> live = ReadLiveVersion(txn, projection.name(), false);
    if (!live.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("projection ", projection.name(), " has never run"));
    }
    if (live->version != projection.version()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database serves ", projection.name(), " v", live->version,
                       " but this binary folds v", projection.version()));
    }
    live_suffix = live->suffix;
    for (const auto& row : txn.exec_params(
             "SELECT position FROM projection_checkpoints WHERE name = $1 ORDER BY partition_id",
             projection.name())) {
      report.checkpoints.push_back(row[0].as<int64_t>());
    }
    for (const auto& spec : tables)
      live_digests.push_back(Digest(txn, TableName(spec, live_suffix)));
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "reading the live projection");
  }

  const std::string scratch = absl::StrCat("_verify_", absl::ToUnixMicros(absl::Now()));
  try {
    pqxx::work txn(conn);
    CreateTables(txn, projection, scratch, /*primary_keys=*/false);
    txn.commit();
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "creating scratch tables");
  }
  auto drop_scratch = [&] {
    try {
      pqxx::work txn(conn);
      for (const auto& spec : tables) {
        txn.exec(absl::StrCat("DROP TABLE IF EXISTS ", TableName(spec, scratch)));
      }
      txn.commit();
    } catch (const std::exception&) {
      // Scratch tables are named for what they are; a leftover is harmless.
    }
  };
  std::vector<ledger::ScanRange> ranges;
  for (size_t p = 0; p < report.checkpoints.size(); ++p) {
    ranges.push_back({static_cast<int>(p), 0, report.checkpoints[p]});
  }
  auto fold = BulkFold(raw->get(), ranges, projection);
  absl::Status folded = fold.status();
  if (folded.ok()) folded = CopyAll(database_url, projection, std::move(*fold), scratch);
  if (!folded.ok()) {
    drop_scratch();
    return folded;
  }
  try {
    pqxx::read_transaction txn(conn);
    for (size_t i = 0; i < tables.size(); ++i) {
      TableComparison comparison;
      comparison.table = tables[i].base;
      const auto rebuilt = Digest(txn, TableName(tables[i], scratch));
      comparison.live_rows = live_digests[i].first;
      comparison.rebuilt_rows = rebuilt.first;
      comparison.equal = live_digests[i] == rebuilt;
      if (!comparison.equal) {
        report.equal = false;
        std::vector<std::string> keys;
        for (size_t k = 0; k < tables[i].key_columns; ++k)
          keys.push_back(tables[i].columns[k].name);
        const std::string cols = absl::StrJoin(keys, ", ");
        const std::string live_t = TableName(tables[i], live_suffix);
        const std::string scratch_t = TableName(tables[i], scratch);
        for (const auto& row :
             txn.exec(absl::StrCat("SELECT DISTINCT (", cols, ")::text FROM ((TABLE ", live_t,
                                   " EXCEPT TABLE ", scratch_t, ") UNION ALL (TABLE ", scratch_t,
                                   " EXCEPT TABLE ", live_t, ")) d LIMIT 10"))) {
          comparison.differing_keys.push_back(row[0].as<std::string>());
        }
      }
      report.tables.push_back(std::move(comparison));
    }
  } catch (const std::exception& e) {
    drop_scratch();
    return ledger::StatusFromException(e, "comparing tables");
  }
  drop_scratch();
  return report;
}

}  // namespace tally::projections
