// `tally bench rebuild` and `tally bench lag`: projection rebuild speed against COPY-out of the
// same rows, and live projection lag under a steady append rate.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "app/lifecycle_generator.h"
#include "ledger/database.h"
#include "ledger/event_store.h"
#include "ledger/log_scan.h"
#include "ledger/migration.h"
#include "ledger/scratch_database.h"
#include "projections/rebuild.h"
#include "projections/runner.h"

namespace tally::app {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<int64_t> CountEvents(const std::string& url) {
  auto conn = ledger::Connect(url, ledger::Session::kService);
  if (!conn.ok()) return conn.status();
  pqxx::read_transaction txn(**conn);
  return txn.exec("SELECT coalesce(sum(position), 0) FROM ledger_heads")[0][0].as<int64_t>();
}

// Appends lifecycles until the log holds `target` events, with progress on stderr.
absl::Status Seed(ledger::EventStore& store, int64_t have, int64_t target) {
  LifecycleGenerator tenants_generator(1);
  if (have == 0) {
    for (auto& tenant : tenants_generator.Tenants()) {
      auto result = store.Append({tenant.tenant_id, tenant.stream_id,
                                  ledger::ExpectedVersion::NoStream(), tenant.events, ""});
      if (!result.ok()) return result.status();
      have += static_cast<int64_t>(tenant.events.size());
    }
  }
  std::atomic<int64_t> events{have};
  std::atomic<int64_t> next{have};  // payment numbers continue from earlier seeding
  std::atomic<bool> failed{false};
  absl::Status failure;
  std::mutex mu;
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      LifecycleGenerator generator(1000 + w + have);
      while (!failed && events.load() < target) {
        Lifecycle life = generator.Payment(next.fetch_add(1));
        const int64_t n = static_cast<int64_t>(life.events.size());
        auto result =
            store.Append({life.tenant_id, life.stream_id, ledger::ExpectedVersion::NoStream(),
                          std::move(life.events), ""});
        if (!result.ok() && result.status().code() != absl::StatusCode::kAborted) {
          std::lock_guard lock(mu);
          failure = result.status();
          failed = true;
        } else if (result.ok()) {
          events.fetch_add(n);
        }
      }
    });
  }
  std::thread progress([&] {
    while (!failed && events.load() < target) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::cerr << absl::StrFormat("seeding: %d/%d events, %.0f events/s\n", events.load(), target,
                                   (events.load() - have) / Since(start));
    }
  });
  for (auto& writer : writers) writer.join();
  progress.join();
  return failure;
}

absl::StatusOr<double> TimeCopyOut(const std::string& url) {
  auto raw = ledger::ConnectRaw(url, ledger::Session::kService);
  if (!raw.ok()) return raw.status();
  const auto start = Clock::now();
  PGresult* result = PQexec(raw->get(), "COPY (SELECT * FROM events) TO STDOUT");
  if (PQresultStatus(result) != PGRES_COPY_OUT) {
    std::string error = PQresultErrorMessage(result);
    PQclear(result);
    return absl::InternalError(error);
  }
  PQclear(result);
  int64_t bytes = 0;
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(raw->get(), &buffer, 0);
    if (n < 0) break;
    bytes += n;
    PQfreemem(buffer);
  }
  while (PGresult* r = PQgetResult(raw->get())) PQclear(r);
  const double seconds = Since(start);
  std::cerr << absl::StrFormat("COPY out: %d MB in %.2f s\n", bytes >> 20, seconds);
  return seconds;
}

}  // namespace

