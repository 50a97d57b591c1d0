// `tally bench append`: durable append throughput and latency in a scratch database, next to
// pgbench's one-row-per-transaction INSERT of a similar row at the same concurrency.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "app/pgbench_baseline.h"
#include "ledger/database.h"
#include "ledger/event_store.h"
#include "ledger/scratch_database.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::app {
namespace {

using Clock = std::chrono::steady_clock;

// A PushinPay-style "paid" webhook as the log would record it: about 600 bytes serialized.
ledger::EventData SyntheticWebhook(int64_t n) {
  payments::v1::GatewayWebhookReceived webhook;
  webhook.set_gateway("pushinpay");
  webhook.set_tenant_id("bench-tenant");
  const std::string txid = absl::StrFormat("9c1b7e2a-%04x-4e5f-8a6b-%012x", n % 65536, n);
  webhook.set_raw_body(absl::StrCat(
      "{\"id\":\"", txid,
      "\",\"status\":\"paid\",\"value\":1990,\"payer_name\":\"Maria da Silva "
      "Santos\",\"payer_national_registration\":\"12345678909\",\"end_to_end_id\":"
      "\"E18236120202611221030s0123456789\",\"created_at\":\"2026-11-22T10:30:00.000000Z\","
      "\"updated_at\":\"2026-11-22T10:31:12.000000Z\",\"webhook_url\":\"https://tally.example/"
      "webhooks/pushinpay/tok_3f9a\"}"));
  auto* header = webhook.add_headers();
  header->set_name("content-type");
  header->set_value("application/json");
  header = webhook.add_headers();
  header->set_name("user-agent");
  header->set_value("PushinPay-Webhook/1.0");
  webhook.set_content_type("application/json");
  webhook.set_authenticity(payments::v1::AUTHENTICITY_UNVERIFIED);
  auto* observation = webhook.mutable_observation();
  observation->set_status(payments::v1::OBSERVED_STATUS_PAID);
  observation->set_gateway_status("paid");
  observation->mutable_amount()->set_amount_minor(1990);
  observation->mutable_amount()->set_currency("BRL");
  observation->set_gateway_transaction_id(txid);
  ledger::v1::Metadata metadata;
  metadata.set_correlation_id(absl::StrCat("bench-", n));
  metadata.set_source(ledger::v1::SOURCE_WEBHOOK);
  metadata.set_request_id(absl::StrCat("req-", n));
  metadata.set_remote_address("127.0.0.1");
  return {std::string(payments::v1::GatewayWebhookReceived::descriptor()->full_name()),
          webhook.SerializeAsString(), metadata.SerializeAsString()};
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + index, values.end());
  return values[index];
}

}  // namespace

int RunBenchAppend(const BenchAppendOptions& options) {
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_append", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  std::cerr << "bench append: scratch database " << (*scratch)->name() << ", " << options.events
            << " events, " << options.writers << " writers, " << options.streams << " streams\n";

  ledger::EventStoreOptions store_options;
  store_options.database_url = (*scratch)->url();
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));

  std::vector<ledger::EventData> payloads;
  for (int i = 0; i < 64; ++i) payloads.push_back(SyntheticWebhook(i));
  std::cerr << "event size: " << payloads[0].payload.size() + payloads[0].metadata.size()
            << " bytes (payload + metadata)\n";

  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failures{0};
  std::vector<std::vector<double>> latencies(options.writers);
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < options.writers; ++w) {
    writers.emplace_back([&, w] {
      for (int64_t n; (n = next.fetch_add(1)) < options.events;) {
        ledger::AppendRequest request;
        request.tenant_key = "bench-tenant";
        request.stream_id = absl::StrCat("payment-pushinpay-bench-", n % options.streams);
        request.events.push_back(payloads[n % payloads.size()]);
        if (options.idempotency_keys) request.idempotency_key = absl::StrCat("bench:evt_", n);
        const auto t0 = Clock::now();
        auto result = (*store)->Append(std::move(request));
        latencies[w].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!result.ok()) {
          if (failures.fetch_add(1) == 0) std::cerr << "append failed: " << result.status() << "\n";
        }
        done.fetch_add(1);
      }
    });
  }
  std::thread progress([&] {
    auto last = Clock::now();
    while (done.load() < options.events) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (Clock::now() - last >= std::chrono::seconds(1)) {
        last = Clock::now();
        const double elapsed = std::chrono::duration<double>(last - start).count();
        std::cerr << absl::StrFormat("  %d/%d events, %.0f events/s\n", done.load(), options.events,
                                     done.load() / elapsed);
      }
    }
  });
  for (auto& writer : writers) writer.join();
  progress.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const double eps = options.events / seconds;
  const double p50 = Percentile(all, 0.50);
  const double p99 = Percentile(all, 0.99);
  store->reset();
  if (failures.load() > 0) return Fail(1, absl::StrCat(failures.load(), " appends failed"));

  std::cout << absl::StrFormat(
      "tally append: %d events in %.2f s = %.0f events/s, latency p50 %.2f ms, p99 %.2f ms\n",
      options.events, seconds, eps, p50, p99);
  PgbenchResult baseline;
  if (options.pgbench) {
    PgbenchRun run;
    run.clients = options.writers;
    run.transactions_per_client = std::max<int64_t>(1, options.events / options.writers);
    run.pgbench_path = options.pgbench_path;
    auto pgbench = RunPgbenchInsert((*scratch)->url(), run);
    if (!pgbench.ok()) return Fail(2, std::string(pgbench.status().message()));
    baseline = *pgbench;
    std::cout << absl::StrFormat(
        "pgbench single-row INSERT: %.0f tps, latency average %.2f ms (%d clients)\n"
        "ratio: %.2fx pgbench\n",
        baseline.tps, baseline.latency_ms, options.writers, eps / baseline.tps);
  }
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"append\",\"events\":%d,\"writers\":%d,\"streams\":%d,"
        "\"idempotency_keys\":%s,"
        "\"seconds\":%.3f,\"events_per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"pgbench_tps\":%.1f,\"pgbench_latency_ms\":%.3f,\"ratio_vs_pgbench\":%.3f}\n",
        options.events, options.writers, options.streams,
        options.idempotency_keys ? "true" : "false", seconds, eps, p50, p99, baseline.tps,
        baseline.latency_ms, baseline.tps > 0 ? eps / baseline.tps : 0.0);
  }
  return 0;
}

}  // namespace tally::app
