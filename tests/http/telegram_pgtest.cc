// POST /telegram/<bot>: /start from Telegram (the sandbox's Bot API simulator) becomes
// LeadStarted in the log, once per update_id, only with the bot's secret token. The bot is
// registered and its webhook set by the real `tally bots add` command.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "http/client.h"
#include "http/router.h"
#include "http/server.h"
#include "sandbox/sandbox.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/sandbox_control.h"

namespace tally::http {
namespace {

using namespace std::chrono_literals;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "7001234567:AAHsandboxTokenForTests_0123456789";
constexpr char kBotId[] = "7001234567";

struct Harness {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  ledger::SystemClock clock;
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  HttpClient client;
  std::unique_ptr<sandbox::Sandbox> sandbox;
  std::unique_ptr<TelegramIngestion> telegram = std::make_unique<TelegramIngestion>(*store, clock);
  std::unique_ptr<Server> server;
  std::string tenant_id;

  Harness() {
    auto s = sandbox::Sandbox::Start({});
    REQUIRE(s.ok());
    sandbox = std::move(*s);
    ServerOptions options;
    options.port = 0;
    auto started = Server::Start(options, [this](const HttpRequest& r, Responder respond) {
      RouteRequest(r, {nullptr, nullptr, telegram.get()}, std::move(respond));
    });
    REQUIRE(started.ok());
    server = std::move(*started);
    auto tenant = tenants::CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    testing::SandboxAccount(client, *sandbox, "telegram", kBotToken, "", "");
  }
  ~Harness() {
    sandbox->Stop();
    server->Stop();
  }

  std::string TallyUrl(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", server->port(), path);
  }
  ClientResponse Control(const std::string& path, const std::string& body) {
    return testing::SandboxPost(client, *sandbox, path, body);
  }
  // Registers the bot through the real CLI, which calls setWebhook on the simulator.
  void AddBotWithCli() {
    const std::string command =
        absl::StrCat("TALLY_MASTER_KEY=", kMasterKey, " TALLY_BOT_TOKEN='", kBotToken, "' ",
                     testing::TallyBinary(), " bots add --database '", db->url(), "' --tenant ",
                     tenant_id, " --username loja_bot --public-url ", TallyUrl(""),
                     " --telegram-api-base ", sandbox->BaseUrl("telegram"));
    auto result = testing::RunCommand(command);
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    CHECK(result.output.find(kBotToken) == std::string::npos);  // the token is never printed
    CHECK(result.output.find("telegram webhook set to") != std::string::npos);
  }
  ClientResponse Start(int64_t user, const std::string& text) {
    return Control("/sandbox/telegram/updates",
                   absl::StrCat(R"({"token":")", kBotToken, R"(","user_id":)", user, R"(,"text":")",
                                text, R"(","first_name":"Ana","username":"ana"})"));
  }
  std::vector<ledger::RecordedEvent> Stream(const std::string& stream) {
    auto events = store->ReadStream(tenant_id, stream);
    REQUIRE(events.ok());
    return *events;
  }
  void Drain() { testing::SandboxDrain(*sandbox); }
};

TEST_CASE("/start through Telegram's webhook records LeadStarted with its payload, once") {
  Harness h;
  h.AddBotWithCli();
  CHECK(h.Control("/sandbox/faults", R"({"duplicate_rate":1})").status == 200);
  CHECK(h.Start(42, "/start camp_blackfriday").status == 200);
  CHECK(h.Start(43, "/start").status == 200);
  CHECK(h.Start(42, "oi, quanto custa?").status == 200);  // not a /start: answered, not kept
  h.Drain();
  CHECK(h.sandbox->stats().webhooks_sent == 6);  // every delivery answered 2xx
  CHECK(h.sandbox->stats().webhooks_failed_attempts == 0);

  auto lead = h.Stream(absl::StrCat("lead-", kBotId, "-42"));
  REQUIRE(lead.size() == 1);  // the duplicate delivery wrote nothing
  leads::v1::LeadStarted started;
  REQUIRE(started.ParseFromString(lead[0].payload));
  CHECK(started.start_payload() == "camp_blackfriday");
  CHECK(started.tenant_id() == h.tenant_id);
  CHECK(started.telegram_user_id() == 42);
  CHECK(started.chat_id() == 42);
  CHECK(started.first_name() == "Ana");
  CHECK(started.raw_update().find("\"update_id\"") != std::string::npos);
  CHECK(lead[0].idempotency_key ==
        absl::StrCat("telegram-update:", kBotId, ":", started.update_id()));

  auto other = h.Stream(absl::StrCat("lead-", kBotId, "-43"));
  REQUIRE(other.size() == 1);
  REQUIRE(started.ParseFromString(other[0].payload));
  CHECK(started.start_payload().empty());

  // A returning person who sends /start again is another LeadStarted in the same stream.
  CHECK(h.Control("/sandbox/faults", R"({"duplicate_rate":0})").status == 200);
  CHECK(h.Start(42, "/start@loja_bot retorno").status == 200);
  h.Drain();
  lead = h.Stream(absl::StrCat("lead-", kBotId, "-42"));
  REQUIRE(lead.size() == 2);
  REQUIRE(started.ParseFromString(lead[1].payload));
  CHECK(started.start_payload() == "retorno");
}

TEST_CASE("tally bots add: a failed setWebhook exits 1 without printing the bot token") {
  Harness h;
  auto result = testing::RunCommand(absl::StrCat(
      "TALLY_MASTER_KEY=", kMasterKey, " TALLY_BOT_TOKEN='", kBotToken, "' ",
      testing::TallyBinary(), " bots add --database '", h.db->url(), "' --tenant ", h.tenant_id,
      " --public-url ", h.TallyUrl(""), " --telegram-api-base http://127.0.0.1:1"));
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("setWebhook failed") != std::string::npos);
  CHECK(result.output.find(kBotToken) == std::string::npos);
  CHECK(result.output.find("AAHsandbox") == std::string::npos);
  // Registered all the same: the secret was printed so the webhook can be set by hand.
  CHECK(tenants::ResolveBot(*h.store, kBotId).ok());
}