int RunBenchRebuild(const BenchRebuildOptions& options) {
  // A dedicated database on the same server, kept between runs so seeding happens once.
  auto url = ledger::WithDatabaseName(options.database_url, "tally_bench_rebuild");
  if (!url.ok()) return Fail(2, std::string(url.status().message()));
  try {
    auto admin = ledger::Connect(options.database_url, ledger::Session::kOwner);
    if (!admin.ok()) return Fail(2, std::string(admin.status().message()));
    pqxx::nontransaction txn(**admin);
    if (txn.exec("SELECT 1 FROM pg_database WHERE datname = 'tally_bench_rebuild'").empty()) {
      txn.exec("CREATE DATABASE tally_bench_rebuild");
    }
  } catch (const std::exception& e) {
    return Fail(
        2, std::string(ledger::StatusFromException(e, "creating the bench database").message()));
  }
  auto migrated = ledger::ApplyMigrations(*url, ledger::EmbeddedMigrations(), 0);
  if (!migrated.ok()) return Fail(2, std::string(migrated.status().message()));
  auto have = CountEvents(*url);
  if (!have.ok()) return Fail(2, std::string(have.status().message()));
  if (*have < options.events) {
    std::cerr << "seeding " << options.events - *have << " events into tally_bench_rebuild\n";
    ledger::EventStoreOptions store_options;
    store_options.database_url = *url;
    auto store = ledger::EventStore::Open(std::move(store_options));
    if (!store.ok()) return Fail(2, std::string(store.status().message()));
    if (absl::Status s = Seed(**store, *have, options.events); !s.ok()) {
      return Fail(2, std::string(s.message()));
    }
  }
  auto events = CountEvents(*url);
  if (!events.ok()) return Fail(2, std::string(events.status().message()));
  {
    auto conn = ledger::Connect(*url, ledger::Session::kOwner);
    if (conn.ok()) {
      pqxx::nontransaction txn(**conn);
      txn.exec("VACUUM ANALYZE events");
      // Settle the writes of the seeding so they do not land on the timed runs. Best effort:
      // CHECKPOINT needs a superuser or pg_checkpoint.
      try {
        txn.exec("CHECKPOINT");
      } catch (const pqxx::sql_error& e) {
        std::cerr << "(no CHECKPOINT before timing: " << e.what() << ")\n";
      }
    }
  }
  // COPY-out is timed before and after the rebuild, and the mean reported, so that neither
  // side alone gets the quieter moment of a noisy machine.
  auto copy_before = TimeCopyOut(*url);
  if (!copy_before.ok()) return Fail(2, std::string(copy_before.status().message()));

  auto all = projections::AllProjections();
  std::vector<const projections::Projection*> targets;
  for (const auto& p : all) targets.push_back(p.get());
  projections::RebuildOptions rebuild_options;
  rebuild_options.database_url = *url;
  rebuild_options.drop_old = true;
  rebuild_options.progress = [](const projections::RebuildProgress& p) {
    const double rate = p.seconds > 0 ? p.events_done / p.seconds : 0;
    std::cerr << absl::StrFormat(
        "rebuild %s: %d/%d events, %.0f events/s, ETA %.1f s\n", p.phase, p.events_done,
        p.events_total, rate,
        rate > 0 ? std::max(0.0, (p.events_total - p.events_done) / rate) : 0.0);
  };
  const auto start = Clock::now();
  auto reports = projections::RebuildProjections(targets, rebuild_options);
  if (!reports.ok()) return Fail(2, std::string(reports.status().message()));
  const double rebuild_seconds = Since(start);
  auto copy_after = TimeCopyOut(*url);
  if (!copy_after.ok()) return Fail(2, std::string(copy_after.status().message()));
  const absl::StatusOr<double> copy_seconds = (*copy_before + *copy_after) / 2;

  const double eps = *events / rebuild_seconds;
  std::cout << absl::StrFormat(
      "rebuild of payments + revenue_daily + purchase_tracking: %d events in %.2f s = %.0f "
      "events/s (read+fold %.2f s)\nCOPY (SELECT * FROM events) TO STDOUT: %.2f s\nratio: %.2fx "
      "COPY-out time\n",
      *events, rebuild_seconds, eps, (*reports)[0].read_fold_seconds, *copy_seconds,
      rebuild_seconds / *copy_seconds);
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"rebuild\",\"events\":%d,\"rebuild_seconds\":%.3f,"
        "\"read_fold_seconds\":%.3f,\"copy_seconds\":%.3f,\"events_per_second\":%.1f,"
        "\"ratio_vs_copy\":%.3f}\n",
        *events, rebuild_seconds, (*reports)[0].read_fold_seconds, *copy_seconds, eps,
        rebuild_seconds / *copy_seconds);
  }
  return 0;
}

