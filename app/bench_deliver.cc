// `tally bench deliver`: the whole sale loop in one process — HTTP endpoints, reactors and the
// simulators on a scratch database — with charges created over HTTP at a steady rate, each paid
// at its simulated gateway at once; for every payment, how long after Tally recorded the paid
// webhook the Telegram simulator had the buyer's message. A pgbench single-row INSERT at one
// client, on the same database in the same run, gives the commit latency the chain is made of.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include <spdlog/spdlog.h>
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
#include "ledger/database.h"
#include "ledger/scratch_database.h"
#include "projections/payment_fold.h"
#include "reactors/delivery.h"
#include "reactors/reactor_host.h"
#include "sandbox/sandbox.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

using Clock = std::chrono::steady_clock;
namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr char kMasterKey[] = "de11fe4ede11fe4ede11fe4ede11fe4ede11fe4ede11fe4ede11fe4ede11fe4e";
constexpr const char* kGateways[] = {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"};
constexpr int kClientThreads = 8;
constexpr int64_t kFirstChat = 500000;  // payment i's buyer is tg:<kFirstChat + i>

// A seller: a tenant with the five gateways at the simulators, one bot selling one product, and
// a Meta pixel reporting Purchases when a payment is confirmed.
struct Seller {
  std::string tenant_id;
  std::string api_key;
  std::string bot_id;
};

// One payment's events, as the log recorded them (0: absent).
struct Trail {
  int64_t webhook_us = 0;        // the first GatewayWebhookReceived: the paid webhook
  int64_t polled_us = 0;         // the first GatewayStatusPolled
  int64_t poll_sent_us = 0;      // ... its request left (answered minus the call's latency)
  int64_t poll_answered_us = 0;  // ... its answer came
  int64_t issued_us = 0;
  int64_t decided_us = 0;    // the delivery reactor built DeliveryIssued (before appending it)
  int64_t attempted_us = 0;  // the first DeliveryAttempted
  int purchases_succeeded = 0;
  projections::PaymentState state;
};

// splitmix64: the same "random" seller for payment i in every run.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

double Ms(int64_t from_us, int64_t to_us) { return (to_us - from_us) / 1000.0; }

absl::Status Post(http::HttpClient& client, const std::string& url, const std::string& body) {
  auto r = client.Send({"POST", url, {{"Content-Type", "application/json"}}, body, 10000ms});
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::InternalError(absl::StrCat("POST ", url, ": ", r->status, " ", r->body));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Seller>> CreateSellers(ledger::EventStore& store,
                                                  const tenants::SecretBox& box,
                                                  const gateways::GatewayRegistry& registry,
                                                  http::HttpClient& client,
                                                  const sandbox::Sandbox& sandbox,
                                                  const std::string& tally_url, int count) {
  const std::string accounts = sandbox.BaseUrl("sandbox") + "/accounts";
  std::vector<Seller> sellers;
  for (int t = 0; t < count; ++t) {
    auto tenant =
        tenants::CreateTenant(store, box, absl::StrCat("bench seller ", t), "America/Sao_Paulo");
    if (!tenant.ok()) return tenant.status();
    for (const char* gateway : kGateways) {
      const std::string key = absl::StrCat("bk-", gateway, "-", t);
      const std::string secret = absl::StrCat("whsec-", gateway, "-", t);
      if (absl::Status s =
              tenants::ConfigureGateway(store, box, registry, tenant->tenant_id,
                                        {gateway, secret, key, sandbox.BaseUrl(gateway)});
          !s.ok()) {
        return s;
      }
      // Stripe posts to the account's endpoint; the others to the URL each charge names.
      const std::string endpoint =
          absl::StrCat(tally_url, "/webhooks/", gateway, "/", tenant->webhook_token);
      if (absl::Status s = Post(client, accounts,
                                absl::StrCat(R"({"service":")", gateway, R"(","api_key":")", key,
                                             R"(","webhook_secret":")", secret,
                                             R"(","webhook_url":")", endpoint, R"("})"));
          !s.ok()) {
        return s;
      }
    }
    Seller seller{tenant->tenant_id, tenant->api_key, absl::StrCat(7100000 + t)};
    const std::string bot_token = absl::StrCat(seller.bot_id, ":AAHbenchdeliver", t);
    if (auto bot = tenants::RegisterBot(store, box, seller.tenant_id, bot_token, "bench_bot");
        !bot.ok()) {
      return bot.status();
    }
    tenants::ProductSettings product;
    product.bot_id = seller.bot_id;
    product.product_id = "vip";
    product.name = "Mentoria VIP";
    product.price_minor = 1990;
    product.deliver_url = "https://cursos.example.com/vip";
    if (absl::Status s = tenants::ConfigureProduct(store, seller.tenant_id, product); !s.ok()) {
      return s;
    }
    tenants::MetaSettings meta;
    meta.bot_id = seller.bot_id;
    meta.pixel_id = absl::StrCat(880000 + t);
    meta.access_token = absl::StrCat("EAAbench", t);
    meta.trigger = tenants::kTriggerPaid;
    if (absl::Status s = tenants::ConfigureMeta(store, box, seller.tenant_id, meta); !s.ok()) {
      return s;
    }
    for (const auto& [service, key] : {std::pair<std::string, std::string>{"telegram", bot_token},
                                       {"meta", meta.access_token}}) {
      if (absl::Status s =
              Post(client, accounts,
                   absl::StrCat(R"({"service":")", service, R"(","api_key":")", key, R"("})"));
          !s.ok()) {
        return s;
      }
    }
    sellers.push_back(std::move(seller));
  }
  return sellers;
}

// Creates payment `i` over HTTP and pays it at the simulator; its stream, or the error.
absl::StatusOr<std::string> ChargeAndPay(http::HttpClient& client, const std::string& tally_url,
                                         const sandbox::Sandbox& sandbox, const Seller& seller,
                                         const std::string& gateway, int64_t i) {
  auto r = client.Send(
      {"POST",
       tally_url + "/v1/payments",
       {{"Content-Type", "application/json"},
        {"Authorization", "Bearer " + seller.api_key},
        {"Idempotency-Key", absl::StrCat("bench-deliver-", i)}},
       absl::StrCat(R"({"gateway":")", gateway, R"(","amount_minor":1990,"bot_id":")",
                    seller.bot_id, R"(","product_id":"vip","customer":{"id":"tg:)", kFirstChat + i,
                    R"(","email":"buyer)", i, R"(@example.com"},"tracking":{)",
                    R"js("client_user_agent":"Mozilla/5.0 (bench)","client_ip":"203.0.113.7",)js",
                    R"("source_url":"https://loja.example.com/vip"}})"),
       10000ms});
  if (!r.ok()) return r.status();
  if (r->status != 201) return absl::InternalError(absl::StrCat("charge: ", r->status, r->body));
  auto fields = gateways::PayloadFields::ParseJson(r->body);
  if (!fields.ok()) return fields.status();
  if (absl::Status paid = Post(client,
                               absl::StrCat(sandbox.BaseUrl("sandbox"), "/charges/", gateway, "/",
                                            fields->Text("gateway_transaction_id"), "/pay"),
                               "{}");
      !paid.ok()) {
    return paid;
  }
  return fields->Text("stream");
}

// Items done per outbox kind ("delivery", "meta_purchase").
std::map<std::string, int64_t> OutboxDone(pqxx::connection& c) {
  pqxx::nontransaction txn(c);
  std::map<std::string, int64_t> done;
  for (const auto& row : txn.exec("SELECT reactor, count(*) FILTER (WHERE state = 'done') "
                                  "FROM outbox GROUP BY reactor")) {
    done[row[0].as<std::string>()] = row[1].as<int64_t>();
  }
  return done;
}

// What the Telegram simulator accepted for one chat.
struct ChatMessages {
  int count = 0;
  int64_t first_received_at_us = 0;
};

// Chat id -> the messages the Telegram simulator accepted for it. Its listing is objects with
// "chat_id" before "received_at_us"; the texts are ours and hold neither name.
absl::StatusOr<std::map<int64_t, ChatMessages>> MessagesPerChat(http::HttpClient& client,
                                                                const sandbox::Sandbox& sandbox) {
  auto r = client.Send({"GET", sandbox.BaseUrl("sandbox") + "/telegram/messages", {}, "", 30000ms});
  if (!r.ok()) return r.status();
  if (r->status != 200) return absl::InternalError(absl::StrCat("messages: ", r->status));
  std::map<int64_t, ChatMessages> chats;
  const std::string chat_field = "\"chat_id\":", received_field = "\"received_at_us\":";
  for (size_t at = r->body.find(chat_field); at != std::string::npos;
       at = r->body.find(chat_field, at)) {
    at += chat_field.size();
    ChatMessages& chat = chats[std::strtoll(r->body.c_str() + at, nullptr, 10)];
    const size_t received = r->body.find(received_field, at);
    if (received == std::string::npos) return absl::DataLossError("a message without received_at");
    const int64_t received_at =
        std::strtoll(r->body.c_str() + received + received_field.size(), nullptr, 10);
    if (chat.count++ == 0 || received_at < chat.first_received_at_us) {
      chat.first_received_at_us = received_at;
    }
  }
  return chats;
}

// The Purchase events the Meta simulator kept (deduplicated as Meta counts them) and the
// requests that carried them.
absl::StatusOr<std::pair<int64_t, int64_t>> MetaEvents(http::HttpClient& client,
                                                       const sandbox::Sandbox& sandbox) {
  auto r = client.Send({"GET", sandbox.BaseUrl("sandbox") + "/meta/events", {}, "", 30000ms});
  if (!r.ok()) return r.status();
  auto fields = gateways::PayloadFields::ParseJson(r->body);
  if (!fields.ok()) return fields.status();
  return std::make_pair(std::strtoll(fields->Text("unique").c_str(), nullptr, 10),
                        std::strtoll(fields->Text("raw_receipts").c_str(), nullptr, 10));
}

absl::StatusOr<std::map<std::string, Trail>> ReadTrails(ledger::EventStore& store) {
  std::map<std::string, Trail> trails;
  int64_t after = 0;
  while (true) {
    auto events = store.ReadPartition(0, after, 5000);
    if (!events.ok()) return events.status();
    if (events->empty()) break;
    for (const ledger::RecordedEvent& e : *events) {
      after = e.position;
      if (!projections::IsPaymentStream(e.stream_id)) continue;
      Trail& t = trails[e.stream_id];
      if (absl::Status s = projections::ApplyPaymentEvent(t.state, e).status(); !s.ok()) return s;
      const int64_t at = e.recorded_at_us;
      auto first = [at](int64_t& slot) {
        if (slot == 0) slot = at;
      };
      if (e.type == "tally.payments.v1.GatewayWebhookReceived") first(t.webhook_us);
      ledger::v1::Metadata metadata;
      if (e.type == "tally.payments.v1.GatewayStatusPolled" && t.polled_us == 0) {
        t.polled_us = at;
        pb::GatewayStatusPolled polled;
        if (metadata.ParseFromString(e.metadata) && polled.ParseFromString(e.payload)) {
          t.poll_answered_us = metadata.received_at_us();
          t.poll_sent_us = t.poll_answered_us - polled.latency_us();
        }
      }
      if (e.type == "tally.payments.v1.DeliveryIssued" && t.issued_us == 0) {
        t.issued_us = at;
        if (metadata.ParseFromString(e.metadata)) t.decided_us = metadata.received_at_us();
      }
      if (e.type == "tally.payments.v1.DeliveryAttempted") first(t.attempted_us);
      if (e.type == "tally.payments.v1.MetaPurchaseSucceeded") ++t.purchases_succeeded;
    }
  }
  return trails;
}

std::string JsonMap(const std::map<std::string, double>& m) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : m) parts.push_back(absl::StrFormat("\"%s\":%.3f", k, v));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

}  // namespace

