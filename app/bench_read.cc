// `tally bench read`: the owner read API (GET /v1/payments, GET /v1/revenue) over keep-alive
// HTTP connections on a log of realistic payment lifecycles, next to pgbench running the same
// SELECTs at the same concurrency on the same database, measured in the same run.
//
// The log is seeded with app/lifecycle_generator.h (whole lifecycles appended by 8 writers),
// each tenant gets an owner key, and the projections are rebuilt from the log (the fastest way
// to catch up). The server is the real stack, wired as `tally serve --api-rate-limit 0` wires
// it: http::Server, RouteRequest, the per-key rate limiter (off), ReadApi over a ReadDatabase on
// the primary. Its clock is shifted so that "today" falls inside the generated days, so that
// the default 30 days of revenue have rows.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "app/commands.h"
#include "app/lifecycle_generator.h"
#include "app/pgbench_baseline.h"
#include "http/payment_view.h"
#include "http/rate_limiter.h"
#include "http/read_api.h"
#include "http/read_database.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/database.h"
#include "ledger/event_store.h"
#include "ledger/scratch_database.h"
#include "projections/catalog.h"
#include "projections/rebuild.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Pct(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int64_t CountOf(const std::string& text, const std::string& needle) {
  int64_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The wall clock moved by a fixed offset: the generated payments are spread over 60 days from
// 2026-09-21, and "today" must fall among them.
class ShiftedClock final : public ledger::Clock {
 public:
  explicit ShiftedClock(int64_t offset_us) : offset_us_(offset_us) {}
  int64_t NowMicros() const override { return system_.NowMicros() + offset_us_; }

 private:
  ledger::SystemClock system_;
  const int64_t offset_us_;
};

// The three requests of the mix. kRevenue is half of it; a list request is a first page, or,
// every other time, the next page of the connection's previous first page.
enum Kind { kFirstPage = 0, kNextPage = 1, kRevenue = 2 };
constexpr const char* kKindNames[] = {"payments_first_page", "payments_next_page", "revenue"};
constexpr char kListTarget[] = "/v1/payments?limit=50";
constexpr char kRevenueTarget[] = "/v1/revenue?group_by=day,gateway";

// The SQL http/read_api.cc sends for those requests (Reader::ListPayments, Reader::Revenue),
// with pgbench variables where it binds parameters: a random tenant, and for the next page a
// cursor a few hours below the newest payment. Keep in step with read_api.cc.
std::string ListSql(bool with_cursor) {
  return absl::StrCat(
      "SELECT ", http::kPaymentViewColumns, " FROM payments WHERE tenant_id = 'tenant-:t'",
      with_cursor ? " AND (first_seen_at, partition_id, stream_id) < "
                    "(to_timestamp(:s), 0::int, 'payment-')"
                  : "",
      " ORDER BY first_seen_at DESC, partition_id DESC, stream_id DESC LIMIT 51;\n");
}

std::string RevenueSql(const std::string& from, const std::string& to) {
  return absl::StrCat(
      "SELECT day::text, gateway, currency, sum(paid_count), sum(paid_minor), "
      "sum(refunded_count), sum(refunded_minor) FROM revenue_daily WHERE tenant_id = "
      "'tenant-:t' AND day BETWEEN '",
      from, "'::date AND '", to,
      "'::date GROUP BY day::text, gateway, currency ORDER BY day::text, gateway, currency;\n");
}

// Appends whole lifecycles from 8 writers until the log holds `target` events.
absl::Status Seed(ledger::EventStore& store, int tenants, int64_t target) {
  LifecycleGenerator tenants_generator(1, tenants);
  int64_t have = 0;
  for (auto& tenant : tenants_generator.Tenants()) {
    auto result = store.Append({tenant.tenant_id, tenant.stream_id,
                                ledger::ExpectedVersion::NoStream(), tenant.events, ""});
    if (!result.ok()) return result.status();
    have += static_cast<int64_t>(tenant.events.size());
  }
  std::atomic<int64_t> events{have};
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  absl::Status failure;
  std::mutex mu;
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      LifecycleGenerator generator(1000 + w, tenants);
      while (!failed && events.load() < target) {
        Lifecycle life = generator.Payment(next.fetch_add(1));
        const int64_t n = static_cast<int64_t>(life.events.size());
        auto result =
            store.Append({life.tenant_id, life.stream_id, ledger::ExpectedVersion::NoStream(),
                          std::move(life.events), ""});
        if (result.ok()) {
          events.fetch_add(n);
        } else if (result.status().code() != absl::StatusCode::kAborted) {
          std::lock_guard lock(mu);
          failure = result.status();
          failed = true;
        }
      }
    });
  }
  std::thread progress([&] {
    while (!failed && events.load() < target) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::cerr << absl::StrFormat("  seeding: %d/%d events, %.0f events/s\n", events.load(),
                                   target, events.load() / Since(start));
    }
  });
  for (auto& writer : writers) writer.join();
  progress.join();
  return failure;
}

