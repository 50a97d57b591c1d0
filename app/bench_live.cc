// `tally bench live`: the dashboard's live feed under load. N WebSocket dashboards of one tenant
// are signed in to GET /v1/live; paid Stripe webhooks are posted one after another, each for a
// payment created beforehand; for each webhook the time from its HTTP 200 to the moment each
// dashboard receives the payment's change to paid. The server, the projection runners and the
// feed are wired as `tally serve` wires them, in this process, on a scratch database.

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "app/commands.h"
#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "http/live_feed.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/scratch_database.h"
#include "projections/catalog.h"
#include "projections/projection.h"
#include "projections/runner.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kBenchKey[] = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
constexpr char kSecret[] = "whsec_bench";
constexpr int64_t kAmount = 4990;

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

std::string TransactionId(int n) { return absl::StrCat("pi_live_", n); }

// When each dashboard saw each payment paid: arrival[webhook][dashboard], or nullopt.
class Arrivals {
 public:
  Arrivals(int webhooks, int dashboards)
      : at_(webhooks, std::vector<Clock::time_point>(dashboards)), count_(webhooks, 0) {}

  void Record(int webhook, int dashboard, Clock::time_point when) {
    std::lock_guard lock(mu_);
    if (webhook < 0 || webhook >= static_cast<int>(at_.size())) return;
    if (at_[webhook][dashboard] != Clock::time_point{}) return;
    at_[webhook][dashboard] = when;
    if (++count_[webhook] == static_cast<int>(at_[webhook].size())) cv_.notify_all();
  }
  // Waits until every dashboard saw `webhook`, at most `limit`; how many did.
  int Wait(int webhook, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit,
                 [&] { return count_[webhook] == static_cast<int>(at_[webhook].size()); });
    return count_[webhook];
  }
  std::vector<Clock::time_point> Of(int webhook) {
    std::lock_guard lock(mu_);
    return at_[webhook];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<Clock::time_point>> at_;
  std::vector<int> count_;
};

// One dashboard: signed in synchronously, then an asynchronous read loop.
struct Dashboard : std::enable_shared_from_this<Dashboard> {
  Dashboard(net::io_context& ioc, int index, Arrivals& arrivals)
      : ws(net::make_strand(ioc)), index(index), arrivals(arrivals) {}

  absl::Status SignIn(int port, const std::string& key) {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
    if (!ec) ws.handshake("127.0.0.1", "/v1/live", ec);
    if (!ec) ws.write(net::buffer(absl::StrCat(R"({"key":")", key, R"("})")), ec);
    if (!ec) ws.read(buffer, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("dashboard ", index, ": ", ec.message()));
    const std::string ready = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    if (ready.find(R"("type":"ready")") == std::string::npos) {
      return absl::PermissionDeniedError(absl::StrCat("dashboard ", index, ": ", ready));
    }
    return absl::OkStatus();
  }

  void Read() {
    ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      const auto now = Clock::now();
      self->OnMessage(beast::buffers_to_string(self->buffer.data()), now);
      self->buffer.consume(self->buffer.size());
      self->Read();
    });
  }

  void OnMessage(const std::string& message, Clock::time_point now) {
    if (message.find(R"("status":"paid")") == std::string::npos) return;
    constexpr std::string_view kId = R"("payment_id":"pay_live_)";
    const size_t at = message.find(kId);
    if (at == std::string::npos) return;
    const size_t start = at + kId.size();
    int n = -1;
    if (!absl::SimpleAtoi(message.substr(start, message.find('"', start) - start), &n)) return;
    arrivals.Record(n, index, now);
  }

  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  const int index;
  Arrivals& arrivals;
};

absl::Status CreatePayment(ledger::EventStore& store, const std::string& tenant_id, int n) {
  payments::v1::PaymentCreated created;
  created.set_tenant_id(tenant_id);
  created.set_payment_id(absl::StrCat("pay_live_", n));
  created.set_gateway("stripe");
  created.set_gateway_transaction_id(TransactionId(n));
  created.set_bot_id("bench");
  created.set_product_id("vip");
  created.set_customer_id(absl::StrCat("tg:", n));
  created.mutable_amount()->set_amount_minor(kAmount);
  created.mutable_amount()->set_currency("BRL");
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_API);
  ledger::AppendRequest request;
  request.tenant_key = tenant_id;
  request.stream_id = gateways::PaymentStreamId("stripe", TransactionId(n));
  request.expected = ledger::ExpectedVersion::Any();
  request.events = {{"tally.payments.v1.PaymentCreated", created.SerializeAsString(),
                     metadata.SerializeAsString()}};
  auto appended = store.Append(std::move(request));
  return appended.status();
}

