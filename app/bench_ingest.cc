// `tally bench ingest`: signed webhooks over keep-alive HTTP connections into the log, next to
// pgbench's single-row INSERT at the same concurrency, measured in the same run.

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include <spdlog/spdlog.h>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "absl/time/clock.h"
#include "app/commands.h"
#include "app/pgbench_baseline.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/database.h"
#include "ledger/scratch_database.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kBenchKey[] = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
constexpr char kSecret[] = "whsec_bench";

int64_t EventCount(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  return txn.exec1("SELECT coalesce(sum(position), 0) FROM ledger_heads")[0].as<int64_t>();
}

double Pct(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace

int RunBenchIngest(const BenchIngestOptions& options) {
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_ingest", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  ledger::EventStoreOptions store_options;
  store_options.database_url = (*scratch)->url();
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto box = tenants::SecretBox::FromHex(kBenchKey);
  const gateways::GatewayRegistry gateways = gateways::StandardGateways();
  auto tenant = tenants::CreateTenant(**store, *box, "bench", "America/Sao_Paulo");
  if (!tenant.ok()) return Fail(2, std::string(tenant.status().message()));
  if (absl::Status s = tenants::ConfigureGateway(**store, *box, gateways, tenant->tenant_id,
                                                 {"stripe", kSecret, "", ""});
      !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  ledger::SystemClock clock;
  http::WebhookIngestion ingestion(**store, *box, gateways, clock, (*scratch)->url());
  http::ServerOptions server_options;
  server_options.port = 0;
  server_options.worker_threads = 4;  // handlers queue appends and return
  server_options.max_connections = options.connections + 16;
  // Wired as `tally serve` wires it: the same router and non-blocking fast path.
  const http::Endpoints endpoints{&ingestion};
  auto server = http::Server::Start(
      server_options,
      [&](const http::HttpRequest& r, http::Responder respond) {
        http::RouteRequest(r, endpoints, std::move(respond));
      },
      [&](const http::HttpRequest& r, http::Responder& respond) {
        return http::TryRouteWithoutBlocking(r, endpoints, respond);
      });
  if (!server.ok()) return Fail(2, std::string(server.status().message()));
  spdlog::set_level(spdlog::level::warn);  // one info line per request would measure the log
  const int port = (*server)->port();
  const int64_t before = EventCount((*scratch)->url());
  std::cerr << absl::StrFormat("bench ingest: %d connections for %d s on 127.0.0.1:%d\n",
                               options.connections, options.seconds, port);

  // The load generator: every connection is an asynchronous write-read loop on one
  // io_context run by two threads (as pgbench -j 2), so the client's own thread switches do
  // not stand in for the server's cost.
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
  std::mutex latency_mu;
  std::vector<double> all;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(options.seconds);
  const std::string target = "/webhooks/stripe/" + tenant->webhook_token;
  net::io_context ioc;

  struct Connection : std::enable_shared_from_this<Connection> {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> request;
    bhttp::response<bhttp::string_body> response;
    Clock::time_point sent;
    explicit Connection(net::io_context& ioc) : stream(net::make_strand(ioc)) {}
  };
  std::function<void(std::shared_ptr<Connection>)> send = [&](std::shared_ptr<Connection> c) {
    if (Clock::now() >= end) return;
    const int64_t n = next.fetch_add(1);
    const std::string body =
        absl::StrCat(R"({"id":"evt_bench_)", n, R"(","object":"event","created":1795000000,)",
                     R"("data":{"object":{"id":"pi_bench_)", n,
                     R"(","object":"payment_intent","amount":4990,"amount_received":4990,)",
                     R"("currency":"brl","status":"succeeded","metadata":{"order":"bench"}}},)",
                     R"("type":"payment_intent.succeeded"})");
    const int64_t t = absl::ToUnixSeconds(absl::Now());
    c->request = {bhttp::verb::post, target, 11};
    c->request.set(bhttp::field::host, "127.0.0.1");
    c->request.set(bhttp::field::content_type, "application/json");
    c->request.set("Stripe-Signature",
                   absl::StrCat("t=", t, ",v1=",
                                gateways::HmacSha256Hex(kSecret, absl::StrCat(t, ".", body))));
    c->request.keep_alive(true);
    c->request.body() = body;
    c->request.prepare_payload();
    c->response = {};
    c->sent = Clock::now();
    bhttp::async_write(c->stream, c->request, [&, c](beast::error_code ec, size_t) {
      if (ec) {
        failed.fetch_add(1);
        return;
      }
      bhttp::async_read(c->stream, c->buffer, c->response, [&, c](beast::error_code ec, size_t) {
        if (ec) {
          failed.fetch_add(1);
          return;
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - c->sent).count();
        {
          std::lock_guard lock(latency_mu);
          all.push_back(ms);
        }
        if (c->response.result_int() / 100 == 2) {
          ok.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
        send(c);
      });
    });
  };
  for (int i = 0; i < options.connections; ++i) {
    auto c = std::make_shared<Connection>(ioc);
    beast::error_code ec;
    c->stream.socket().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return Fail(2, "cannot connect to the bench server: " + ec.message());
    net::post(c->stream.get_executor(), [&, c] { send(c); });
  }
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      pthread_setname_np(pthread_self(), "bench-client");
      ioc.run();
    });
  }
  std::thread progress([&] {
    while (Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::cerr << absl::StrFormat(
          "  %d requests ok, %.0f/s\n", ok.load(),
          ok.load() / std::chrono::duration<double>(Clock::now() - start).count());
    }
  });
  for (auto& client : clients) client.join();
  progress.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (*server)->Stop();
  const int64_t new_events = EventCount((*scratch)->url()) - before;
  const double rps = ok.load() / seconds;
  const double p50 = Pct(all, 0.5), p99 = Pct(all, 0.99);
  std::cout << absl::StrFormat(
      "tally ingest: %d requests in %.2f s = %.0f requests/s, latency p50 %.2f ms, p99 %.2f ms; "
      "%d 2xx answers, %d new events, %d failures\n",
      ok.load() + failed.load(), seconds, rps, p50, p99, ok.load(), new_events, failed.load());
  double tps = 0;
  if (options.pgbench) {
    PgbenchRun run;
    run.clients = options.connections;
    run.seconds = options.seconds;
    auto measured = RunPgbenchInsert((*scratch)->url(), run);
    if (!measured.ok()) return Fail(2, std::string(measured.status().message()));
    tps = measured->tps;
    std::cout << absl::StrFormat("pgbench single-row INSERT: %.0f tps (%d clients)\nratio: %.2fx\n",
                                 tps, options.connections, rps / tps);
  }
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"ingest\",\"connections\":%d,\"seconds\":%.3f,"
        "\"requests_per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"ok_responses\":%d,"
        "\"new_events\":%d,\"failures\":%d,\"pgbench_tps\":%.1f,\"ratio_vs_pgbench\":%.3f}\n",
        options.connections, seconds, rps, p50, p99, ok.load(), new_events, failed.load(), tps,
        tps > 0 ? rps / tps : 0.0);
  }
  return ok.load() == new_events && failed.load() == 0 ? 0 : 1;
}

}  // namespace tally::app