int RunBenchDeliver(const BenchDeliverOptions& options) {
  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_deliver", 1);
  if (!scratch.ok()) return Fail(2, std::string(scratch.status().message()));
  const std::string db_url = (*scratch)->url();
  ledger::EventStoreOptions store_options;
  store_options.database_url = db_url;
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  spdlog::set_level(spdlog::level::warn);  // an info line per request would measure the log

  const tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  ledger::SystemClock clock;
  http::HttpClient client;  // the load generator's, and the simulators' control API
  http::HttpClient outbound;
  const gateways::Transport transport = http::GatewayTransport(outbound, 10000ms);

  auto sandbox = sandbox::Sandbox::Start({});
  if (!sandbox.ok()) return Fail(2, std::string(sandbox.status().message()));

  // Wired as `tally serve` wires its http role; the endpoints exist once the port is known.
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
  if (!server.ok()) return Fail(2, std::string(server.status().message()));
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", (*server)->port());
  const std::string delivery_secret = reactors::DeliverySecretFromMasterKey(kMasterKey);
  http::WebhookIngestion webhooks(**store, box, registry, clock, db_url);
  http::ChargeApi charges(**store, box, registry, clock, transport,
                          http::ChargeApiOptions{tally_url});
  http::DeliveryPage page(**store, clock, delivery_secret);
  endpoints = {&webhooks, &charges, nullptr, &page};

  auto sellers =
      CreateSellers(**store, box, registry, client, **sandbox, tally_url, options.tenants);
  if (!sellers.ok()) return Fail(2, "setting up sellers: " + sellers.status().ToString());

  reactors::ReactorHostOptions host_options;
  host_options.database_url = db_url;
  host_options.public_url = tally_url;
  host_options.delivery_secret = delivery_secret;
  host_options.telegram_api_base = (*sandbox)->BaseUrl("telegram");
  host_options.meta_api_base = (*sandbox)->BaseUrl("meta");
  host_options.unlimited_polls = options.lift_poll_limits;
  reactors::ReactorHost host(**store, clock, box, registry, transport, host_options);
  host.Start();

  std::cerr << absl::StrFormat(
      "bench deliver: %d payments at %d/s over %d sellers x %d gateways%s (Tally on %s, "
      "simulators on %s)\n",
      options.payments, options.rate, options.tenants, std::size(kGateways),
      options.lift_poll_limits ? ", poll limits lifted" : "", tally_url, (*sandbox)->BaseUrl(""));

  // Open loop: payment i is due at start + i/rate whatever the earlier ones took. Gateways take
  // turns; the seller (and so the bot) is drawn at random, as buyers come, so that a bot
  // sometimes gets two sales close together and its pacing (30 messages/s) shows.
  std::atomic<int64_t> made{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::string> streams(options.payments);  // payment i's, once created
  std::mutex error_mu;
  std::string first_error;
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int w = 0; w < kClientThreads; ++w) {
    clients.emplace_back([&, w] {
      pthread_setname_np(pthread_self(), "bench-client");
      for (int64_t i = w; i < options.payments; i += kClientThreads) {
        std::this_thread::sleep_until(start +
                                      std::chrono::microseconds(i * 1000000 / options.rate));
        const std::string gateway = kGateways[i % std::size(kGateways)];
        const Seller& seller = (*sellers)[Mix(i) % sellers->size()];
        auto stream = ChargeAndPay(client, tally_url, **sandbox, seller, gateway, i);
        if (!stream.ok()) {
          failed.fetch_add(1);
          std::lock_guard lock(error_mu);
          if (first_error.empty()) first_error = stream.status().ToString();
          continue;
        }
        streams[i] = *std::move(stream);
        made.fetch_add(1);
      }
    });
  }

  pqxx::connection watch(db_url);
  auto last_report = Clock::now();
  auto report = [&](const std::map<std::string, int64_t>& done) {
    std::cerr << absl::StrFormat("  %.0f s: %d paid, %d failed, %d delivered, %d purchases sent\n",
                                 std::chrono::duration<double>(Clock::now() - start).count(),
                                 made.load(), failed.load(),
                                 done.count("delivery") ? done.at("delivery") : 0,
                                 done.count("meta_purchase") ? done.at("meta_purchase") : 0);
  };
  while (made.load() + failed.load() < options.payments) {
    std::this_thread::sleep_for(100ms);
    if (Clock::now() - last_report >= 5s) {
      report(OutboxDone(watch));
      last_report = Clock::now();
    }
  }
  for (auto& t : clients) t.join();
  const double load_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Everything paid: wait for the deliveries and Purchases to finish (or a minute to pass).
  const auto drain_deadline = Clock::now() + 60s;
  std::map<std::string, int64_t> done;
  while (Clock::now() < drain_deadline) {
    done = OutboxDone(watch);
    if (done["delivery"] >= made.load() && done["meta_purchase"] >= made.load()) break;
    if (Clock::now() - last_report >= 5s) {
      report(done);
      last_report = Clock::now();
    }
    std::this_thread::sleep_for(250ms);
  }
  report(done);
  host.Stop();
  (*server)->Stop();
  auto chats = MessagesPerChat(client, **sandbox);
  auto meta_events = MetaEvents(client, **sandbox);
  (*sandbox)->Stop();
  if (!chats.ok()) return Fail(2, "reading the Telegram simulator: " + chats.status().ToString());
  if (!meta_events.ok()) {
    return Fail(2, "reading the Meta simulator: " + meta_events.status().ToString());
  }
  if (!first_error.empty()) std::cerr << "first charge failure: " << first_error << "\n";

  auto trails = ReadTrails(**store);
  if (!trails.ok()) return Fail(2, "reading the log: " + trails.status().ToString());
  std::vector<double> all;
  std::map<std::string, std::vector<double>> by_gateway;
  std::map<std::string, std::vector<double>> stages;
  int64_t payments = 0, delivered = 0, duplicates = 0, purchases_sent = 0, violations = 0;
  for (int64_t i = 0; i < options.payments; ++i) {
    if (streams[i].empty()) continue;
    ++payments;
    const Trail& t = (*trails)[streams[i]];
    // purchase_sent comes from exactly one MetaPurchaseSucceeded, which names the event id.
    if (t.state.purchase.sent) {
      ++purchases_sent;
      if (t.purchases_succeeded != 1 || t.state.purchase.meta_event_id.empty()) ++violations;
    }
    auto chat = chats->find(kFirstChat + i);
    if (chat == chats->end()) continue;
    ++delivered;
    if (chat->second.count > 1) ++duplicates;
    // From Tally's recording of the paid webhook (its 200 follows once that is durable) to the
    // Telegram simulator accepting the sendMessage: both on the system clock of this process.
    const int64_t received = chat->second.first_received_at_us;
    const double ms = Ms(t.webhook_us, received);
    all.push_back(ms);
    by_gateway[t.state.gateway].push_back(ms);
    int64_t confirmed = t.webhook_us;
    if (t.polled_us > 0 && t.polled_us < t.issued_us) {
      stages["webhook_to_poll"].push_back(Ms(t.webhook_us, t.polled_us));
      // Split: waiting to be polled (the fold, the poller, the account's limits), the call,
      // and recording its answer.
      stages["webhook_to_poll_sent"].push_back(Ms(t.webhook_us, t.poll_sent_us));
      stages["poll_call"].push_back(Ms(t.poll_sent_us, t.poll_answered_us));
      stages["poll_answered_to_recorded"].push_back(Ms(t.poll_answered_us, t.polled_us));
      confirmed = t.polled_us;
    }
    stages["confirmed_to_issued"].push_back(Ms(confirmed, t.issued_us));
    // Split: the delivery reactor reaching the event and deciding, then appending its decision.
    stages["confirmed_to_decided"].push_back(Ms(confirmed, t.decided_us));
    stages["decided_to_issued"].push_back(Ms(t.decided_us, t.issued_us));
    stages["issued_to_attempted"].push_back(Ms(t.issued_us, t.attempted_us));
    stages["attempted_to_received"].push_back(Ms(t.attempted_us, received));
  }
  int64_t messages = 0;
  for (const auto& [chat, m] : *chats) messages += m.count;
  std::map<std::string, double> p50_by_gateway, p99_by_gateway, stage_p50, stage_p99;
  for (const auto& [gateway, v] : by_gateway) {
    p50_by_gateway[gateway] = Pct(v, 0.5);
    p99_by_gateway[gateway] = Pct(v, 0.99);
  }
  for (const auto& [stage, v] : stages) {
    stage_p50[stage] = Pct(v, 0.5);
    stage_p99[stage] = Pct(v, 0.99);
  }
  const double p50 = Pct(all, 0.5), p99 = Pct(all, 0.99);
  const double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  const double rate = made.load() / load_seconds;
  std::cout << absl::StrFormat(
      "tally deliver: %d payments at %.1f/s (%d charges failed), %d delivered, %d messages "
      "received; paid webhook recorded -> message at the Telegram simulator p50 %.1f ms, p99 "
      "%.1f ms, max %.1f ms; %d buyers messaged more than once; %d purchases sent, %d invariant "
      "violations; Meta simulator kept %d Purchases from %d receipts\n",
      payments, rate, failed.load(), delivered, messages, p50, p99, max, duplicates, purchases_sent,
      violations, meta_events->first, meta_events->second);
  for (const auto& [gateway, v] : by_gateway) {
    std::cout << absl::StrFormat("  %-12s p50 %7.1f ms  p99 %7.1f ms  (%d)\n", gateway,
                                 p50_by_gateway[gateway], p99_by_gateway[gateway], v.size());
  }
  for (const auto& [stage, v] : stages) {
    std::cout << absl::StrFormat("  stage %-22s p50 %7.1f ms  p99 %7.1f ms  (%d)\n", stage,
                                 stage_p50[stage], stage_p99[stage], v.size());
  }
  PgbenchResult baseline;
  if (options.pgbench) {
    PgbenchRun run;
    run.clients = 1;
    run.seconds = 5;
    auto measured = RunPgbenchInsert(db_url, run);
    if (!measured.ok()) return Fail(2, std::string(measured.status().message()));
    baseline = *measured;
    std::cout << absl::StrFormat(
        "pgbench single-row INSERT at 1 client: %.0f tps, %.3f ms per commit; p50 = %.1f "
        "commits, p99 = %.1f commits\n",
        baseline.tps, baseline.latency_ms, p50 / baseline.latency_ms, p99 / baseline.latency_ms);
  }
  if (options.json) {
    const double commit_ms = baseline.latency_ms;
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"deliver\",\"payments\":%d,\"rate\":%.1f,\"sellers\":%d,"
        "\"poll_limits_lifted\":%s,"
        "\"charge_failures\":%d,\"delivered\":%d,\"messages_received\":%d,\"p50_ms\":%.3f,"
        "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"duplicates_sent\":%d,\"purchases_sent\":%d,"
        "\"meta_purchases_kept\":%d,"
        "\"purchase_invariant_violations\":%d,\"p50_ms_by_gateway\":%s,\"p99_ms_by_gateway\":%s,"
        "\"stage_p50_ms\":%s,\"stage_p99_ms\":%s,\"pgbench_tps\":%.1f,"
        "\"pgbench_latency_ms\":%.3f,\"p50_vs_pgbench_commit\":%.2f,"
        "\"p99_vs_pgbench_commit\":%.2f}\n",
        payments, rate, options.tenants, options.lift_poll_limits ? "true" : "false", failed.load(),
        delivered, messages, p50, p99, max, duplicates, purchases_sent, meta_events->first,
        violations, JsonMap(p50_by_gateway), JsonMap(p99_by_gateway), JsonMap(stage_p50),
        JsonMap(stage_p99), baseline.tps, commit_ms, commit_ms > 0 ? p50 / commit_ms : 0.0,
        commit_ms > 0 ? p99 / commit_ms : 0.0);
  }
  const bool complete = failed.load() == 0 && delivered == payments && duplicates == 0 &&
                        violations == 0 && purchases_sent == payments;
  return complete ? 0 : 1;
}

}  // namespace tally::app