TEST_CASE("telegram endpoint: wrong secret 401, unknown bot 404, not an update 400") {
  Harness h;
  auto bot = tenants::RegisterBot(*h.store, h.box, h.tenant_id, kBotToken, "loja_bot");
  REQUIRE(bot.ok());
  CHECK(tenants::RegisterBot(*h.store, h.box, h.tenant_id, kBotToken, "again").status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(tenants::RegisterBot(*h.store, h.box, h.tenant_id, "not-a-token", "x").status().code() ==
        absl::StatusCode::kInvalidArgument);
  const std::string update =
      R"({"update_id":5,"message":{"message_id":1,"from":{"id":9,"first_name":"Z"},"chat":{"id":9,"type":"private"},"date":1795000000,"text":"/start x"}})";
  auto post = [&](const std::string& bot_id, const std::string& secret, const std::string& body) {
    auto r = h.client.Send(
        {"POST",
         h.TallyUrl("/telegram/" + bot_id),
         {{"Content-Type", "application/json"}, {"X-Telegram-Bot-Api-Secret-Token", secret}},
         body,
         3000ms});
    REQUIRE(r.ok());
    return r->status;
  };
  CHECK(post(kBotId, "wrong-secret", update) == 401);
  CHECK(post(kBotId, "", update) == 401);
  CHECK(post("123", bot->webhook_secret, update) == 404);
  CHECK(post("abc", bot->webhook_secret, update) == 404);
  CHECK(post(kBotId, bot->webhook_secret, "{not json") == 400);
  CHECK(post(kBotId, bot->webhook_secret, R"({"message":{}})") == 400);
  CHECK(post(kBotId, bot->webhook_secret,
             R"({"update_id":6,"message":{"from":{"id":9},"text":"/startle"}})") == 200);
  CHECK(h.Stream(absl::StrCat("lead-", kBotId, "-9")).empty());
  CHECK(post(kBotId, bot->webhook_secret, update) == 200);
  CHECK(post(kBotId, bot->webhook_secret, update) == 200);  // Telegram's redelivery
  CHECK(h.Stream(absl::StrCat("lead-", kBotId, "-9")).size() == 1);
}

}  // namespace
}  // namespace tally::http
