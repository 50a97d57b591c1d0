#include "tests/reactors/serve_harness.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "ledger/clock.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/sandbox_control.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kProduct[] = "vip";

std::string BotIdOf(const std::string& token) { return token.substr(0, token.find(':')); }

// The sandbox's answers grow with every message and event it keeps.
http::ClientOptions LargeAnswers() {
  http::ClientOptions options;
  options.max_response_bytes = 256 << 20;
  return options;
}

}  // namespace

int CountOf(const std::vector<ledger::RecordedEvent>& events, const std::string& type) {
  int n = 0;
  for (const auto& e : events) n += e.type == type;
  return n;
}

int LostAttempts(const std::vector<ledger::RecordedEvent>& events, const std::string& kind) {
  const std::string prefix = "tally.payments.v1." + kind;
  if (kind == "Delivery") {
    return CountOf(events, prefix + "Attempted") - CountOf(events, prefix + "MessageSent") -
           CountOf(events, prefix + "Failed");
  }
  return CountOf(events, prefix + "Attempted") - CountOf(events, prefix + "Succeeded") -
         CountOf(events, prefix + "Failed");
}

ServeHarness::ServeHarness(std::vector<BotSpec> bots, sandbox::Faults faults)
    : db_(NewDatabase()),
      store_(OpenStore(db_->url())),
      bots_(std::move(bots)),
      client_(LargeAnswers()) {
  sandbox::SandboxOptions options;
  options.faults = faults;
  auto started = sandbox::Sandbox::Start(options);
  REQUIRE_MESSAGE(started.ok(), started.status().ToString());
  sandbox_ = std::move(*started);
  http_port_ = FreePort();
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", http_port_);

  auto tenant = tenants::CreateTenant(*store_, box_, "Loja da Ana", "America/Sao_Paulo");
  REQUIRE(tenant.ok());
  tenant_id_ = tenant->tenant_id;
  api_key_ = tenant->api_key;
  webhook_token_ = tenant->webhook_token;
  const gateways::GatewayRegistry registry = gateways::StandardGateways();
  for (const std::string gateway : {"stripe", "pushinpay"}) {
    REQUIRE(tenants::ConfigureGateway(
                *store_, box_, registry, tenant_id_,
                {gateway, "secret-" + gateway, "key-" + gateway, sandbox_->BaseUrl(gateway)})
                .ok());
    SandboxAccount(client_, *sandbox_, gateway, "key-" + gateway, "secret-" + gateway,
                   absl::StrCat(tally_url, "/webhooks/", gateway, "/", webhook_token_));
  }
  for (const BotSpec& bot : bots_) {
    const std::string bot_id = BotIdOf(bot.token);
    auto registered = tenants::RegisterBot(*store_, box_, tenant_id_, bot.token, "bot_" + bot_id);
    REQUIRE(registered.ok());
    webhook_secrets_[bot_id] = registered->webhook_secret;
    SandboxAccount(client_, *sandbox_, "telegram", bot.token, "", "");
    tenants::ProductSettings product;
    product.bot_id = bot_id;
    product.product_id = kProduct;
    product.name = "Mentoria VIP";
    product.price_minor = 1990;
    product.deliver_url = "https://cursos.example.com/vip";
    product.deliver_text = "Bem-vinda!";
    REQUIRE(tenants::ConfigureProduct(*store_, tenant_id_, product).ok());
    if (bot.pixel_id.empty()) continue;
    const std::string meta_token = "EAAsandbox" + bot_id;
    SandboxAccount(client_, *sandbox_, "meta", meta_token, "", "");
    if (!bot.meta_token_valid) {
      REQUIRE(SandboxPost(client_, *sandbox_, "/sandbox/meta/invalid_token",
                          absl::StrCat(R"({"pixel_id":")", bot.pixel_id, R"("})"))
                  .status == 200);
    }
    tenants::MetaSettings meta;
    meta.bot_id = bot_id;
    meta.pixel_id = bot.pixel_id;
    meta.access_token = meta_token;
    meta.trigger = bot.meta_trigger;
    REQUIRE(tenants::ConfigureMeta(*store_, box_, tenant_id_, meta).ok());
  }
}

ServeHarness::~ServeHarness() {
  reactors_.reset();  // killed if still running
  http_.reset();
  sandbox_->Stop();
}

void ServeHarness::StartHttp(const std::string& roles, std::vector<std::string> extra_args) {
  const std::string listen = absl::StrCat("127.0.0.1:", http_port_);
  std::vector<std::string> args = {"--roles",
                                   roles,
                                   "--listen",
                                   listen,
                                   "--public-url",
                                   "http://" + listen,
                                   "--telegram-api-base",
                                   sandbox_->BaseUrl("telegram"),
                                   "--meta-api-base",
                                   sandbox_->BaseUrl("meta")};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  http_ = ServeProcess::Start({db_->url(), kHarnessMasterKey, std::move(args)});
  REQUIRE(http_->port() == http_port_);
}