struct Measured {
  std::vector<double> latencies_ms;
  int64_t rows = 0;  // payments listed, or revenue groups
};

struct Figures {
  int64_t requests = 0;
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double rows_per_answer = 0;
};

Figures Summarize(Measured m, double seconds) {
  Figures f;
  f.requests = static_cast<int64_t>(m.latencies_ms.size());
  f.requests_per_second = f.requests / seconds;
  f.p50_ms = Pct(m.latencies_ms, 0.5);
  f.p99_ms = Pct(m.latencies_ms, 0.99);
  f.rows_per_answer = f.requests == 0 ? 0 : static_cast<double>(m.rows) / f.requests;
  return f;
}

// One blocking GET, for the warm-up and the checks before timing.
absl::StatusOr<std::pair<int, std::string>> Get(int port, const std::string& target,
                                                const std::string& key) {
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    bhttp::request<bhttp::string_body> request{bhttp::verb::get, target, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    request.set(bhttp::field::authorization, "Bearer " + key);
    bhttp::write(stream, request);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(stream, buffer, response);
    return std::make_pair(response.result_int(), std::move(response.body()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("GET ", target, ": ", e.what()));
  }
}

}  // namespace

int RunBenchRead(const BenchReadOptions& options) {
  spdlog::set_level(spdlog::level::warn);  // one info line per request would measure the log
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_read", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  const std::string url = (*scratch)->url();
  ledger::EventStoreOptions store_options;
  store_options.database_url = url;
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));

  // 1. The log: payment lifecycles over the tenants, and an owner key per tenant.
  std::cerr << absl::StrFormat("bench read: seeding %d events over %d tenants into %s\n",
                               options.events, options.tenants, (*scratch)->name());
  const auto load_start = Clock::now();
  if (absl::Status s = Seed(**store, options.tenants, options.events); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  const double seed_seconds = Since(load_start);
  std::vector<std::string> keys;
  for (int t = 0; t < options.tenants; ++t) {
    auto key = tenants::IssueApiKey(**store, absl::StrCat("tenant-", t), tenants::kOwnerScope);
    if (!key.ok()) return Fail(2, std::string(key.status().message()));
    keys.push_back(*key);
  }

  // 2. The projections, rebuilt from the log; then statistics, as autovacuum would soon take.
  auto all = projections::AllProjections();
  std::vector<const projections::Projection*> targets;
  for (const auto& p : all) targets.push_back(p.get());
  projections::RebuildOptions rebuild_options;
  rebuild_options.database_url = url;
  rebuild_options.drop_old = true;
  rebuild_options.progress = [](const projections::RebuildProgress& p) {
    std::cerr << absl::StrFormat("  rebuild %s: %d/%d events\n", p.phase, p.events_done,
                                 p.events_total);
  };
  const auto rebuild_start = Clock::now();
  auto rebuilt = projections::RebuildProjections(targets, rebuild_options);
  if (!rebuilt.ok()) return Fail(2, std::string(rebuilt.status().message()));
  int64_t events = 0, payments = 0, revenue_rows = 0, newest_us = 0;
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction txn(conn);
    txn.exec("ANALYZE");
    events = txn.exec1("SELECT coalesce(sum(position), 0) FROM ledger_heads")[0].as<int64_t>();
    pqxx::row row = txn.exec1(
        "SELECT count(*), (extract(epoch FROM max(first_seen_at)) * 1000000)::bigint "
        "FROM payments");
    payments = row[0].as<int64_t>();
    newest_us = row[1].is_null() ? 0 : row[1].as<int64_t>();
    revenue_rows = txn.exec1("SELECT count(*) FROM revenue_daily")[0].as<int64_t>();
  } catch (const std::exception& e) {
    return Fail(2, std::string(ledger::StatusFromException(e, "reading the seeded log").message()));
  }
  if (payments == 0) return Fail(2, "no payments were seeded");
  const double rebuild_seconds = Since(rebuild_start);
  const double load_seconds = Since(load_start);
  std::cerr << absl::StrFormat(
      "bench read: loaded %d events (%d payments, %d revenue_daily rows) in %.1f s: seeding "
      "%.1f s, rebuild + ANALYZE %.1f s\n",
      events, payments, revenue_rows, load_seconds, seed_seconds, rebuild_seconds);

  // 3. The server, as `tally serve --api-rate-limit 0` wires the read API. "Today" is 15 days
  // before the newest payment: the default 30 days of revenue are all generated days.
  const int64_t today_us = newest_us - int64_t{15} * 86400 * 1000000;
  ShiftedClock clock(today_us - ledger::SystemClock().NowMicros());
  auto read_database =
      std::make_unique<http::ReadDatabase>(url, /*replica=*/false, options.read_pool);
  auto reads = std::make_unique<http::ReadApi>(**store, clock, *read_database);
  http::RateLimiter limiter(http::RateLimit{0, 0}, clock);
  http::Endpoints endpoints;
  endpoints.reads = reads.get();
  endpoints.rate_limiter = &limiter;
  http::ServerOptions server_options;
  server_options.port = 0;
  server_options.worker_threads = options.workers;
  server_options.max_connections = options.connections + 16;
  auto server = http::Server::Start(
      server_options,
      [&](const http::HttpRequest& r, http::Responder respond) {
        http::RouteRequest(r, endpoints, std::move(respond));
      },
      [&](const http::HttpRequest& r, http::Responder& respond) {
        return http::TryRouteWithoutBlocking(r, endpoints, respond);
      });
  if (!server.ok()) return Fail(2, std::string(server.status().message()));
  const int port = (*server)->port();

  // Warm-up and checks: every tenant's first page and revenue answer 200 with rows.
  for (int t = 0; t < options.tenants; ++t) {
    for (const char* target : {kListTarget, kRevenueTarget}) {
      auto reply = Get(port, target, keys[t]);
      if (!reply.ok()) return Fail(2, std::string(reply.status().message()));
      if (reply->first != 200) {
        return Fail(1, absl::StrCat("GET ", target, " answered ", reply->first, ": ",
                                    reply->second.substr(0, 300)));
      }
    }
  }

  // 4. The load: every connection is an asynchronous write-read loop on one io_context run by
  // two threads (as pgbench -j 2), each request sent as soon as the previous one is answered.
  std::cerr << absl::StrFormat("bench read: %d connections for %d s on 127.0.0.1:%d\n",
                               options.connections, options.seconds, port);
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> errors{0};
  std::mutex mu;
  Measured measured[3];
  std::string first_error;
  const double cpu_before = ProcessCpuSeconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(options.seconds);
  net::io_context ioc;

  struct Connection : std::enable_shared_from_this<Connection> {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::empty_body> request;
    bhttp::response<bhttp::string_body> response;
    Clock::time_point sent;
    std::mt19937_64 random;
    int64_t count = 0;
    Kind kind = kFirstPage;
    int tenant = 0;
    int cursor_tenant = 0;
    std::string cursor;  // the next page of `cursor_tenant`'s last first page
    Connection(net::io_context& ioc, uint64_t seed) : stream(net::make_strand(ioc)), random(seed) {}
  };
  auto fail = [&](const std::string& what) {
    errors.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what;
  };
  std::function<void(std::shared_ptr<Connection>)> send = [&](std::shared_ptr<Connection> c) {
    if (Clock::now() >= end) return;
    const int64_t n = c->count++;
    std::string target;
    if (n % 2 == 0) {
      c->kind = kRevenue;
      c->tenant = static_cast<int>(c->random() % options.tenants);
      target = kRevenueTarget;
    } else if ((n / 2) % 2 == 1 && !c->cursor.empty()) {
      c->kind = kNextPage;
      c->tenant = c->cursor_tenant;
      target = absl::StrCat(kListTarget, "&cursor=", c->cursor);
    } else {
      c->kind = kFirstPage;
      c->tenant = static_cast<int>(c->random() % options.tenants);
      target = kListTarget;
    }
    c->request = {bhttp::verb::get, target, 11};
    c->request.set(bhttp::field::host, "127.0.0.1");
    c->request.set(bhttp::field::authorization, "Bearer " + keys[c->tenant]);
    c->request.keep_alive(true);
    c->response = {};
    c->sent = Clock::now();
    bhttp::async_write(c->stream, c->request, [&, c](beast::error_code ec, size_t) {
      if (ec) return fail("write: " + ec.message());
      bhttp::async_read(c->stream, c->buffer, c->response, [&, c](beast::error_code ec, size_t) {
        if (ec) return fail("read: " + ec.message());
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - c->sent).count();
        const std::string& body = c->response.body();
        if (c->response.result_int() != 200) {
          fail(absl::StrCat(kKindNames[c->kind], " answered ", c->response.result_int(), ": ",
                            body.substr(0, 300)));
        } else {
          ok.fetch_add(1);
        }
        int64_t rows = 0;
        if (c->kind == kRevenue) {
          rows = CountOf(body, "{\"day\":");
        } else {
          rows = CountOf(body, "{\"payment_id\":");
          c->cursor.clear();
          if (c->kind == kFirstPage) {
            constexpr char kNext[] = "\"next_cursor\":\"";
            const size_t at = body.rfind(kNext);
            if (at != std::string::npos) {
              const size_t from = at + sizeof(kNext) - 1;
              c->cursor = body.substr(from, body.find('"', from) - from);
              c->cursor_tenant = c->tenant;
            }
          }
        }
        {
          std::lock_guard lock(mu);
          measured[c->kind].latencies_ms.push_back(ms);
          measured[c->kind].rows += rows;
        }
        send(c);
      });
    });
  };
  for (int i = 0; i < options.connections; ++i) {
    auto c = std::make_shared<Connection>(ioc, 7919 * (i + 1));
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
      std::cerr << absl::StrFormat("  %d requests ok, %.0f/s, %d errors\n", ok.load(),
                                   ok.load() / Since(start), errors.load());
    }
  });
  for (auto& client : clients) client.join();
  progress.join();
  const double seconds = Since(start);
  const double cpu_seconds = ProcessCpuSeconds() - cpu_before;
  (*server)->Stop();
  reads.reset();
  read_database.reset();  // its connections, before pgbench opens its own

  Measured merged;
  for (const Measured& m : measured) {
    merged.latencies_ms.insert(merged.latencies_ms.end(), m.latencies_ms.begin(),
                               m.latencies_ms.end());
  }
  Figures total = Summarize(std::move(merged), seconds);
  total.requests_per_second = ok.load() / seconds;
  Figures by_kind[3];
  for (int k = 0; k < 3; ++k) by_kind[k] = Summarize(std::move(measured[k]), seconds);
  std::cout << absl::StrFormat(
      "tally read API: %d requests in %.2f s = %.0f requests/s, latency p50 %.2f ms, p99 %.2f "
      "ms, %d errors (%d events, %d tenants, %d connections, %d workers, read pool %d; CPU of "
      "this process, server and load generator: %.0f µs/request)\n",
      total.requests, seconds, total.requests_per_second, total.p50_ms, total.p99_ms, errors.load(),
      events, options.tenants, options.connections, options.workers, options.read_pool,
      total.requests == 0 ? 0.0 : cpu_seconds * 1e6 / total.requests);
  const char* kRowNames[] = {"payments", "payments", "groups"};
  for (int k = 0; k < 3; ++k) {
    std::cout << absl::StrFormat(
        "  %-20s %7d requests, %6.0f/s, p50 %6.2f ms, p99 %6.2f ms, %.1f %s per answer\n",
        kKindNames[k], by_kind[k].requests, by_kind[k].requests_per_second, by_kind[k].p50_ms,
        by_kind[k].p99_ms, by_kind[k].rows_per_answer, kRowNames[k]);
  }
  if (!first_error.empty()) std::cout << "first error: " << first_error << "\n";

  // 5. pgbench, the same SELECTs in the same mix at the same concurrency.
  PgbenchMixResult pg;
  if (options.pgbench) {
    const absl::TimeZone zone = absl::UTCTimeZone();
    const absl::CivilDay today = absl::ToCivilDay(absl::FromUnixMicros(today_us), zone);
    const int64_t newest_s = newest_us / 1000000;
    const std::string tenant = absl::StrCat("\\set t random(0, ", options.tenants - 1, ")\n");
    std::vector<PgbenchScript> scripts = {
        {kKindNames[kFirstPage], tenant + ListSql(false), 1},
        {kKindNames[kNextPage],
         absl::StrCat(tenant, "\\set s random(", newest_s - 86400, ", ", newest_s, ")\n",
                      ListSql(true)),
         1},
        {kKindNames[kRevenue],
         tenant + RevenueSql(absl::FormatCivilTime(today - 29), absl::FormatCivilTime(today)), 2}};
    PgbenchRun run;
    run.clients = options.connections;
    run.seconds = options.seconds;
    auto result = RunPgbenchScripts(url, run, scripts);
    if (!result.ok()) return Fail(2, std::string(result.status().message()));
    pg = *result;
    std::cout << absl::StrFormat(
        "pgbench, the same SELECTs: %.0f tps, latency p50 %.2f ms, p99 %.2f ms (%d clients)\n",
        pg.tps, pg.p50_ms, pg.p99_ms, options.connections);
    for (const PgbenchScriptResult& s : pg.scripts) {
      std::cout << absl::StrFormat("  %-20s %6.0f tps, p50 %6.2f ms, p99 %6.2f ms\n", s.name, s.tps,
                                   s.p50_ms, s.p99_ms);
    }
  }
  const double ratio = pg.tps > 0 ? total.requests_per_second / pg.tps : 0;
  const bool target_met = total.p99_ms <= 20 && ratio >= 0.5;
  if (options.pgbench) {
    std::cout << absl::StrFormat(
        "ratio: %.2fx pgbench's tps; target (p99 <= 20 ms, ratio >= 0.5): %s\n", ratio,
        target_met ? "met" : "missed");
  }
  if (options.json) {
    auto figures = [](const Figures& f) {
      return absl::StrFormat(
          "{\"requests\":%d,\"requests_per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
          "\"rows_per_answer\":%.1f}",
          f.requests, f.requests_per_second, f.p50_ms, f.p99_ms, f.rows_per_answer);
    };
    std::vector<std::string> endpoints_json, pgbench_json;
    for (int k = 0; k < 3; ++k) {
      endpoints_json.push_back(absl::StrCat("\"", kKindNames[k], "\":", figures(by_kind[k])));
    }
    for (const PgbenchScriptResult& s : pg.scripts) {
      pgbench_json.push_back(absl::StrFormat(
          "\"%s\":{\"transactions\":%d,\"tps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}", s.name,
          s.transactions, s.tps, s.p50_ms, s.p99_ms));
    }
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"read\",\"events\":%d,\"payments\":%d,\"tenants\":%d,"
        "\"connections\":%d,\"workers\":%d,\"read_pool\":%d,\"seconds\":%.3f,"
        "\"load_seconds\":%.1f,\"requests\":%d,\"errors\":%d,\"requests_per_second\":%.1f,"
        "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"cpu_us_per_request\":%.1f,\"endpoints\":{%s},"
        "\"pgbench_tps\":%.1f,\"pgbench_p50_ms\":%.3f,\"pgbench_p99_ms\":%.3f,"
        "\"pgbench_scripts\":{%s},\"ratio\":%.3f,\"target_met\":%s}\n",
        events, payments, options.tenants, options.connections, options.workers, options.read_pool,
        seconds, load_seconds, total.requests, errors.load(), total.requests_per_second,
        total.p50_ms, total.p99_ms, total.requests == 0 ? 0.0 : cpu_seconds * 1e6 / total.requests,
        absl::StrJoin(endpoints_json, ","), pg.tps, pg.p50_ms, pg.p99_ms,
        absl::StrJoin(pgbench_json, ","), ratio, target_met ? "true" : "false");
  }
  return errors.load() == 0 && ok.load() > 0 ? 0 : 1;
}

}  // namespace tally::app
