// `tally bench reconcile`: how many status polls per second the reconciliation poller sustains
// over a backlog of pending payments, with the gateways' per-account limits lifted and with
// them in force — and, with them in force, that no gateway account saw more polls in a second
// than its gateway allows nor one transaction polled closer than its minimum interval, as the
// simulators count them (GET /sandbox/polls).
//
// Nothing is backdated. Each phase creates its pending charges over HTTP (never paid), waits
// until the last one's first poll is due (15 s after it was created; 60 s at PushinPay, whose
// minimum interval per transaction the schedule also keeps from creation), and only then starts
// the reactors, so the poller starts with every payment due. The rate is timed at the wire: the
// reactors' outbound transport is wrapped to note when each status request left, and for which
// transaction (its URL).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "app/commands.h"
#include "app/pgbench_baseline.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/scratch_database.h"
#include "reactors/reactor_host.h"
#include "reactors/reconciliation.h"
#include "sandbox/sandbox.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kMasterKey[] = "5ca1ab1ec0ffee005ca1ab1ec0ffee005ca1ab1ec0ffee005ca1ab1ec0ffee00";
constexpr const char* kGateways[] = {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"};
constexpr int kCreators = 16;

struct Seller {
  std::string tenant_id;
  std::string api_key;
};

std::string AccountKey(const std::string& gateway, int seller) {
  return absl::StrCat("bk-", gateway, "-", seller);
}

// When each status request left, per transaction (its URL), in order.
class WireLog {
 public:
  void Add(const std::string& target, int64_t at_us) {
    std::lock_guard lock(mu_);
    polls_.emplace_back(target, at_us);
    ++per_target_[target];
  }
  std::vector<std::pair<std::string, int64_t>> polls() const {
    std::lock_guard lock(mu_);
    return polls_;
  }
  // Requests made, transactions polled at least once, and at least `times` times.
  std::tuple<int64_t, int64_t, int64_t> Counts(int times) const {
    std::lock_guard lock(mu_);
    int64_t enough = 0;
    for (const auto& [target, n] : per_target_) enough += n >= times;
    return {static_cast<int64_t>(polls_.size()), static_cast<int64_t>(per_target_.size()), enough};
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, int64_t>> polls_;
  std::map<std::string, int> per_target_;
};

gateways::Transport Recording(gateways::Transport inner, WireLog& log, const ledger::Clock& clock) {
  return [inner = std::move(inner), &log, &clock](const gateways::ApiRequest& request) {
    if (request.method == "GET") log.Add(request.url, clock.NowMicros());  // a status poll
    return inner(request);
  };
}

absl::StatusOr<std::string> Send(http::HttpClient& client, const std::string& method,
                                 const std::string& url, const std::string& body) {
  auto r = client.Send({method, url, {{"Content-Type", "application/json"}}, body, 10000ms});
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::InternalError(absl::StrCat(method, " ", url, ": ", r->status, " ", r->body));
  }
  return r->body;
}

// Sellers with the five gateways at the simulators (no bots: nothing is ever paid).
absl::StatusOr<std::vector<Seller>> CreateSellers(ledger::EventStore& store,
                                                  const tenants::SecretBox& box,
                                                  const gateways::GatewayRegistry& registry,
                                                  http::HttpClient& client,
                                                  const sandbox::Sandbox& sandbox,
                                                  const std::string& tally_url, int count) {
  std::vector<Seller> sellers;
  for (int t = 0; t < count; ++t) {
    auto tenant =
        tenants::CreateTenant(store, box, absl::StrCat("bench seller ", t), "America/Sao_Paulo");
    if (!tenant.ok()) return tenant.status();
    for (const char* gateway : kGateways) {
      const std::string key = AccountKey(gateway, t);
      const std::string secret = absl::StrCat("whsec-", gateway, "-", t);
      if (absl::Status s =
              tenants::ConfigureGateway(store, box, registry, tenant->tenant_id,
                                        {gateway, secret, key, sandbox.BaseUrl(gateway)});
          !s.ok()) {
        return s;
      }
      auto added =
          Send(client, "POST", sandbox.BaseUrl("sandbox") + "/accounts",
               absl::StrCat(R"({"service":")", gateway, R"(","api_key":")", key,
                            R"(","webhook_secret":")", secret, R"(","webhook_url":")", tally_url,
                            "/webhooks/", gateway, "/", tenant->webhook_token, R"("})"));
      if (!added.ok()) return added.status();
    }
    sellers.push_back({tenant->tenant_id, tenant->api_key});
  }
  return sellers;
}