void ServeHarness::StopHttp() {
  const int code = http_->Terminate();
  INFO(http_->OutputTail());
  REQUIRE(code == 0);
}

void ServeHarness::StartReactors(const std::string& roles, std::vector<std::string> extra_args) {
  reactors_roles_ = roles;
  reactors_extra_args_ = std::move(extra_args);
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", http_port_);
  std::vector<std::string> args = {"--roles",
                                   roles,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--public-url",
                                   tally_url,
                                   "--telegram-api-base",
                                   sandbox_->BaseUrl("telegram"),
                                   "--meta-api-base",
                                   sandbox_->BaseUrl("meta")};
  args.insert(args.end(), reactors_extra_args_.begin(), reactors_extra_args_.end());
  reactors_ = ServeProcess::Start({db_->url(), kHarnessMasterKey, std::move(args)});
}

void ServeHarness::KillReactors() { reactors_->Kill(); }

void ServeHarness::StopReactors() {
  const int code = reactors_->Terminate();
  INFO(reactors_->OutputTail());
  REQUIRE(code == 0);
}

http::ClientResponse ServeHarness::Send(const std::string& method, const std::string& url,
                                        const std::string& body,
                                        std::vector<std::pair<std::string, std::string>> headers) {
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  auto r = client_.Send({method, url, std::move(headers), body, 30000ms});
  REQUIRE_MESSAGE(r.ok(), method, " ", url, ": ", r.status().ToString());
  return *r;
}

http::ClientResponse ServeHarness::Api(const std::string& method, const std::string& path,
                                       const std::string& key, const std::string& body) {
  return Send(method, absl::StrCat("http://127.0.0.1:", http_port_, path), body,
              {{"Authorization", "Bearer " + key}});
}

namespace {
std::string ChargeBody(const ChargeSpec& spec) {
  return absl::StrCat(R"({"gateway":")", spec.gateway, R"(","amount_minor":1990,"bot_id":")",
                      spec.bot_id, R"(","customer":{"id":")", spec.customer_id,
                      R"("},"product_id":")", kProduct,
                      R"json(","tracking":{"client_user_agent":"Mozilla/5.0 (Linux)",)json",
                      R"json("client_ip":"203.0.113.7"}})json");
}
}  // namespace

http::ClientResponse ServeHarness::CreateCharge(const ChargeSpec& spec,
                                                const std::string& idempotency_key) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + api_key_}};
  if (!idempotency_key.empty()) headers.emplace_back("Idempotency-Key", idempotency_key);
  return Send("POST", absl::StrCat("http://127.0.0.1:", http_port_, "/v1/payments"),
              ChargeBody(spec), std::move(headers));
}

namespace {
int Occurrences(const std::string& body, const std::string& needle) {
  int n = 0;
  for (size_t at = body.find(needle); at != std::string::npos; at = body.find(needle, at + 1)) {
    ++n;
  }
  return n;
}
}  // namespace

int ServeHarness::ChargesAt(const std::string& gateway) {
  return Occurrences(Send("GET", sandbox_->BaseUrl("sandbox") + "/charges", "").body,
                     absl::StrCat(R"("service":")", gateway, R"(")"));
}

int ServeHarness::ChargesAtGateways(const std::string& payment_id) {
  return Occurrences(Send("GET", sandbox_->BaseUrl("sandbox") + "/charges", "").body,
                     absl::StrCat(R"("reference":")", payment_id, R"(")"));
}

bool ServeHarness::BlockChat(int64_t chat) {
  return SandboxPost(client_, *sandbox_, "/sandbox/telegram/blocked",
                     absl::StrCat(R"({"chat_id":)", chat, "}"))
             .status == 200;
}

bool ServeHarness::UnblockChat(int64_t chat) {
  return SandboxPost(client_, *sandbox_, "/sandbox/telegram/blocked",
                     absl::StrCat(R"({"chat_id":)", chat, R"(,"blocked":false})"))
             .status == 200;
}

int ServeHarness::StartBot(const std::string& bot_id, int64_t user, int64_t update_id) {
  const std::string update =
      absl::StrCat(R"({"update_id":)", update_id, R"(,"message":{"message_id":)", update_id,
                   R"(,"from":{"id":)", user, R"(,"first_name":"Ana"},"chat":{"id":)", user,
                   R"(,"type":"private"},"date":1795000000,"text":"/start campanha"}})");
  auto r = client_.Send({"POST",
                         absl::StrCat("http://127.0.0.1:", http_port_, "/telegram/", bot_id),
                         {{"Content-Type", "application/json"},
                          {"X-Telegram-Bot-Api-Secret-Token", webhook_secrets_[bot_id]}},
                         update,
                         30000ms});
  return r.ok() ? r->status : 0;
}

