#pragma once
// The `tally` subcommands. Each returns the process exit code: 0 success, 1 the command ran and
// found a problem (e.g. a hash mismatch), 2 it could not run (bad input, database unreachable,
// schema not migrated). Errors are one line on stderr starting with "tally: ".

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/sandbox.h"

namespace tally::app {

int RunMigrate(const std::string& database_url, int partitions);

struct ServeOptions {
  std::string database_url;
  std::string listen = "127.0.0.1:8080";
  // Comma-separated: http, projections, reactors.
  std::string roles = "http,projections,reactors";
  // Tally's base URL as gateways reach it (their webhook URLs); "": http://<listen>.
  std::string public_url;
  // Extra trusted CA certificates (PEM) for outbound HTTPS; "": the system store only.
  std::string ca_file;
  int gateway_timeout_ms = 10000;
  // From a charge intent left without an answer to the charge reconciler's look-up.
  int charge_settle_after_ms = 70000;
  // Demo and tests only (TALLY_DEMO=1): configured delays pass this many times faster.
  double time_scale = 1;
  // The Telegram Bot API's base URL (the sandbox's /telegram in tests and the demo).
  std::string telegram_api_base = "https://api.telegram.org";
  // The Graph API's base URL for Conversions API calls (the sandbox's /meta in tests).
  std::string meta_api_base = "https://graph.facebook.com";
  // A hot standby (streaming replica) for the read API; "": read from the primary.
  std::string read_database_url;
  // Requests a second per API key on /v1/ (burst: twice that); 0: no limit.
  double api_rate_limit = 1000;
};
int RunServe(const ServeOptions& options);

struct EventsOptions {
  std::string database_url;
  std::string stream;
  int64_t from = 1;
  int64_t limit = -1;  // -1: no limit
  int partition = -1;  // -1: all
};
int RunEvents(const EventsOptions& options);

int RunAuditVerify(const std::string& database_url);

// Prints the new tenant's id, its webhook URL token and an owner API key (shown once). Needs
// TALLY_MASTER_KEY (the token is kept sealed).
int RunTenantsCreate(const std::string& database_url, const std::string& name,
                     const std::string& time_zone);
// Prints a new API key of `scope` (owner or auditor) for the tenant (shown once); exit 2 for
// another scope or an unknown tenant.
int RunTenantsApiKey(const std::string& database_url, const std::string& tenant_id,
                     const std::string& scope);

struct GatewaysSetOptions {
  std::string database_url;
  std::string tenant;
  std::string gateway;
  std::string secret;
  std::string api_key;
  std::string base_url;
};
// Needs TALLY_MASTER_KEY; secrets are sealed and never printed.
int RunGatewaysSet(const GatewaysSetOptions& options);

struct BotsAddOptions {
  std::string database_url;
  std::string tenant;
  std::string token;  // from TALLY_BOT_TOKEN
  std::string username;
  // When set, Telegram's setWebhook is called with <public_url>/telegram/<bot id>.
  std::string public_url;
  std::string telegram_api_base = "https://api.telegram.org";
  std::string ca_file;
};
// Needs TALLY_MASTER_KEY; the token is sealed and never printed. Exit 1 when the bot was
// registered but setWebhook failed (the secret is printed so it can be set by hand).
int RunBotsAdd(const BotsAddOptions& options);

struct ProductsSetOptions {
  std::string database_url;
  std::string bot;
  std::string product;
  std::string name;
  int64_t price_minor = 0;
  std::string currency = "BRL";
  std::string deliver_url;
  std::string deliver_text;
};
// Configures (or reconfigures) a product of a registered bot, for the bot's own tenant. Needs
// TALLY_MASTER_KEY. Exit 2 with the reason for an unknown bot or a field that is wrong.
int RunProductsSet(const ProductsSetOptions& options);

struct OffersSetOptions {
  std::string database_url;
  std::string bot;
  std::string offer;
  std::string kind;
  int64_t delay_s = 0;
  std::string trigger_product;
  std::string product;
  int64_t price_minor = 0;
  int discount_percent = 0;
  std::string text;
  bool remove = false;
};
// Configures (or removes) an upsell or downsell offer of a registered bot. Exit 2 with the
// reason for an unknown bot or a field that is wrong (the field named).
int RunOffersSet(const OffersSetOptions& options);

struct PlansSetOptions {
  std::string database_url;
  std::string bot;
  std::string plan;
  std::string name;
  int64_t price_minor = 0;
  std::string period;  // "30d", "4w", "1m"
  int64_t vip_chat = 0;
  bool remove = false;
};
// Configures (or removes) a subscription plan of a registered bot. Exit 2 with the reason for
// an unknown bot or a field that is wrong (the field named).
int RunPlansSet(const PlansSetOptions& options);

struct BotsMetaOptions {
  std::string database_url;
  std::string bot;
  std::string pixel;
  std::string trigger = "delivery_access";
  std::string test_event_code;
  // From TALLY_META_ACCESS_TOKEN only: a flag would show in ps and shell history.
  std::string access_token;
};
// Configures a registered bot's Meta pixel; the access token is sealed with TALLY_MASTER_KEY
// and never printed. Exit 2 with the reason for an unknown bot or a field that is wrong.
int RunBotsMeta(const BotsMetaOptions& options);

struct BotsWelcomeOptions {
  std::string database_url;
  std::string bot;
  std::string text;
};
// Configures the message a person gets when they first start the bot ("" turns it off). Exit 2
// with the reason for an unknown bot or a text that is too long.
int RunBotsWelcome(const BotsWelcomeOptions& options);

int RunProjectionsStatus(const std::string& database_url);
// version 0: the version this binary folds.
int RunProjectionsRebuild(const std::string& database_url, const std::string& name, int version,
                          bool drop_old);
// Exit 0 when the live tables equal a fresh fold, 1 when they differ.
int RunProjectionsVerify(const std::string& database_url, const std::string& name);

struct BenchRebuildOptions {
  std::string database_url;
  int64_t events = 1000000;
  bool json = false;
};
int RunBenchRebuild(const BenchRebuildOptions& options);

struct BenchLagOptions {
  std::string database_url;
  int rate = 1000;
  int seconds = 60;
  bool json = false;
};
int RunBenchLag(const BenchLagOptions& options);

struct BenchIngestOptions {
  std::string database_url;
  int connections = 64;
  int seconds = 10;
  bool json = false;
  bool pgbench = true;
};
// Exit 1 when the 2xx answers and the new events differ, or a request failed.
int RunBenchIngest(const BenchIngestOptions& options);

struct BenchLiveOptions {
  std::string database_url;
  int dashboards = 200;
  int webhooks = 200;
  bool json = false;
};
// Exit 1 when a dashboard missed a payment's change or a webhook failed (the fan-out target is
// reported, not enforced).
int RunBenchLive(const BenchLiveOptions& options);

struct BenchReadOptions {
  std::string database_url;
  int64_t events = 1000000;
  int tenants = 20;
  int connections = 64;
  int seconds = 10;
  int workers = 8;     // http::ServerOptions::worker_threads, as `tally serve`
  int read_pool = 16;  // the ReadDatabase's connections, as `tally serve`
  bool json = false;
  bool pgbench = true;
};
// Exit 1 when a request failed or answered anything but 200 (the latency and throughput
// target is reported, not enforced).
int RunBenchRead(const BenchReadOptions& options);

struct BenchAppendOptions {
  std::string database_url;
  int64_t events = 100000;
  int writers = 32;
  int streams = 1000;
  bool json = false;
  bool idempotency_keys = false;
  bool pgbench = true;
  std::string pgbench_path;
};
int RunBenchAppend(const BenchAppendOptions& options);

struct BenchDeliverOptions {
  std::string database_url;
  int payments = 5000;
  int rate = 100;  // charges created (and paid) per second
  // Sellers, each with the five gateways, one bot and a Meta pixel: the load is spread over
  // them as over real sellers, each account and bot under its own limits.
  int tenants = 20;
  // Polls the unsigned webhooks' payments without the gateways' per-account limits: shows
  // what the limits' pacing costs the latency.
  bool lift_poll_limits = false;
  bool json = false;
  bool pgbench = true;
};
// Exit 1 when a charge failed, a payment was not delivered, a buyer got a message twice, or a
// purchase_sent lacks exactly one MetaPurchaseSucceeded with an event id; 0 otherwise (the
// latency target is reported, not enforced).
int RunBenchDeliver(const BenchDeliverOptions& options);

struct BenchReconcileOptions {
  std::string database_url;
  int64_t pending = 10000;
  int tenants = 20;
  bool json = false;
  bool pgbench = true;
};
// Exit 1 when, with limits on, a limit was broken or a payment was not polled twice.
int RunBenchReconcile(const BenchReconcileOptions& options);

struct BenchTimersOptions {
  std::string database_url;
  int64_t timers = 100000;
  int window_seconds = 120;  // over which the running half comes due
  // The worker's pace; < 0: TimerWorkerOptions' default; 0: unpaced.
  double fire_per_second = -1;
  bool json = false;
  bool pgbench = true;
};
// Exit 1 when a timer was not decided, or decided twice, or an offer was sent for a refunded
// parent (the lateness target is reported, not enforced).
int RunBenchTimers(const BenchTimersOptions& options);

struct SandboxCommandOptions {
  std::string listen = "127.0.0.1:8090";
  uint64_t seed = 1;
  sandbox::Faults faults;
  // service:api_key[:webhook_secret[:webhook_url]]
  std::vector<std::string> accounts;
};
int RunSandbox(const SandboxCommandOptions& options);

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
// "HOST:PORT" (--listen); InvalidArgument naming the flag otherwise.
absl::StatusOr<ListenAddress> ParseListen(const std::string& listen);

// Prints "tally: <message>" to stderr and returns `code`.
int Fail(int code, const std::string& message);

// Per reactor and partition: checkpoint, lag, backlog, in flight, parked, oldest due.
int RunReactorsStatus(const std::string& database_url);
// The parked items (of `reactor` when not empty), one per line.
int RunReactorsParked(const std::string& database_url, const std::string& reactor);
// An operator's retry of one parked stream or of all (`all`), recorded as an event.
int RunReactorsRetry(const std::string& database_url, const std::string& stream, bool all,
                     const std::string& reactor, const std::string& reason);

}  // namespace tally::app
