// The `tally` command: wires flags and TALLY_* environment variables to the subcommands.

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "app/audit_commands.h"
#include "app/commands.h"
#include "app/job_commands.h"

namespace {

void AddDatabaseOption(CLI::App* command, std::string* url) {
  command
      ->add_option("--database", *url,
                   "PostgreSQL connection URL or conninfo string (env TALLY_DATABASE_URL)")
      ->envname("TALLY_DATABASE_URL");
}

int RequireDatabase(const std::string& url) {
  if (url.empty()) {
    return tally::app::Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tally: an event-sourced payment ledger on PostgreSQL."};
  app.require_subcommand(1);

  std::string migrate_url;
  int partitions = 0;
  auto* migrate = app.add_subcommand(
      "migrate", "Apply pending schema migrations (and create the log's partitions on first use).");
  AddDatabaseOption(migrate, &migrate_url);
  migrate
      ->add_option("--partitions", partitions,
                   "Partitions of a new log (default 1); refused if the log already has a "
                   "different number")
      ->check(CLI::Range(1, 1024));

  tally::app::ServeOptions serve_options;
  auto* serve = app.add_subcommand(
      "serve",
      "Run the HTTP server (GET /healthz, GET /readyz, POST /webhooks/<gateway>/<token>, POST "
      "/v1/payments, "
      "POST /telegram/<bot>, GET /delivery/<token>, GET /offers/<token>, the admin jobs API "
      "/v1/admin/jobs), the projection runners "
      "and the reactors "
      "(reconciliation polls, the charge reconciler, delivery of confirmed sales through Telegram, "
      "Meta Purchase events, welcomes, upsell and downsell timers). "
      "Refuses to start on an unmigrated "
      "database. The http and reactors roles need TALLY_MASTER_KEY.");
  AddDatabaseOption(serve, &serve_options.database_url);
  serve->add_option("--listen", serve_options.listen, "HOST:PORT to listen on")
      ->envname("TALLY_LISTEN")
      ->capture_default_str();
  serve
      ->add_option("--roles", serve_options.roles,
                   "What this process runs: http, projections, reactors (comma-separated)")
      ->envname("TALLY_ROLES")
      ->capture_default_str();
  serve
      ->add_option("--public-url", serve_options.public_url,
                   "Tally's base URL as gateways reach it, for the webhook URLs given with each "
                   "charge (default http://<listen>)")
      ->envname("TALLY_PUBLIC_URL");
  serve
      ->add_option("--ca-file", serve_options.ca_file,
                   "PEM file of extra trusted CAs for outbound HTTPS (peers are always verified)")
      ->envname("TALLY_CA_FILE");
  serve
      ->add_option("--gateway-timeout-ms", serve_options.gateway_timeout_ms,
                   "Deadline of one gateway API call")
      ->check(CLI::Range(100, 120000))
      ->capture_default_str();
  serve
      ->add_option("--time-scale", serve_options.time_scale,
                   "Demos and tests only (refused unless TALLY_DEMO=1): configured delays (offers, "
                   "subscription periods and their warnings) pass K times faster, so days pass "
                   "as minutes")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  serve
      ->add_option("--charge-settle-after-ms", serve_options.charge_settle_after_ms,
                   "How long a charge whose gateway answer was lost waits before the charge "
                   "reconciler looks it up by reference (must exceed --gateway-timeout-ms)")
      ->check(CLI::Range(1000, 86400000))
      ->capture_default_str();
  serve
      ->add_option("--telegram-api-base", serve_options.telegram_api_base,
                   "Telegram Bot API base URL for deliveries (the sandbox's /telegram in tests)")
      ->envname("TALLY_TELEGRAM_API_BASE")
      ->capture_default_str();
  serve
      ->add_option("--meta-api-base", serve_options.meta_api_base,
                   "Graph API base URL for Conversions API Purchase events (the sandbox's /meta "
                   "in tests)")
      ->envname("TALLY_META_API_BASE")
      ->capture_default_str();
  serve
      ->add_option("--read-database", serve_options.read_database_url,
                   "PostgreSQL URL of a hot standby (streaming replica) the read API reads from; "
                   "writes still go to --database (default: read from --database)")
      ->envname("TALLY_READ_DATABASE_URL");
  serve
      ->add_option("--api-rate-limit", serve_options.api_rate_limit,
                   "Requests a second per API key on /v1/ (bursts of twice that); over it: 429 "
                   "with Retry-After; 0: no limit")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();

  tally::app::EventsOptions events_options;
  auto* events = app.add_subcommand(
      "events", "Print events as NDJSON (payloads rendered as JSON), in position order.");
  AddDatabaseOption(events, &events_options.database_url);
  events->add_option("--stream", events_options.stream, "Only this stream");
  events->add_option("--from", events_options.from, "First position to print")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  events->add_option("--limit", events_options.limit, "Print at most N events")
      ->check(CLI::PositiveNumber);
  events->add_option("--partition", events_options.partition, "Only this partition")
      ->check(CLI::NonNegativeNumber);

  const tally::app::ChosenCommand audit_commands = tally::app::AddAuditCommands(app);
  const tally::app::ChosenCommand replay_command = tally::app::AddReplayCommand(app);

  std::string tenants_url;
  std::string tenant_name;
  std::string tenant_zone = "America/Sao_Paulo";
  auto* tenants_cmd = app.add_subcommand("tenants", "Sellers using Tally.");
  tenants_cmd->require_subcommand(1);
  auto* tenants_create = tenants_cmd->add_subcommand(
      "create",
      "Create a tenant; prints its id, its webhook URL token and an owner API key (the key is "
      "shown only once). Needs TALLY_MASTER_KEY.");
  AddDatabaseOption(tenants_create, &tenants_url);
  tenants_create->add_option("--name", tenant_name, "Display name")->required();
  tenants_create->add_option("--time-zone", tenant_zone, "IANA zone for local days")
      ->capture_default_str();
  std::string api_key_tenant;
  std::string api_key_scope = "owner";
  auto* tenants_api_key = tenants_cmd->add_subcommand(
      "api-key",
      "Issue another API key for a tenant (shown only once): an owner key, or with --scope "
      "auditor a read-only key for the tenant's audit API.");
  AddDatabaseOption(tenants_api_key, &tenants_url);
  tenants_api_key->add_option("--tenant", api_key_tenant, "Tenant id")->required();
  tenants_api_key->add_option("--scope", api_key_scope, "owner or auditor")->capture_default_str();

  tally::app::BotsAddOptions bots_options;
  auto* bots_cmd = app.add_subcommand("bots", "A tenant's Telegram bots.");
  bots_cmd->require_subcommand(1);
  auto* bots_add = bots_cmd->add_subcommand(
      "add",
      "Register a Telegram bot (token from TALLY_BOT_TOKEN, sealed with TALLY_MASTER_KEY) and, "
      "with --public-url, point its webhook at Tally with a fresh secret token.");
  AddDatabaseOption(bots_add, &bots_options.database_url);
  bots_add->add_option("--tenant", bots_options.tenant, "Tenant id")->required();
  bots_add
      ->add_option("--token", bots_options.token,
                   "Bot API token (prefer TALLY_BOT_TOKEN: flags show in ps and shell history)")
      ->envname("TALLY_BOT_TOKEN");
  bots_add->add_option("--username", bots_options.username, "The bot's @username");
  bots_add
      ->add_option("--public-url", bots_options.public_url,
                   "Tally's base URL as Telegram reaches it; calls setWebhook when given")
      ->envname("TALLY_PUBLIC_URL");
  bots_add
      ->add_option("--telegram-api-base", bots_options.telegram_api_base,
                   "Bot API base URL (the sandbox's /telegram for tests)")
      ->envname("TALLY_TELEGRAM_API_BASE")
      ->capture_default_str();
  bots_add->add_option("--ca-file", bots_options.ca_file, "PEM file of extra trusted CAs")
      ->envname("TALLY_CA_FILE");

  tally::app::BotsMetaOptions meta_options;
  auto* bots_meta = bots_cmd->add_subcommand(
      "meta",
      "Configure a registered bot's Meta pixel for Conversions API Purchase events (the latest "
      "configuration wins). The access token is read from TALLY_META_ACCESS_TOKEN only, never "
      "from a flag, and is sealed with TALLY_MASTER_KEY and never printed. The bot's tenant is "
      "the one it was registered for.");
  AddDatabaseOption(bots_meta, &meta_options.database_url);
  bots_meta->add_option("--bot", meta_options.bot, "Bot id (the digits before ':' in its token)")
      ->required();
  bots_meta->add_option("--pixel", meta_options.pixel, "Meta pixel (dataset) id, digits")
      ->required();
  bots_meta
      ->add_option("--trigger", meta_options.trigger,
                   "When the Purchase is sent: delivery_access (the buyer opened the delivery "
                   "link) or paid (the payment was confirmed)")
      ->capture_default_str();
  bots_meta->add_option("--test-event-code", meta_options.test_event_code,
                        "Meta Test Events code (events then show under Test Events only)");

  tally::app::BotsWelcomeOptions welcome_options;
  auto* bots_welcome = bots_cmd->add_subcommand(
      "welcome",
      "Configure the message a person gets when they first start a registered bot (the latest "
      "configuration wins; an empty text turns welcomes off). Each lead is welcomed once; one "
      "who started the bot before it had a welcome gets it when they return.");
  AddDatabaseOption(bots_welcome, &welcome_options.database_url);
  bots_welcome
      ->add_option("--bot", welcome_options.bot, "Bot id (the digits before ':' in its token)")
      ->required();
  bots_welcome
      ->add_option("--text", welcome_options.text,
                   "The welcome message: at most 3000 characters of UTF-8")
      ->required();

  tally::app::ProductsSetOptions products_options;
  auto* products_cmd = app.add_subcommand("products", "What a tenant's bots sell.");
  products_cmd->require_subcommand(1);
  auto* products_set = products_cmd->add_subcommand(
      "set",
      "Configure a product of a registered bot, or reconfigure it (the latest configuration "
      "wins): its name, price and what the buyer receives once paid (--deliver-url and/or "
      "--deliver-text). The bot's tenant is the one it was registered for. Needs "
      "TALLY_MASTER_KEY.");
  AddDatabaseOption(products_set, &products_options.database_url);
  products_set
      ->add_option("--bot", products_options.bot, "Bot id (the digits before ':' in its token)")
      ->required();
  products_set->add_option("--product", products_options.product, "Product id: 1-64 of A-Za-z0-9_-")
      ->required();
  products_set->add_option("--name", products_options.name, "Name shown to buyers (1-200 chars)")
      ->required();
  products_set
      ->add_option("--price-minor", products_options.price_minor,
                   "Price in minor units (cents): 1990 is R$19.90; at least 50 in BRL")
      ->required();
  products_set->add_option("--currency", products_options.currency, "ISO 4217 code")
      ->capture_default_str();
  products_set->add_option("--deliver-url", products_options.deliver_url,
                           "http(s) URL the buyer receives once paid (at most 2048 bytes)");
  products_set->add_option("--deliver-text", products_options.deliver_text,
                           "Text the buyer receives once paid (at most 3000 chars)");

  tally::app::OffersSetOptions offers_options;
  auto* offers_cmd = app.add_subcommand("offers", "Upsells and downsells of a tenant's bots.");
  offers_cmd->require_subcommand(1);
  auto* offers_set = offers_cmd->add_subcommand(
      "set",
      "Configure an offer of a registered bot (the latest configuration wins). An upsell is "
      "sent --delay-s after a confirmed paid payment (only for --trigger-product when given), "
      "if the payment is still paid then; a downsell --delay-s after a charge is created, if it "
      "is still unpaid then. The message links to a page that creates the offer's PIX charge.");
  AddDatabaseOption(offers_set, &offers_options.database_url);
  offers_set->add_option("--bot", offers_options.bot, "Bot id (the digits before ':' in its token)")
      ->required();
  offers_set->add_option("--offer", offers_options.offer, "Offer id: 1-64 of A-Za-z0-9_-")
      ->required();
  offers_set->add_option("--kind", offers_options.kind, "upsell or downsell (not with --remove)");
  offers_set
      ->add_option("--delay-s", offers_options.delay_s, "Seconds after the trigger (0-30 days)")
      ->capture_default_str();
  offers_set->add_option("--product", offers_options.product,
                         "The product offered, one of the bot's (not with --remove)");
  offers_set->add_option("--trigger-product", offers_options.trigger_product,
                         "Upsell only: only after a payment for this product");
  offers_set->add_option("--price-minor", offers_options.price_minor,
                         "The offer's price in minor units, at least 50 (an upsell without it "
                         "costs the product's price)");
  offers_set->add_option("--discount-percent", offers_options.discount_percent,
                         "Downsell only, instead of --price-minor: percent off the charge's amount "
                         "(never below R$0.50)");
  offers_set->add_option("--text", offers_options.text, "The message (at most 1000 chars)");
  offers_set->add_flag("--remove", offers_options.remove,
                       "Remove the offer: timers already scheduled are cancelled when they fire, "
                       "and links already sent answer that the offer ended");

  tally::app::PlansSetOptions plans_options;
  auto* plans_cmd = app.add_subcommand("plans", "Subscription plans of a tenant's bots.");
  plans_cmd->require_subcommand(1);
  auto* plans_set = plans_cmd->add_subcommand(
      "set",
      "Configure a subscription plan of a registered bot (the latest configuration wins). A "
      "confirmed payment of a charge made with \"plan_id\" starts the buyer's subscription or "
      "extends it by one period from the later of now and its current end; the buyer is warned "
      "3 days before the end and, unless renewed, removed from the VIP chat at the end.");
  AddDatabaseOption(plans_set, &plans_options.database_url);
  plans_set->add_option("--bot", plans_options.bot, "Bot id (the digits before ':' in its token)")
      ->required();
  plans_set->add_option("--plan", plans_options.plan, "Plan id: 1-40 of A-Za-z0-9-")->required();
  plans_set->add_option("--name", plans_options.name, "The plan's name (1-100 chars)");
  plans_set->add_option("--price-minor", plans_options.price_minor,
                        "The price per period in minor units (50 to 10000000)");
  plans_set->add_option("--period", plans_options.period,
                        "The period: <count>d (1-366 days), <count>w (1-52 weeks) or <count>m "
                        "(1-12 calendar months)");
  plans_set->add_option("--vip-chat", plans_options.vip_chat,
                        "The VIP group or channel id (negative; the bot must administer it): "
                        "subscribers get a single-use invite link and are removed at the end");
  plans_set->add_flag("--remove", plans_options.remove,
                      "Remove the plan: no new subscriptions; running ones keep their periods");

  tally::app::GatewaysSetOptions gateways_options;
  auto* gateways_cmd = app.add_subcommand("gateways", "A tenant's payment gateways.");
  gateways_cmd->require_subcommand(1);
  auto* gateways_set = gateways_cmd->add_subcommand(
      "set",
      "Enable or reconfigure a gateway for a tenant. Secrets are sealed with TALLY_MASTER_KEY "
      "and never printed or logged.");
  AddDatabaseOption(gateways_set, &gateways_options.database_url);
  gateways_set->add_option("--tenant", gateways_options.tenant, "Tenant id")->required();
  gateways_set
      ->add_option("--gateway", gateways_options.gateway,
                   "pushinpay | paradise | atomopay | mercadopago | stripe")
      ->required();
  gateways_set
      ->add_option("--secret", gateways_options.secret,
                   "Webhook signing secret (Stripe, Mercado Pago) or the value of the "
                   "x-webhook-secret header (unsigned gateways); prefer the environment "
                   "variable, which stays out of the process list and shell history")
      ->envname("TALLY_GATEWAY_SECRET");
  gateways_set->add_option("--api-key", gateways_options.api_key, "API key for polls and charges")
      ->envname("TALLY_GATEWAY_API_KEY");
  gateways_set->add_option("--base-url", gateways_options.base_url, "API base URL");

  std::string projections_url;
  std::string projection_name;
  int projection_version = 0;
  bool drop_old = false;
  auto* projections_cmd = app.add_subcommand("projections", "Read models derived from the log.");
  projections_cmd->require_subcommand(1);
  auto* projections_status = projections_cmd->add_subcommand(
      "status", "Each projection's version, per-partition checkpoint and lag, and state.");
  AddDatabaseOption(projections_status, &projections_url);
  auto* projections_rebuild = projections_cmd->add_subcommand(
      "rebuild",
      "Build a projection into new tables from position 0 while the current version serves, "
      "then swap the views in one transaction. Progress on stderr. Triggers no side effect.");
  AddDatabaseOption(projections_rebuild, &projections_url);
  projections_rebuild
      ->add_option("name", projection_name,
                   "payments | revenue_daily | purchase_tracking | leads | subscriptions")
      ->required();
  projections_rebuild->add_option("--version", projection_version,
                                  "Version to build (default: the one this binary folds)");
  projections_rebuild->add_flag("--drop-old", drop_old,
                                "Drop the previous version's tables after the swap");
  auto* projections_verify = projections_cmd->add_subcommand(
      "verify",
      "Fold the log into scratch tables up to the live checkpoints and compare digests with the "
      "live tables. Exit 0 when equal, 1 (with differing keys) when not.");
  AddDatabaseOption(projections_verify, &projections_url);
  projections_verify->add_option("name", projection_name, "Projection name")->required();

  std::string reactors_url;
  std::string reactor_name;
  std::string retry_stream;
  std::string retry_reason = "operator retry";
  bool retry_all = false;
  auto* reactors_cmd =
      app.add_subcommand("reactors", "Side effects: deliveries, reconciliation polls, sends.");
  reactors_cmd->require_subcommand(1);
  auto* reactors_status = reactors_cmd->add_subcommand(
      "status",
      "Per reactor and partition: checkpoint, lag, backlog, in flight, parked, attempts lost in "
      "a crash (possible duplicates), how overdue the oldest due item is.");
  AddDatabaseOption(reactors_status, &reactors_url);
  auto* reactors_parked = reactors_cmd->add_subcommand(
      "parked", "Items parked after a terminal failure (e.g. a buyer who blocked the bot).");
  AddDatabaseOption(reactors_parked, &reactors_url);
  reactors_parked->add_option("--reactor", reactor_name, "Only this reactor (delivery, ...)");
  auto* reactors_retry = reactors_cmd->add_subcommand(
      "retry",
      "Make parked items due again. The retry is an event in the item's stream with you as the "
      "actor ($USER), so it is audited and survives restarts.");
  AddDatabaseOption(reactors_retry, &reactors_url);
  reactors_retry->add_option("stream", retry_stream, "The parked item's stream");
  reactors_retry->add_flag("--all", retry_all, "Every parked item (of --reactor, if given)");
  reactors_retry->add_option("--reactor", reactor_name, "Only this reactor");
  reactors_retry->add_option("--reason", retry_reason, "Recorded with the retry")
      ->capture_default_str();

  tally::app::BenchAppendOptions bench_options;
  auto* bench = app.add_subcommand("bench", "Benchmarks.");
  bench->require_subcommand(1);
  auto* bench_append = bench->add_subcommand(
      "append",
      "Durable append throughput and latency, next to pgbench's single-row INSERT at the same "
      "concurrency measured in the same run.");
  AddDatabaseOption(bench_append, &bench_options.database_url);
  bench_append->add_option("--events", bench_options.events, "Events to append")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_append->add_option("--writers", bench_options.writers, "Concurrent writers")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  bench_append->add_option("--streams", bench_options.streams, "Distinct streams")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_append->add_flag("--json", bench_options.json, "Last line: one JSON object of results");
  bench_append->add_flag("--idempotency-keys", bench_options.idempotency_keys,
                         "Give every append a unique idempotency key, as webhooks have");
  bench_append->add_flag("--pgbench,!--no-pgbench", bench_options.pgbench,
                         "Run (default) or skip the pgbench baseline");
  bench_append->add_option("--pgbench-path", bench_options.pgbench_path,
                           "pgbench binary (default: PATH, then /usr/lib/postgresql/15/bin)");

  tally::app::BenchRebuildOptions bench_rebuild_options;
  auto* bench_rebuild = bench->add_subcommand(
      "rebuild",
      "Seed realistic payment lifecycles up to --events (in the database given, if it has fewer), "
      "time a full rebuild of payments + revenue_daily + purchase_tracking, and time "
      "COPY (SELECT * FROM events) TO STDOUT over the same rows.");
  AddDatabaseOption(bench_rebuild, &bench_rebuild_options.database_url);
  bench_rebuild->add_option("--events", bench_rebuild_options.events, "Events in the log")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_rebuild->add_flag("--json", bench_rebuild_options.json,
                          "Last line: one JSON object of results");

  tally::app::BenchLagOptions bench_lag_options;
  auto* bench_lag = bench->add_subcommand(
      "lag",
      "Append single events at --rate for --seconds (in a scratch database) with all projections "
      "running, and report how long after its append each event was folded (p50/p99).");
  AddDatabaseOption(bench_lag, &bench_lag_options.database_url);
  bench_lag->add_option("--rate", bench_lag_options.rate, "Events per second")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  bench_lag->add_option("--seconds", bench_lag_options.seconds, "Duration")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bench_lag->add_flag("--json", bench_lag_options.json, "Last line: one JSON object of results");

  tally::app::BenchIngestOptions bench_ingest_options;
  auto* bench_ingest = bench->add_subcommand(
      "ingest",
      "Start a server on a scratch database and post signed Stripe webhooks for distinct "
      "transactions over keep-alive connections; requests/s, p50/p99, 2xx answers and new "
      "events (they must be equal), next to pgbench's single-row INSERT at the same concurrency.");
  AddDatabaseOption(bench_ingest, &bench_ingest_options.database_url);
  bench_ingest
      ->add_option("--connections", bench_ingest_options.connections, "Keep-alive connections")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  bench_ingest->add_option("--seconds", bench_ingest_options.seconds, "Duration")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bench_ingest->add_flag("--json", bench_ingest_options.json,
                         "Last line: one JSON object of results");
  bench_ingest->add_flag("--pgbench,!--no-pgbench", bench_ingest_options.pgbench,
                         "Run (default) or skip the pgbench baseline");

  tally::app::BenchLiveOptions bench_live_options;
  auto* bench_live = bench->add_subcommand(
      "live",
      "Start the server, the projections and the live feed on a scratch database; sign in "
      "--dashboards WebSocket dashboards of one tenant and post --webhooks paid Stripe webhooks "
      "one at a time; from each webhook's 200 to each dashboard receiving the change: p50/p99.");
  AddDatabaseOption(bench_live, &bench_live_options.database_url);
  bench_live->add_option("--dashboards", bench_live_options.dashboards, "WebSocket dashboards")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench_live->add_option("--webhooks", bench_live_options.webhooks, "Paid webhooks")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  bench_live->add_flag("--json", bench_live_options.json, "Last line: one JSON object of results");
  tally::app::BenchReadOptions bench_read_options;
  auto* bench_read = bench->add_subcommand(
      "read",
      "Seed a scratch database with payment lifecycles, rebuild the projections, serve the owner "
      "read API in-process and GET /v1/payments?limit=50 (first and next pages) and /v1/revenue "
      "over keep-alive connections with owner keys of random tenants; requests/s, p50/p99, "
      "errors, next to pgbench running the same SELECTs at the same concurrency.");
  AddDatabaseOption(bench_read, &bench_read_options.database_url);
  bench_read->add_option("--events", bench_read_options.events, "Events in the log")
      ->check(CLI::Range(int64_t{100}, int64_t{100000000}))
      ->capture_default_str();
  bench_read->add_option("--tenants", bench_read_options.tenants, "Tenants")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  bench_read->add_option("--connections", bench_read_options.connections, "Keep-alive connections")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  bench_read->add_option("--seconds", bench_read_options.seconds, "Duration")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bench_read->add_option("--workers", bench_read_options.workers, "Server worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  bench_read->add_option("--read-pool", bench_read_options.read_pool, "Read database connections")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  bench_read->add_flag("--json", bench_read_options.json, "Last line: one JSON object of results");
  bench_read->add_flag("--pgbench,!--no-pgbench", bench_read_options.pgbench,
                       "Run (default) or skip the pgbench baseline");

  tally::app::BenchDeliverOptions bench_deliver_options;
  auto* bench_deliver = bench->add_subcommand(
      "deliver",
      "Run the HTTP endpoints, the reactors and the simulators in one process on a scratch "
      "database; create --payments charges over HTTP at --rate per second across the five "
      "gateways (spread over --tenants sellers, each with a bot, a product and a Meta pixel "
      "sending Purchases on payment), pay each at its simulator at once, and report per payment "
      "the time from the paid webhook's recording to the delivery message's (p50/p99, per "
      "gateway and per stage), messages received twice, and purchase_sent without exactly one "
      "MetaPurchaseSucceeded with an event id; then pgbench's single-row INSERT at one client. "
      "Exit 1 when a charge failed, a payment was not delivered, a message was duplicated or a "
      "purchase check failed.");
  AddDatabaseOption(bench_deliver, &bench_deliver_options.database_url);
  bench_deliver->add_option("--payments", bench_deliver_options.payments, "Charges to create")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  bench_deliver->add_option("--rate", bench_deliver_options.rate, "Charges per second")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  bench_deliver
      ->add_option("--tenants", bench_deliver_options.tenants,
                   "Sellers the charges are spread over (one bot each)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench_deliver->add_flag(
      "--lift-poll-limits", bench_deliver_options.lift_poll_limits,
      "Poll without the gateways' per-account limits (what their pacing costs)");
  bench_deliver->add_flag("--json", bench_deliver_options.json,
                          "Last line: one JSON object of results");
  bench_deliver->add_flag("--pgbench,!--no-pgbench", bench_deliver_options.pgbench,
                          "Run (default) or skip the pgbench baseline");

  tally::app::BenchReconcileOptions bench_reconcile_options;
  auto* bench_reconcile = bench->add_subcommand(
      "reconcile",
      "Twice, each on a fresh scratch database: create --pending charges over HTTP that are never "
      "paid, wait until the last one's first poll is due (15 s after its creation, 60 s at "
      "PushinPay; nothing is backdated), then start the reactors and time the status requests as "
      "they leave for the simulators. First with the gateways' per-account limits lifted (until "
      "every payment was polled once), then with them on (until every payment was polled twice), "
      "checking the simulators' poll accounting: no account above its gateway's polls per "
      "second, no transaction polled closer than its minimum interval. Reports polls per second "
      "over the middle 90% of the first polls, and pgbench's single-row INSERT at 8 clients. "
      "Takes four to six minutes. Exit 1 when a limit was broken or a payment not polled twice.");
  AddDatabaseOption(bench_reconcile, &bench_reconcile_options.database_url);
  bench_reconcile
      ->add_option("--pending", bench_reconcile_options.pending, "Pending payments per phase")
      ->check(CLI::Range(100, 1000000))
      ->capture_default_str();
  bench_reconcile
      ->add_option("--tenants", bench_reconcile_options.tenants,
                   "Sellers (gateway accounts: five each) the payments are spread over")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  bench_reconcile->add_flag("--json", bench_reconcile_options.json,
                            "Last line: one JSON object of results");
  bench_reconcile->add_flag("--pgbench,!--no-pgbench", bench_reconcile_options.pgbench,
                            "Run (default) or skip the pgbench baseline");

  tally::app::BenchTimersOptions bench_timers_options;
  auto* bench_timers = bench->add_subcommand(
      "timers",
      "On a scratch database: schedule --timers upsell timers (the real \"upsell\" kind: each "
      "firing reads the parent payment and the bot's offers and appends UpsellSent, or "
      "UpsellCancelled for the one sale in ten refunded, under the offer's decision key), half "
      "due over --window-seconds while the timer worker runs and half during a simulated "
      "10-minute outage (an injected clock jumps; nothing waits 10 minutes). Reports how late the "
      "running half fired (p50/p99, due time to durable decision), the catch-up rate of the "
      "overdue half after the restart, and pgbench's single-row INSERT at the kind's concurrency. "
      "Progress on stderr. Exit 1 when a timer was not decided exactly once or an offer was sent "
      "for a refunded parent.");
  AddDatabaseOption(bench_timers, &bench_timers_options.database_url);
  bench_timers->add_option("--timers", bench_timers_options.timers, "Timers in all")
      ->check(CLI::Range(int64_t{2}, int64_t{10000000}))
      ->capture_default_str();
  bench_timers
      ->add_option("--window-seconds", bench_timers_options.window_seconds,
                   "Real seconds over which the running half comes due")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  bench_timers
      ->add_option("--fire-per-second", bench_timers_options.fire_per_second,
                   "The worker's pace (default: the worker's own; 0: unpaced)")
      ->check(CLI::Range(0.0, 1e6));
  bench_timers->add_flag("--json", bench_timers_options.json,
                         "Last line: one JSON object of results");
  bench_timers->add_flag("--pgbench,!--no-pgbench", bench_timers_options.pgbench,
                         "Run (default) or skip the pgbench baseline");

  tally::app::SandboxCommandOptions sandbox_options;
  auto* sandbox = app.add_subcommand(
      "sandbox",
      "Run loopback simulators of PushinPay, Paradise, Atomopay, Mercado Pago, Stripe, Meta's "
      "Conversions API and Telegram's Bot API on one port (base URL http://HOST:PORT/<service>), "
      "with webhook, gateway, Meta and Telegram faults at the given rates (seeded: the same "
      "calls in the same order meet the same faults). Control API under /sandbox/.");
  sandbox->add_option("--listen", sandbox_options.listen, "HOST:PORT to listen on")
      ->capture_default_str();
  sandbox->add_option("--seed", sandbox_options.seed, "Seed of fault decisions and ids")
      ->capture_default_str();
  sandbox
      ->add_option("--account", sandbox_options.accounts,
                   "service:api_key[:webhook_secret[:webhook_url]] an account the simulator "
                   "accepts (repeatable); webhook_url is where Stripe sends events; "
                   "telegram:<bot token> for a bot")
      ->take_all();
  auto& faults = sandbox_options.faults;
  sandbox->add_option("--drop-rate", faults.drop_rate, "Webhooks never sent")
      ->check(CLI::Range(0.0, 1.0));
  sandbox->add_option("--duplicate-rate", faults.duplicate_rate, "Webhooks sent twice")
      ->check(CLI::Range(0.0, 1.0));
  sandbox->add_option("--delay-min-ms", faults.delay_min_ms, "Least webhook delay")
      ->check(CLI::Range(0, 600000));
  sandbox->add_option("--delay-max-ms", faults.delay_max_ms, "Greatest webhook delay")
      ->check(CLI::Range(0, 600000));
  sandbox
      ->add_option("--reorder-rate", faults.reorder_rate,
                   "Webhooks held back so later ones overtake")
      ->check(CLI::Range(0.0, 1.0));
  sandbox->add_option("--poll-error-rate", faults.poll_error_rate, "Status polls answered 503")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--poll-timeout-rate", faults.poll_timeout_rate,
                   "Status polls answered only after --poll-timeout-ms")
      ->check(CLI::Range(0.0, 1.0));
  sandbox->add_option("--poll-timeout-ms", faults.poll_timeout_ms, "Delay of a late poll answer")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  sandbox
      ->add_option("--silent-gateways", faults.silent_gateways,
                   "Gateways that send no webhook at all (e.g. atomopay; comma-separated or "
                   "repeated): pay, refund and expire change the charge, nothing is sent")
      ->delimiter(',');
  sandbox
      ->add_option("--poll-429-rate", faults.poll_429_rate,
                   "Status polls answered 429 with Retry-After --poll-retry-after-s")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--poll-retry-after-s", faults.poll_retry_after_s, "Retry-After of a 429 poll")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  sandbox
      ->add_option("--create-answer-lost-rate", faults.create_answer_lost_rate,
                   "Charges created, their answer sent only after --create-answer-lost-ms")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--create-answer-lost-ms", faults.create_answer_lost_ms,
                   "Delay of a lost create answer (keep it above Tally's gateway deadline)")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  sandbox
      ->add_option("--meta-error-rate", faults.meta_error_rate,
                   "Conversions API calls answered 500")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--meta-timeout-rate", faults.meta_timeout_rate,
                   "Conversions API calls answered only after --meta-timeout-ms (events kept)")
      ->check(CLI::Range(0.0, 1.0));
  sandbox->add_option("--meta-timeout-ms", faults.meta_timeout_ms, "Delay of a late Meta answer")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  sandbox
      ->add_option("--meta-zero-received-rate", faults.meta_zero_received_rate,
                   "Conversions API calls answered 200 with events_received 0 (events not kept)")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--telegram-429-rate", faults.telegram_429_rate,
                   "sendMessage answered 429 with retry_after --telegram-retry-after-s")
      ->check(CLI::Range(0.0, 1.0));
  sandbox
      ->add_option("--telegram-retry-after-s", faults.telegram_retry_after_s,
                   "retry_after of a 429 sendMessage")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  sandbox
      ->add_option("--telegram-error-rate", faults.telegram_error_rate, "sendMessage answered 500")
      ->check(CLI::Range(0.0, 1.0));

  const tally::app::ChosenCommand job_commands = tally::app::AddJobCommands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends print and exit 0; bad input is one line and exit 2, as for the
    // checks the commands make themselves.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return tally::app::Fail(2, e.what());
  }

  if (*sandbox) return tally::app::RunSandbox(sandbox_options);
  if (std::optional<int> rc = job_commands()) return *rc;
  if (std::optional<int> rc = audit_commands()) return *rc;
  if (std::optional<int> rc = replay_command()) return *rc;

  if (*migrate) {
    if (int rc = RequireDatabase(migrate_url)) return rc;
    return tally::app::RunMigrate(migrate_url, partitions);
  }
  if (*reactors_status) {
    if (int rc = RequireDatabase(reactors_url)) return rc;
    return tally::app::RunReactorsStatus(reactors_url);
  }
  if (*reactors_parked) {
    if (int rc = RequireDatabase(reactors_url)) return rc;
    return tally::app::RunReactorsParked(reactors_url, reactor_name);
  }
  if (*reactors_retry) {
    if (int rc = RequireDatabase(reactors_url)) return rc;
    return tally::app::RunReactorsRetry(reactors_url, retry_stream, retry_all, reactor_name,
                                        retry_reason);
  }
  if (*serve) {
    if (int rc = RequireDatabase(serve_options.database_url)) return rc;
    return tally::app::RunServe(serve_options);
  }
  if (*events) {
    if (int rc = RequireDatabase(events_options.database_url)) return rc;
    return tally::app::RunEvents(events_options);
  }
  if (*tenants_create) {
    if (int rc = RequireDatabase(tenants_url)) return rc;
    return tally::app::RunTenantsCreate(tenants_url, tenant_name, tenant_zone);
  }
  if (*tenants_api_key) {
    if (int rc = RequireDatabase(tenants_url)) return rc;
    return tally::app::RunTenantsApiKey(tenants_url, api_key_tenant, api_key_scope);
  }
  if (*bots_add) {
    if (int rc = RequireDatabase(bots_options.database_url)) return rc;
    return tally::app::RunBotsAdd(bots_options);
  }
  if (*bots_meta) {
    if (int rc = RequireDatabase(meta_options.database_url)) return rc;
    // Never a flag: the environment stays out of the process list and shell history.
    const char* token = std::getenv("TALLY_META_ACCESS_TOKEN");
    meta_options.access_token = token == nullptr ? "" : token;
    return tally::app::RunBotsMeta(meta_options);
  }
  if (*bots_welcome) {
    if (int rc = RequireDatabase(welcome_options.database_url)) return rc;
    return tally::app::RunBotsWelcome(welcome_options);
  }
  if (*offers_set) {
    if (int rc = RequireDatabase(offers_options.database_url)) return rc;
    return tally::app::RunOffersSet(offers_options);
  }
  if (*plans_set) {
    if (int rc = RequireDatabase(plans_options.database_url)) return rc;
    return tally::app::RunPlansSet(plans_options);
  }
  if (*products_set) {
    if (int rc = RequireDatabase(products_options.database_url)) return rc;
    return tally::app::RunProductsSet(products_options);
  }
  if (*gateways_set) {
    if (int rc = RequireDatabase(gateways_options.database_url)) return rc;
    return tally::app::RunGatewaysSet(gateways_options);
  }
  if (*projections_status || *projections_rebuild || *projections_verify) {
    if (int rc = RequireDatabase(projections_url)) return rc;
    if (*projections_status) return tally::app::RunProjectionsStatus(projections_url);
    if (*projections_rebuild) {
      return tally::app::RunProjectionsRebuild(projections_url, projection_name, projection_version,
                                               drop_old);
    }
    return tally::app::RunProjectionsVerify(projections_url, projection_name);
  }
  if (*bench_deliver) {
    if (int rc = RequireDatabase(bench_deliver_options.database_url)) return rc;
    return tally::app::RunBenchDeliver(bench_deliver_options);
  }
  if (*bench_timers) {
    if (int rc = RequireDatabase(bench_timers_options.database_url)) return rc;
    return tally::app::RunBenchTimers(bench_timers_options);
  }
  if (*bench_reconcile) {
    if (int rc = RequireDatabase(bench_reconcile_options.database_url)) return rc;
    return tally::app::RunBenchReconcile(bench_reconcile_options);
  }
  if (*bench_live) {
    if (int rc = RequireDatabase(bench_live_options.database_url)) return rc;
    return tally::app::RunBenchLive(bench_live_options);
  }
  if (*bench_read) {
    if (int rc = RequireDatabase(bench_read_options.database_url)) return rc;
    return tally::app::RunBenchRead(bench_read_options);
  }
  if (*bench_ingest) {
    if (int rc = RequireDatabase(bench_ingest_options.database_url)) return rc;
    return tally::app::RunBenchIngest(bench_ingest_options);
  }
  if (*bench_lag) {
    if (int rc = RequireDatabase(bench_lag_options.database_url)) return rc;
    return tally::app::RunBenchLag(bench_lag_options);
  }
  if (*bench_rebuild) {
    if (int rc = RequireDatabase(bench_rebuild_options.database_url)) return rc;
    return tally::app::RunBenchRebuild(bench_rebuild_options);
  }
  if (*bench_append) {
    if (int rc = RequireDatabase(bench_options.database_url)) return rc;
    return tally::app::RunBenchAppend(bench_options);
  }
  return 2;
}