ServeHarness::Charged ServeHarness::ChargeAndPay(const std::vector<ChargeSpec>& charges,
                                                 int threads) {
  Charged charged;
  std::vector<Payment>& payments = charged.payments;
  payments.resize(charges.size());
  std::vector<std::string>& errors = charged.errors;
  std::atomic<size_t> next{0};
  std::mutex mu;
  const std::string tally_url = absl::StrCat("http://127.0.0.1:", http_port_);
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < charges.size();) {
      const ChargeSpec& spec = charges[i];
      auto fail = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(absl::StrCat("charge ", i, ": ", what));
      };
      auto created = client_.Send(
          {"POST",
           tally_url + "/v1/payments",
           {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + api_key_}},
           ChargeBody(spec),
           30000ms});
      if (!created.ok() || created->status != 201) {
        fail(created.ok() ? absl::StrCat(created->status, " ", created->body)
                          : created.status().ToString());
        continue;
      }
      auto fields = gateways::PayloadFields::ParseJson(created->body);
      if (!fields.ok()) {
        fail(created->body);
        continue;
      }
      Payment& p = payments[i];
      p.payment_id = fields->Text("payment_id");
      p.transaction_id = fields->Text("gateway_transaction_id");
      p.gateway = spec.gateway;
      p.stream_id = absl::StrCat("payment-", spec.gateway, "-", p.transaction_id);
      p.bot_id = spec.bot_id;
      p.customer_id = spec.customer_id;
      auto paid =
          client_.Send({"POST",
                        absl::StrCat("http://127.0.0.1:", sandbox_->port(), "/sandbox/charges/",
                                     spec.gateway, "/", p.transaction_id, "/pay"),
                        {{"Content-Type", "application/json"}},
                        "{}",
                        30000ms});
      if (!paid.ok() || paid->status != 200) {
        fail(paid.ok() ? absl::StrCat("pay ", paid->status, " ", paid->body)
                       : paid.status().ToString());
      }
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(work);
  for (auto& w : workers) w.join();
  return charged;
}