// One gateway's accounts as the simulator counted their polls.
struct GatewayPolls {
  double limit_per_second = 0;
  int64_t min_interval_ms = 0;
  int64_t polls = 0;
  int64_t max_in_any_second = 0;  // the worst account's
  int64_t min_gap_ms = -1;        // the worst account's; -1: no transaction polled twice
  int64_t accounts_over_rate = 0;
  int64_t accounts_under_interval = 0;
};

struct PhaseResult {
  int64_t polls = 0;            // every status request made
  double polls_per_second = 0;  // over the backlog of first polls (see Sustained)
  double window_seconds = 0;
  double allowed_per_second = 0;  // the sum of the accounts' limits
  int64_t twice_polled = 0;
  std::map<std::string, GatewayPolls> gateways;
  int64_t limit_violations = 0;
  PgbenchResult baseline;  // when asked for: pgbench at the poller's concurrency, same database
};

// The rate of first polls between the 5th and the 95th percentile of their start times: the
// backlog's steady part, without the start (the fold filling the queue) or the tail.
std::pair<double, double> Sustained(const std::vector<std::pair<std::string, int64_t>>& polls) {
  std::map<std::string, int64_t> first;
  for (const auto& [target, at] : polls) first.try_emplace(target, at);
  std::vector<int64_t> times;
  for (const auto& [target, at] : first) times.push_back(at);
  if (times.size() < 20) return {0, 0};
  std::sort(times.begin(), times.end());
  const size_t lo = times.size() / 20, hi = times.size() - 1 - times.size() / 20;
  const double seconds = (times[hi] - times[lo]) / 1e6;
  return {seconds > 0 ? (hi - lo) / seconds : 0, seconds};
}

// The simulator's poll accounting, checked against each gateway's PollPolicy.
absl::StatusOr<std::map<std::string, GatewayPolls>> CheckLimits(
    const std::string& polls_json, const gateways::GatewayRegistry& registry, int sellers) {
  auto fields = gateways::PayloadFields::ParseJson(polls_json);
  if (!fields.ok()) return fields.status();
  std::map<std::string, GatewayPolls> out;
  for (const char* gateway : kGateways) {
    const gateways::PollPolicy& policy = registry.Find(gateway)->traits().poll;
    GatewayPolls& g = out[gateway];
    g.limit_per_second = policy.account_queries_per_second;
    g.min_interval_ms = policy.min_interval_per_transaction_s * 1000;
    for (int t = 0; t < sellers; ++t) {
      const std::string path =
          absl::StrCat("services.", gateway, ".accounts.", AccountKey(gateway, t), ".");
      int64_t polls = 0, max_in_second = 0, min_gap = -1;
      if (!absl::SimpleAtoi(fields->Text(path + "polls"), &polls) ||
          !absl::SimpleAtoi(fields->Text(path + "max_in_any_second"), &max_in_second) ||
          !absl::SimpleAtoi(fields->Text(path + "min_gap_ms_same_transaction"), &min_gap)) {
        return absl::DataLossError("the simulator's poll accounting lacks " + path);
      }
      g.polls += polls;
      g.max_in_any_second = std::max(g.max_in_any_second, max_in_second);
      if (min_gap >= 0 && (g.min_gap_ms < 0 || min_gap < g.min_gap_ms)) g.min_gap_ms = min_gap;
      if (max_in_second > policy.account_queries_per_second) ++g.accounts_over_rate;
      if (min_gap >= 0 && min_gap < g.min_interval_ms) ++g.accounts_under_interval;
    }
  }
  return out;
}

