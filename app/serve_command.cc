// `tally serve`: refuses an unmigrated database, then serves HTTP until SIGTERM/SIGINT, when it
// stops accepting, finishes in-flight requests and exits.

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "app/commands.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "http/live_feed.h"
#include "http/owner_health.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/database.h"
#include "ledger/event_store.h"
#include "ledger/migration.h"
#include "projections/projection.h"
#include "projections/runner.h"
#include "reactors/delivery.h"
#include "reactors/reactor_host.h"
#include "reactors/subscriptions.h"
#include "tenants/secret_box.h"

namespace tally::app {
namespace {

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown host";
  return name;
}

}  // namespace

int RunServe(const ServeOptions& options) {
  auto listen = ParseListen(options.listen);
  if (!listen.ok()) return Fail(2, std::string(listen.status().message()));
  if (options.time_scale != 1) {
    const char* demo = std::getenv("TALLY_DEMO");
    if (demo == nullptr || std::string(demo) != "1") {
      return Fail(2, "--time-scale is for demos and tests only: refused unless TALLY_DEMO=1");
    }
    std::cout << "tally: time scale " << options.time_scale
              << ": configured delays pass that many times faster (demo)" << std::endl;
  }
  if (options.charge_settle_after_ms <= options.gateway_timeout_ms) {
    return Fail(2,
                "--charge-settle-after-ms must exceed --gateway-timeout-ms (a look-up must "
                "not race the call it looks for)");
  }
  if (absl::Status schema = ledger::CheckSchema(options.database_url, ledger::EmbeddedMigrations());
      !schema.ok()) {
    return Fail(2, std::string(schema.message()));
  }

  bool http_role = false;
  bool projections_role = false;
  bool reactors_role = false;
  for (absl::string_view role : absl::StrSplit(options.roles, ',', absl::SkipEmpty())) {
    if (role == "http") {
      http_role = true;
    } else if (role == "projections") {
      projections_role = true;
    } else if (role == "reactors") {
      reactors_role = true;
    } else {
      return Fail(
          2, "unknown role \"" + std::string(role) + "\" (roles: http, projections, reactors)");
    }
  }
  const char* master_key = std::getenv("TALLY_MASTER_KEY");
  if ((http_role || reactors_role) && master_key == nullptr) {
    return Fail(2, "TALLY_MASTER_KEY is not set (64 hex digits; it seals gateway secrets)");
  }

  // Every session names this process, so that the jobs API can say which process leads a job
  // (a connection URL that sets application_name keeps its own).
  setenv("PGAPPNAME",
         absl::StrCat("tally serve pid ", getpid(), " on ", HostName()).substr(0, 63).c_str(), 0);

  // Logs go through a background thread that drops the oldest lines when it cannot keep up:
  // a stalled stdout (a full pipe, a stuck collector) must never stall an append.
  spdlog::init_thread_pool(65536, 1);
  spdlog::set_default_logger(std::make_shared<spdlog::async_logger>(
      "tally", std::make_shared<spdlog::sinks::stdout_sink_mt>(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest));

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  int partitions = 0;
  try {
    auto conn = ledger::Connect(options.database_url, ledger::Session::kService);
    if (!conn.ok()) return Fail(2, std::string(conn.status().message()));
    pqxx::read_transaction txn(**conn);
    partitions = txn.exec("SELECT count(*) FROM ledger_heads")[0][0].as<int>();
  } catch (const std::exception& e) {
    return Fail(2, std::string(ledger::StatusFromException(e, "reading partitions").message()));
  }
  std::vector<std::unique_ptr<projections::Projection>> all_projections;
  std::vector<std::unique_ptr<projections::ProjectionRunner>> runners;
  if (projections_role) {
    all_projections = projections::AllProjections();
    for (const auto& projection : all_projections) {
      for (int p = 0; p < partitions; ++p) {
        projections::RunnerOptions runner_options;
        runner_options.database_url = options.database_url;
        runner_options.partition = p;
        runners.push_back(
            std::make_unique<projections::ProjectionRunner>(*projection, runner_options));
        runners.back()->Start();
      }
    }
    std::cout << "tally: " << runners.size() << " projection runners (" << all_projections.size()
              << " projections x " << partitions << " partitions)" << std::endl;
  }

  std::unique_ptr<ledger::EventStore> store;
  std::unique_ptr<http::LiveFeed> live_feed;  // outlives the server, whose workers call it
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::WebhookIngestion> ingestion;
  std::unique_ptr<http::HttpClient> client;
  std::unique_ptr<http::ChargeApi> charges;
  std::unique_ptr<http::TelegramIngestion> telegram;
  std::unique_ptr<http::DeliveryPage> delivery_page;
  std::unique_ptr<http::OfferPage> offer_page;
  std::unique_ptr<http::RenewPage> renew_page;
  std::unique_ptr<http::Readiness> readiness;
  std::unique_ptr<http::MetricsEndpoint> metrics_endpoint;
  std::unique_ptr<reactors::ReactorHost> reactor_host;
  std::unique_ptr<http::JobsApi> jobs_api;
  std::unique_ptr<http::OwnerHealth> health;
  std::unique_ptr<http::ReadDatabase> read_database;
  std::unique_ptr<http::ReadApi> reads;
  std::unique_ptr<http::RateLimiter> rate_limiter;
  std::unique_ptr<http::AuditApi> audit_api;
  std::unique_ptr<http::ProjectionsApi> projections_api;
  std::unique_ptr<http::ParkedApi> parked_api;
  http::Endpoints endpoints;
  ledger::SystemClock clock;
  const gateways::GatewayRegistry gateways = gateways::StandardGateways();
  const std::string public_url =
      options.public_url.empty() ? "http://" + options.listen : options.public_url;
  const std::string delivery_secret =
      master_key == nullptr ? "" : reactors::DeliverySecretFromMasterKey(master_key);
  const std::string offer_secret =
      master_key == nullptr ? "" : reactors::OfferSecretFromMasterKey(master_key);
  std::optional<tenants::SecretBox> box;
  if (http_role || reactors_role) {
    auto opened_box = tenants::SecretBox::FromHex(master_key);
    if (!opened_box.ok()) return Fail(2, std::string(opened_box.status().message()));
    box = *opened_box;
    ledger::EventStoreOptions store_options;
    store_options.database_url = options.database_url;
    auto opened = ledger::EventStore::Open(std::move(store_options));
    if (!opened.ok()) return Fail(2, std::string(opened.status().message()));
    store = std::move(*opened);
    http::ClientOptions client_options;
    client_options.ca_file = options.ca_file;
    client = std::make_unique<http::HttpClient>(client_options);
  }
  // The http role lists the reactors role's jobs (the admin jobs API) from a host it wires and
  // never starts.
  if (reactors_role || http_role) {
    reactors::ReactorHostOptions host;
    host.database_url = options.database_url;
    host.partitions = partitions;
    host.public_url = public_url;
    host.delivery_secret = delivery_secret;
    host.offer_secret = offer_secret;
    host.renew_secret = reactors::RenewSecretFromMasterKey(master_key);
    host.telegram_api_base = options.telegram_api_base;
    host.meta_api_base = options.meta_api_base;
    host.charge_settle_after_us = int64_t{options.charge_settle_after_ms} * 1000;
    host.time_scale = options.time_scale;
    reactor_host = std::make_unique<reactors::ReactorHost>(
        *store, clock, *box, gateways,
        http::GatewayTransport(*client, std::chrono::milliseconds(options.gateway_timeout_ms)),
        host);
  }
  if (reactors_role) {
    reactor_host->Start();
    std::cout << "tally: " << reactor_host->runner_count() << " reactor runners (" << partitions
              << " partitions)" << std::endl;
  }
  if (http_role) {
    ingestion = std::make_unique<http::WebhookIngestion>(*store, *box, gateways, clock,
                                                         options.database_url);
    http::ChargeApiOptions charge_options;
    charge_options.public_url = public_url;
    // A retry looks the earlier attempt up only once the charge reconciler would: past the
    // call's deadline with a margin for clocks and a gateway finishing late.
    charge_options.gateway_deadline_us = int64_t{options.charge_settle_after_ms} * 1000;
    charges = std::make_unique<http::ChargeApi>(
        *store, *box, gateways, clock,
        http::GatewayTransport(*client, std::chrono::milliseconds(options.gateway_timeout_ms)),
        charge_options);
    telegram = std::make_unique<http::TelegramIngestion>(*store, clock);
    delivery_page = std::make_unique<http::DeliveryPage>(*store, clock, delivery_secret);
    offer_page = std::make_unique<http::OfferPage>(*store, clock, *charges, offer_secret);
    renew_page = std::make_unique<http::RenewPage>(*store, *charges,
                                                   reactors::RenewSecretFromMasterKey(master_key));
    jobs_api = std::make_unique<http::JobsApi>(*store, clock, options.database_url,
                                               reactor_host->Jobs(), partitions);
    readiness = std::make_unique<http::Readiness>(
        http::ReadinessOptions{options.database_url, ledger::EmbeddedMigrations()});
    read_database = std::make_unique<http::ReadDatabase>(
        options.read_database_url.empty() ? options.database_url : options.read_database_url,
        /*replica=*/!options.read_database_url.empty());
    reads = std::make_unique<http::ReadApi>(*store, clock, *read_database);
    http::RateLimit limit;
    limit.per_second = options.api_rate_limit;
    limit.burst = 2 * options.api_rate_limit;
    rate_limiter = std::make_unique<http::RateLimiter>(limit, clock);
    endpoints.webhooks = ingestion.get();
    endpoints.charges = charges.get();
    endpoints.telegram = telegram.get();
    endpoints.delivery = delivery_page.get();
    endpoints.offers = offer_page.get();
    endpoints.renewals = renew_page.get();
    endpoints.jobs = jobs_api.get();
    endpoints.readiness = readiness.get();
    endpoints.reads = reads.get();
    endpoints.rate_limiter = rate_limiter.get();
    health = std::make_unique<http::OwnerHealth>(*store, clock, options.database_url,
                                                 reactor_host->Jobs(), partitions);
    endpoints.health = health.get();
    live_feed = std::make_unique<http::LiveFeed>(
        *store, clock, http::LiveFeedOptions{options.database_url, partitions});
    live_feed->Start();
    // Auditors read like the dashboards: from the hot standby when there is one.
    audit_api = std::make_unique<http::AuditApi>(
        *store, clock,
        options.read_database_url.empty() ? options.database_url : options.read_database_url);
    endpoints.audit = audit_api.get();
    projections_api = std::make_unique<http::ProjectionsApi>(*store, clock, options.database_url);
    endpoints.projections = projections_api.get();
    parked_api = std::make_unique<http::ParkedApi>(*store, clock, options.database_url);
    endpoints.parked = parked_api.get();
    metrics_endpoint =
        std::make_unique<http::MetricsEndpoint>(http::MetricsEndpointOptions{options.database_url});
    endpoints.metrics = metrics_endpoint.get();
    http::ServerOptions server_options;
    server_options.host = listen->host;
    server_options.port = listen->port;
    server_options.on_answered = http::RecordHttpRequest;
    auto started = http::Server::Start(
        server_options,
        [&endpoints](const http::HttpRequest& r, http::Responder respond) {
          http::RouteRequest(r, endpoints, std::move(respond));
        },
        [&endpoints](const http::HttpRequest& r, http::Responder& respond) {
          return http::TryRouteWithoutBlocking(r, endpoints, respond);
        },
        http::WebSocketRoute{"/v1/live", live_feed.get()});
    if (!started.ok()) return Fail(2, std::string(started.status().message()));
    server = std::move(*started);
    std::cout
        << "tally serving on http://" << server_options.host << ":" << server->port()
        << " (GET /healthz, GET /readyz, POST /webhooks/<gateway>/<token>, POST /v1/payments, POST "
           "/telegram/<bot>, GET /delivery/<token>, GET /offers/<token>, GET /renew/<token>, "
           "/v1/admin/jobs, /v1/admin/projections, /v1/admin/parked, /v1/audit/..., GET "
           "/v1/payments[/<id>], "
           "/v1/revenue, /v1/stats, /v1/leads, /v1/subscriptions, GET /v1/health, GET /v1/live); "
           "dashboard on http://"
        << server_options.host << ":" << server->port() << "/; gateways are told "
        << charge_options.public_url << std::endl;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "tally: signal " << signal_number << ", draining" << std::endl;
  if (server) server->Stop();
  if (live_feed) live_feed->Stop();
  if (reactor_host) reactor_host->Stop();
  for (auto& runner : runners) runner->Stop();
  store.reset();  // finishes queued appends
  spdlog::shutdown();
  return 0;
}

}  // namespace tally::app