void ServeHarness::WaitWebhooksAcknowledged(const std::vector<Payment>& payments,
                                            std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (sandbox_->stats().pending > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(sandbox_->stats().pending == 0);
  REQUIRE(sandbox_->stats().webhooks_given_up == 0);
  auto streams = Streams();
  size_t acknowledged = 0;
  for (const Payment& p : payments) {
    for (const auto& e : streams[p.stream_id]) {
      if (e.type == "tally.payments.v1.GatewayWebhookReceived") {
        ++acknowledged;
        break;
      }
    }
  }
  REQUIRE(acknowledged == payments.size());
}

int ServeHarness::KillRepeatedly(const std::function<bool()>& enough, std::chrono::seconds limit,
                                 uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> pause_ms(500, 2000);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int kills = 0;
  while (true) {
    // The schedule of the fault, not a synchronization: the process is killed wherever it is.
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    if (enough() || std::chrono::steady_clock::now() >= deadline) break;
    KillReactors();
    ++kills;
    StartReactors(reactors_roles_, reactors_extra_args_);
  }
  return kills;
}

std::map<int64_t, int> ServeHarness::TelegramMessagesPerChat() {
  http::ClientResponse r = Send("GET", sandbox_->BaseUrl("sandbox") + "/telegram/messages", "");
  REQUIRE(r.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(r.body).get(root) == simdjson::SUCCESS);
  simdjson::dom::array messages;
  REQUIRE(root["messages"].get_array().get(messages) == simdjson::SUCCESS);
  std::map<int64_t, int> per_chat;
  for (simdjson::dom::element m : messages) {
    int64_t chat = 0;
    REQUIRE(m["chat_id"].get_int64().get(chat) == simdjson::SUCCESS);
    ++per_chat[chat];
  }
  return per_chat;
}

std::vector<std::string> ServeHarness::TelegramTexts(int64_t chat) {
  http::ClientResponse r = Send(
      "GET", absl::StrCat(sandbox_->BaseUrl("sandbox"), "/telegram/messages?chat_id=", chat), "");
  REQUIRE(r.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(r.body).get(root) == simdjson::SUCCESS);
  simdjson::dom::array messages;
  REQUIRE(root["messages"].get_array().get(messages) == simdjson::SUCCESS);
  std::vector<std::string> texts;
  for (simdjson::dom::element m : messages) {
    std::string_view text;
    REQUIRE(m["text"].get_string().get(text) == simdjson::SUCCESS);
    texts.emplace_back(text);
  }
  return texts;
}

std::string ServeHarness::HttpUrl() const { return absl::StrCat("http://127.0.0.1:", http_port_); }

http::ClientResponse ServeHarness::Get(const std::string& url) { return Send("GET", url, ""); }

std::string ServeHarness::SandboxUrl() const {
  return absl::StrCat("http://127.0.0.1:", sandbox_->port());
}

int ServeHarness::ActOnCharge(const std::string& gateway, const std::string& transaction_id,
                              const std::string& action) {
  return Send("POST",
              absl::StrCat("http://127.0.0.1:", sandbox_->port(), "/sandbox/charges/", gateway, "/",
                           transaction_id, "/", action),
              "{}")
      .status;
}

ServeHarness::MetaEvents ServeHarness::MetaEventsReceived() {
  http::ClientResponse r = Send("GET", sandbox_->BaseUrl("sandbox") + "/meta/events", "");
  REQUIRE(r.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE(parser.parse(r.body).get(root) == simdjson::SUCCESS);
  MetaEvents received;
  REQUIRE(root["unique"].get_int64().get(received.unique) == simdjson::SUCCESS);
  REQUIRE(root["raw_receipts"].get_int64().get(received.raw_receipts) == simdjson::SUCCESS);
  simdjson::dom::array events;
  REQUIRE(root["events"].get_array().get(events) == simdjson::SUCCESS);
  for (simdjson::dom::element e : events) {
    std::string_view event_id, pixel, name;
    int64_t receipts = 0;
    REQUIRE(e["event_id"].get_string().get(event_id) == simdjson::SUCCESS);
    REQUIRE(e["pixel_id"].get_string().get(pixel) == simdjson::SUCCESS);
    REQUIRE(e["event_name"].get_string().get(name) == simdjson::SUCCESS);
    REQUIRE(e["receipts"].get_int64().get(receipts) == simdjson::SUCCESS);
    received.by_event_id.emplace(
        std::string(event_id),
        MetaEvent{std::string(pixel), std::string(name), static_cast<int>(receipts)});
  }
  return received;
}

std::map<std::string, std::vector<ledger::RecordedEvent>> ServeHarness::Streams() {
  std::map<std::string, std::vector<ledger::RecordedEvent>> streams;
  for (auto& e : AllEvents(db_->url())) streams[e.stream_id].push_back(std::move(e));
  return streams;
}

std::vector<reactors::ReactorPartitionStatus> ServeHarness::Status() {
  ledger::SystemClock clock;
  auto status = reactors::ReadReactorStatus(db_->url(), clock.NowMicros());
  REQUIRE_MESSAGE(status.ok(), status.status().ToString());
  return *status;
}

std::string ServeHarness::NotQuiet() {
  int seen = 0;
  for (const auto& s : Status()) {
    REQUIRE_MESSAGE(s.error.empty(), s.reactor, " stopped at ", s.error_position, ": ", s.error);
    if (s.checkpoint < s.head) {
      return absl::StrCat(s.reactor, " at ", s.checkpoint, " of ", s.head);
    }
    if (absl::StartsWith(s.reactor, "outbox:") && (s.backlog > 0 || s.in_flight > 0)) {
      return absl::StrCat(s.reactor, ": ", s.backlog, " due, ", s.in_flight, " in flight");
    }
    seen += s.reactor == "outbox" || s.reactor == "delivery" || s.reactor == "meta_purchase" ||
            s.reactor == "reconciliation_queue";
  }
  if (seen < 4) return "not every reactor has run yet";
  pqxx::connection c(db_->url());
  pqxx::read_transaction txn(c);
  for (const auto& row :
       txn.exec("SELECT c.name, c.position, h.position, COALESCE(c.error, '') "
                "FROM projection_checkpoints c JOIN ledger_heads h USING (partition_id)")) {
    REQUIRE_MESSAGE(row[3].as<std::string>().empty(), "projection ", row[0].as<std::string>(),
                    " stopped: ", row[3].as<std::string>());
    if (row[1].as<int64_t>() < row[2].as<int64_t>()) {
      return absl::StrCat("projection ", row[0].as<std::string>(), " at ", row[1].as<int64_t>(),
                          " of ", row[2].as<int64_t>());
    }
  }
  return "";
}

void ServeHarness::WaitQuiet(std::chrono::seconds limit, const std::function<bool()>& also) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string why;
  while (true) {
    why = NotQuiet();
    if (why.empty() && also && !also()) why = "the test's condition does not hold yet";
    if (why.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO("not quiet after ", limit.count(), " s: ", why, "\n", Tally("reactors status").output,
       "reactors process output:\n", reactors_ ? reactors_->OutputTail() : "");
  REQUIRE(why.empty());
}

CommandResult ServeHarness::Tally(const std::string& args) {
  return RunCommand(absl::StrCat("TALLY_MASTER_KEY=", kHarnessMasterKey, " ", TallyBinary(), " ",
                                 args, " --database '", db_->url(), "'"));
}

}  // namespace tally::testing