absl::StatusOr<PhaseResult> RunPhase(const BenchReconcileOptions& options, bool unlimited,
                                     bool baseline) {
  const char* name = unlimited ? "limits lifted" : "limits on";
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_reconcile", 1);
  if (!scratch.ok()) return scratch.status();
  const std::string db_url = (*scratch)->url();
  ledger::EventStoreOptions store_options;
  store_options.database_url = db_url;
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return store.status();
  const tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  ledger::SystemClock clock;
  http::HttpClient client;
  http::HttpClient outbound;
  auto sandbox = sandbox::Sandbox::Start({});
  if (!sandbox.ok()) return sandbox.status();

  http::Endpoints endpoints;
  http::ServerOptions server_options;
  server_options.port = 0;
  auto server = http::Server::Start(
      server_options,
      [&](const http::HttpRequest& r, http::Responder respond) {
        http::RouteRequest(r, endpoints, std::move(respond));
      },
      [&](const http::HttpRequest& r, http::Responder& respond) {
        return http::TryRouteWithoutBlocking(r, endpoints, respond);
      });
  if (!server.ok()) return server.status();
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", (*server)->port());
  http::WebhookIngestion webhooks(**store, box, registry, clock, db_url);
  http::ChargeApi charges(**store, box, registry, clock, http::GatewayTransport(outbound, 10000ms),
                          http::ChargeApiOptions{tally_url});
  endpoints = {&webhooks, &charges, nullptr, nullptr};
  auto sellers =
      CreateSellers(**store, box, registry, client, **sandbox, tally_url, options.tenants);
  if (!sellers.ok()) return sellers.status();

  // The pending charges, as fast as the API takes them.
  std::cerr << absl::StrFormat(
      "bench reconcile (%s): creating %d pending charges over %d sellers x %d gateways\n", name,
      options.pending, options.tenants, std::size(kGateways));
  std::atomic<int64_t> next{0}, created{0}, failed{0};
  std::atomic<int64_t> last_created_us{0};
  std::mutex error_mu;
  std::string first_error;
  const auto creation_start = Clock::now();
  std::vector<std::thread> creators;
  for (int w = 0; w < kCreators; ++w) {
    creators.emplace_back([&] {
      pthread_setname_np(pthread_self(), "bench-client");
      for (int64_t i = next.fetch_add(1); i < options.pending; i = next.fetch_add(1)) {
        const std::string gateway = kGateways[i % std::size(kGateways)];
        const Seller& seller = (*sellers)[(i / std::size(kGateways)) % sellers->size()];
        auto r =
            client.Send({"POST",
                         tally_url + "/v1/payments",
                         {{"Content-Type", "application/json"},
                          {"Authorization", "Bearer " + seller.api_key},
                          {"Idempotency-Key", absl::StrCat("bench-reconcile-", i)}},
                         absl::StrCat(R"({"gateway":")", gateway,
                                      R"(","amount_minor":1990,"customer":{"id":"tg:)", 600000 + i,
                                      R"(","email":"buyer)", i, R"(@example.com"}})"),
                         10000ms});
        if (!r.ok() || r->status != 201) {
          failed.fetch_add(1);
          std::lock_guard lock(error_mu);
          if (first_error.empty()) {
            first_error = r.ok() ? absl::StrCat(r->status, " ", r->body) : r.status().ToString();
          }
          continue;
        }
        const int64_t now = clock.NowMicros();
        int64_t seen = last_created_us.load();
        while (seen < now && !last_created_us.compare_exchange_weak(seen, now)) {
        }
        if (created.fetch_add(1) % 2000 == 1999) {
          std::cerr << absl::StrFormat("  %d created\n", created.load());
        }
      }
    });
  }
  for (auto& t : creators) t.join();
  const double creation_s = std::chrono::duration<double>(Clock::now() - creation_start).count();
  if (failed.load() > 0) {
    return absl::InternalError(
        absl::StrCat(failed.load(), " charges failed; the first: ", first_error));
  }
  // A payment's first poll is due 15 s after its PaymentCreated (recorded before its 201), or
  // after the gateway's minimum interval per transaction when that is longer (PushinPay: 60 s).
  int64_t first_poll_after_us = 0;
  for (const char* gateway : kGateways) {
    first_poll_after_us =
        std::max(first_poll_after_us,
                 reactors::NextPollAtUs(0, 0, 0, registry.Find(gateway)->traits().poll));
  }
  const int64_t all_due_us = last_created_us.load() + first_poll_after_us + 200'000;
  std::cerr << absl::StrFormat(
      "  %d created in %.1f s (%.0f/s); waiting %.1f s until the last one's first poll is due\n",
      created.load(), creation_s, created.load() / creation_s,
      std::max<int64_t>(0, all_due_us - clock.NowMicros()) / 1e6);
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::max<int64_t>(0, all_due_us - clock.NowMicros())));

  WireLog wire;
  reactors::ReactorHostOptions host_options;
  host_options.database_url = db_url;
  host_options.public_url = tally_url;
  host_options.delivery_secret = reactors::DeliverySecretFromMasterKey(kMasterKey);
  host_options.telegram_api_base = (*sandbox)->BaseUrl("telegram");
  host_options.meta_api_base = (*sandbox)->BaseUrl("meta");
  host_options.unlimited_polls = unlimited;
  reactors::ReactorHost host(**store, clock, box, registry,
                             Recording(http::GatewayTransport(outbound, 10000ms), wire, clock),
                             host_options);
  const auto polls_start = Clock::now();
  host.Start();
  // Limits lifted: until every payment was polled once. Limits on: until every payment was
  // polled twice, so that the per-transaction interval is exercised too (a second poll comes
  // 30 s after the first, 60 s at PushinPay).
  const int wanted = unlimited ? 1 : 2;
  const auto deadline = polls_start + (unlimited ? 120s : 300s);
  auto last_report = Clock::now();
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    const auto [polls, once, enough] = wire.Counts(wanted);
    if (enough >= options.pending) break;
    if (Clock::now() - last_report >= 5s) {
      last_report = Clock::now();
      std::cerr << absl::StrFormat(
          "  %.0f s: %d polls, %d payments polled at least once, %d at least %d times\n",
          std::chrono::duration<double>(Clock::now() - polls_start).count(), polls, once, enough,
          wanted);
    }
  }
  host.Stop();
  (*server)->Stop();
  auto accounting = Send(client, "GET", (*sandbox)->BaseUrl("sandbox") + "/polls", "");
  (*sandbox)->Stop();
  if (!accounting.ok()) return accounting.status();

  PhaseResult result;
  const auto polls = wire.polls();
  result.polls = static_cast<int64_t>(polls.size());
  std::tie(result.polls_per_second, result.window_seconds) = Sustained(polls);
  result.twice_polled = std::get<2>(wire.Counts(2));
  auto checked = CheckLimits(*accounting, registry, options.tenants);
  if (!checked.ok()) return checked.status();
  result.gateways = *std::move(checked);
  for (const auto& [gateway, g] : result.gateways) {
    result.allowed_per_second += g.limit_per_second * options.tenants;
    result.limit_violations += g.accounts_over_rate + g.accounts_under_interval;
  }
  std::cerr << absl::StrFormat(
      "  %s: %d polls; first polls at %.0f/s sustained over %.1f s; %d payments polled twice\n",
      name, result.polls, result.polls_per_second, result.window_seconds, result.twice_polled);
  if (baseline) {
    PgbenchRun run;
    run.clients = 8;  // the poller's workers
    run.seconds = 5;
    auto measured = RunPgbenchInsert(db_url, run);
    if (!measured.ok()) return measured.status();
    result.baseline = *measured;
  }
  return result;
}