int RunBenchLag(const BenchLagOptions& options) {
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_lag", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  ledger::EventStoreOptions store_options;
  store_options.database_url = (*scratch)->url();
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));

  // position -> when its append was acknowledged
  std::mutex mu;
  absl::flat_hash_map<int64_t, Clock::time_point> acked;
  std::vector<std::vector<double>> lags(3);
  std::vector<int64_t> applied_through(3, 0);
  auto all = projections::AllProjections();
  std::vector<std::unique_ptr<projections::ProjectionRunner>> runners;
  for (size_t i = 0; i < all.size(); ++i) {
    projections::RunnerOptions runner_options;
    runner_options.database_url = (*scratch)->url();
    runner_options.on_applied = [&, i](int64_t position) {
      const auto now = Clock::now();
      std::lock_guard lock(mu);
      for (int64_t p = applied_through[i] + 1; p <= position; ++p) {
        auto it = acked.find(p);
        // Applied before its append returned: no lag to speak of.
        lags[i].push_back(
            it == acked.end()
                ? 0.0
                : std::max(0.0,
                           std::chrono::duration<double, std::milli>(now - it->second).count()));
      }
      applied_through[i] = position;
    };
    runners.push_back(std::make_unique<projections::ProjectionRunner>(*all[i], runner_options));
    runners.back()->Start();
  }
  // An open-loop load: 8 writers each keep their share of the schedule, so a slow append does
  // not lower the offered rate. Each event is its own append, as webhooks are.
  constexpr int kWriters = 8;
  const auto start = Clock::now();
  const int64_t total = static_cast<int64_t>(options.rate) * options.seconds;
  std::atomic<int64_t> appended{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      LifecycleGenerator generator(7 + w);
      Lifecycle life;
      int64_t payment = w;
      size_t next_event = 0;
      for (int64_t i = w; i < total && !failed; i += kWriters) {
        while (next_event >= life.events.size()) {
          life = generator.Payment(payment);
          payment += kWriters;
          next_event = 0;
        }
        std::this_thread::sleep_until(start +
                                      std::chrono::microseconds(i * 1000000 / options.rate));
        auto result = (*store)->Append({life.tenant_id,
                                        life.stream_id,
                                        ledger::ExpectedVersion::Any(),
                                        {life.events[next_event++]},
                                        ""});
        if (!result.ok()) {
          failed = true;
          std::cerr << "append failed: " << result.status() << "\n";
          return;
        }
        {
          std::lock_guard lock(mu);
          acked[result->positions[0]] = Clock::now();
        }
        if (appended.fetch_add(1) % (options.rate * 10) == 0) {
          std::cerr << absl::StrFormat("lag: %d/%d events appended\n", appended.load(), total);
        }
      }
    });
  }
  for (auto& writer : writers) writer.join();
  if (failed) return Fail(2, "appends failed");
  const int64_t head = [&] {
    std::lock_guard lock(mu);
    int64_t h = 0;
    for (const auto& [p, t] : acked) h = std::max(h, p);
    return h;
  }();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    bool done = true;
    for (auto& runner : runners) done = done && runner->position() >= head;
    if (done || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& runner : runners) runner->Stop();
  std::vector<double> merged;
  for (auto& l : lags) merged.insert(merged.end(), l.begin(), l.end());
  if (merged.empty()) return Fail(1, "no events were applied");
  std::sort(merged.begin(), merged.end());
  auto pct = [&](double q) {
    return merged[std::min(merged.size() - 1, size_t(q * merged.size()))];
  };
  const double rate = head / Since(start);
  std::cout << absl::StrFormat(
      "projection lag at %.0f events/s for %d s over %d (event, projection) pairs: p50 %.1f ms, "
      "p99 %.1f ms, max %.1f ms\n",
      rate, options.seconds, merged.size(), pct(0.5), pct(0.99), merged.back());
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"lag\",\"rate\":%.1f,\"seconds\":%d,\"samples\":%d,\"p50_ms\":%.3f,"
        "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
        rate, options.seconds, merged.size(), pct(0.5), pct(0.99), merged.back());
  }
  return 0;
}

}  // namespace tally::app