std::string PaidWebhook(int n) {
  return absl::StrCat(R"({"id":"evt_live_)", n, R"(","object":"event","created":1795000000,)",
                      R"("data":{"object":{"id":")", TransactionId(n),
                      R"(","object":"payment_intent","amount":)", kAmount, R"(,"amount_received":)",
                      kAmount, R"(,"currency":"brl","status":"succeeded","metadata":{}}},)",
                      R"("type":"payment_intent.succeeded"})");
}

}  // namespace

int RunBenchLive(const BenchLiveOptions& options) {
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_live", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  const std::string url = (*scratch)->url();
  ledger::EventStoreOptions store_options;
  store_options.database_url = url;
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
  spdlog::set_level(spdlog::level::warn);

  // As `tally serve` runs them: every projection folding, the feed listening, one server.
  auto all_projections = projections::AllProjections();
  std::vector<std::unique_ptr<projections::ProjectionRunner>> runners;
  for (const auto& projection : all_projections) {
    if (absl::Status s = projections::EnsureInitialized(url, *projection); !s.ok()) {
      return Fail(2, std::string(s.message()));
    }
    projections::RunnerOptions runner_options;
    runner_options.database_url = url;
    runners.push_back(std::make_unique<projections::ProjectionRunner>(*projection, runner_options));
    runners.back()->Start();
  }
  ledger::SystemClock clock;
  http::LiveFeed feed(**store, clock, http::LiveFeedOptions{url, 1});
  feed.Start();
  http::WebhookIngestion ingestion(**store, *box, gateways, clock, url);
  const http::Endpoints endpoints{&ingestion};
  http::ServerOptions server_options;
  server_options.port = 0;
  server_options.max_connections = options.dashboards + 64;
  http::WebSocketRoute route{"/v1/live", &feed};
  route.max_connections = options.dashboards + 16;
  auto server = http::Server::Start(
      server_options,
      [&](const http::HttpRequest& r, http::Responder respond) {
        http::RouteRequest(r, endpoints, std::move(respond));
      },
      [&](const http::HttpRequest& r, http::Responder& respond) {
        return http::TryRouteWithoutBlocking(r, endpoints, respond);
      },
      route);
  if (!server.ok()) return Fail(2, std::string(server.status().message()));
  const int port = (*server)->port();

  // The payments exist (pending) before the dashboards connect, so that the webhooks measure the
  // change to paid alone.
  std::cerr << absl::StrFormat("bench live: creating %d payments\n", options.webhooks);
  for (int n = 0; n < options.webhooks; ++n) {
    if (absl::Status s = CreatePayment(**store, tenant->tenant_id, n); !s.ok()) {
      return Fail(2, std::string(s.message()));
    }
  }
  std::cerr << absl::StrFormat("bench live: signing in %d dashboards on 127.0.0.1:%d\n",
                               options.dashboards, port);
  Arrivals arrivals(options.webhooks, options.dashboards);
  net::io_context ioc;
  std::vector<std::shared_ptr<Dashboard>> dashboards;
  for (int i = 0; i < options.dashboards; ++i) {
    dashboards.push_back(std::make_shared<Dashboard>(ioc, i, arrivals));
    if (absl::Status s = dashboards.back()->SignIn(port, tenant->api_key); !s.ok()) {
      return Fail(1, std::string(s.message()));
    }
    dashboards.back()->Read();
  }
  auto work = net::make_work_guard(ioc);
  std::vector<std::thread> client_threads;
  for (int t = 0; t < 2; ++t) {
    client_threads.emplace_back([&] {
      pthread_setname_np(pthread_self(), "bench-dashboard");
      ioc.run();
    });
  }

  // The gateway: one keep-alive connection, one webhook at a time, the next once every
  // dashboard has the previous one (or after 5 s).
  net::io_context http_ioc;
  beast::tcp_stream gateway(http_ioc);
  beast::error_code ec;
  gateway.socket().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return Fail(2, "cannot connect to the bench server: " + ec.message());
  const std::string target = "/webhooks/stripe/" + tenant->webhook_token;
  std::vector<double> fanout_ms, first_ms, last_ms, webhook_ms;
  int missed = 0, failed = 0;
  const auto start = Clock::now();
  auto last_progress = start;
  for (int n = 0; n < options.webhooks; ++n) {
    const std::string body = PaidWebhook(n);
    const int64_t t = absl::ToUnixSeconds(absl::Now());
    bhttp::request<bhttp::string_body> request{bhttp::verb::post, target, 11};
    request.set(bhttp::field::host, "127.0.0.1");
    request.set(bhttp::field::content_type, "application/json");
    request.set("Stripe-Signature",
                absl::StrCat("t=", t,
                             ",v1=", gateways::HmacSha256Hex(kSecret, absl::StrCat(t, ".", body))));
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    const auto sent = Clock::now();
    bhttp::write(gateway, request, ec);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    if (!ec) bhttp::read(gateway, buffer, response, ec);
    const auto answered = Clock::now();
    if (ec || response.result_int() != 200) {
      ++failed;
      std::cerr << "  webhook " << n << ": "
                << (ec ? ec.message() : absl::StrCat(response.result_int(), " ", response.body()))
                << "\n";
      if (ec) break;
      continue;
    }
    webhook_ms.push_back(std::chrono::duration<double, std::milli>(answered - sent).count());
    const int seen = arrivals.Wait(n, std::chrono::milliseconds(5000));
    missed += options.dashboards - seen;
    double first = 1e18, last = 0;
    for (const auto& at : arrivals.Of(n)) {
      if (at == Clock::time_point{}) continue;
      // A dashboard may hear of the change before the gateway has read its 200: that is 0.
      const double ms =
          std::max(0.0, std::chrono::duration<double, std::milli>(at - answered).count());
      fanout_ms.push_back(ms);
      first = std::min(first, ms);
      last = std::max(last, ms);
    }
    if (seen > 0) {
      first_ms.push_back(first);
      last_ms.push_back(last);
    }
    if (Clock::now() - last_progress >= std::chrono::seconds(1) || n + 1 == options.webhooks) {
      last_progress = Clock::now();
      std::cerr << absl::StrFormat(
          "  %d/%d webhooks; fan-out so far p50 %.1f ms, p99 %.1f ms; %d deliveries missed\n",
          n + 1, options.webhooks, Pct(fanout_ms, 0.5), Pct(fanout_ms, 0.99), missed);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (*server)->Stop();
  work.reset();
  ioc.stop();
  for (auto& thread : client_threads) thread.join();
  feed.Stop();
  for (auto& runner : runners) runner->Stop();

  const double p50 = Pct(fanout_ms, 0.5), p99 = Pct(fanout_ms, 0.99);
  const double max = fanout_ms.empty() ? 0 : *std::max_element(fanout_ms.begin(), fanout_ms.end());
  std::cout << absl::StrFormat(
      "tally live: %d dashboards, %d paid webhooks in %.2f s; from each webhook's 200 to each "
      "dashboard: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 <= 100 ms); first dashboard "
      "p50 %.1f ms, last dashboard p50 %.1f ms, p99 %.1f ms; webhook answered p50 %.1f ms; %d "
      "deliveries missed, %d webhooks failed\n",
      options.dashboards, options.webhooks, seconds, p50, p99, max, Pct(first_ms, 0.5),
      Pct(last_ms, 0.5), Pct(last_ms, 0.99), Pct(webhook_ms, 0.5), missed, failed);
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"live\",\"dashboards\":%d,\"webhooks\":%d,\"seconds\":%.3f,"
        "\"fanout_p50_ms\":%.3f,\"fanout_p99_ms\":%.3f,\"fanout_max_ms\":%.3f,"
        "\"first_dashboard_p50_ms\":%.3f,\"last_dashboard_p50_ms\":%.3f,"
        "\"last_dashboard_p99_ms\":%.3f,\"webhook_p50_ms\":%.3f,\"missed\":%d,\"failed\":%d}\n",
        options.dashboards, options.webhooks, seconds, p50, p99, max, Pct(first_ms, 0.5),
        Pct(last_ms, 0.5), Pct(last_ms, 0.99), Pct(webhook_ms, 0.5), missed, failed);
  }
  return missed == 0 && failed == 0 ? 0 : 1;
}

}  // namespace tally::app