std::string GatewaysJson(const std::map<std::string, GatewayPolls>& gateways) {
  std::vector<std::string> parts;
  for (const auto& [name, g] : gateways) {
    parts.push_back(absl::StrFormat(
        "\"%s\":{\"limit_per_second\":%.1f,\"max_in_any_second\":%d,\"min_interval_ms\":%d,"
        "\"min_gap_ms\":%d,\"polls\":%d,\"accounts_over_rate\":%d,\"accounts_under_interval\":%d}",
        name, g.limit_per_second, g.max_in_any_second, g.min_interval_ms, g.min_gap_ms, g.polls,
        g.accounts_over_rate, g.accounts_under_interval));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

}  // namespace

int RunBenchReconcile(const BenchReconcileOptions& options) {
  spdlog::set_level(spdlog::level::warn);
  auto lifted = RunPhase(options, /*unlimited=*/true, /*baseline=*/options.pgbench);
  if (!lifted.ok()) return Fail(2, "limits lifted: " + lifted.status().ToString());
  const PgbenchResult& baseline = lifted->baseline;
  auto limited = RunPhase(options, /*unlimited=*/false, /*baseline=*/false);
  if (!limited.ok()) return Fail(2, "limits on: " + limited.status().ToString());
  std::cout << absl::StrFormat(
      "tally reconcile: %d pending payments over %d sellers x 5 gateways\n"
      "  limits lifted: %.0f polls/s sustained (first polls, middle 90%% over %.1f s)\n"
      "  limits on:     %.0f polls/s sustained over %.1f s (the accounts allow %.0f/s); %d polls, "
      "%d payments polled twice; %d limit violations\n",
      options.pending, options.tenants, lifted->polls_per_second, lifted->window_seconds,
      limited->polls_per_second, limited->window_seconds, limited->allowed_per_second,
      limited->polls, limited->twice_polled, limited->limit_violations);
  for (const auto& [name, g] : limited->gateways) {
    std::cout << absl::StrFormat(
        "    %-12s at most %d polls in any second of an account (limit %.0f), closest polls of "
        "one transaction %d ms apart (minimum %d ms)\n",
        name, g.max_in_any_second, g.limit_per_second, g.min_gap_ms, g.min_interval_ms);
  }
  if (options.pgbench) {
    std::cout << absl::StrFormat(
        "pgbench single-row INSERT at 8 clients: %.0f tps; limits lifted = %.2fx\n", baseline.tps,
        lifted->polls_per_second / baseline.tps);
  }
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"reconcile\",\"pending\":%d,\"sellers\":%d,\"polls_per_second\":%.1f,"
        "\"window_seconds\":%.3f,\"polls_per_second_limited\":%.1f,"
        "\"allowed_polls_per_second\":%.1f,\"window_seconds_limited\":%.3f,\"polls_limited\":%d,"
        "\"payments_polled_twice\":%d,\"limit_violations\":%d,\"gateways\":%s,"
        "\"pgbench_tps\":%.1f,\"ratio_vs_pgbench\":%.3f}\n",
        options.pending, options.tenants, lifted->polls_per_second, lifted->window_seconds,
        limited->polls_per_second, limited->allowed_per_second, limited->window_seconds,
        limited->polls, limited->twice_polled, limited->limit_violations,
        GatewaysJson(limited->gateways), baseline.tps,
        baseline.tps > 0 ? lifted->polls_per_second / baseline.tps : 0.0);
  }
  return limited->limit_violations == 0 && limited->twice_polled == options.pending ? 0 : 1;
}

}  // namespace tally::app
