// `tally products set` and `tally bots meta` as an operator runs them: one line and exit 0 when
// configured, one line and exit 2 on bad input, the access token never on the command line
// nor in the output.

#include <doctest/doctest.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"

namespace tally::tenants {
namespace {

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "555000111:AAHcliTESTtokenABCDEFGHIJKLMNOPQRSTU";
constexpr char kBotId[] = "555000111";
constexpr char kMetaToken[] = "EAAcliMETAtokenNEVERprintedZDZD";

struct Cli {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  SecretBox box = *SecretBox::FromHex(kMasterKey);
  std::string tenant_id;

  Cli() {
    auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    REQUIRE(RegisterBot(*store, box, tenant_id, kBotToken, "loja_bot").ok());
  }

  // `env` is prepended to the command line (VAR=value ...); TALLY_MASTER_KEY is set unless
  // `master_key` is false.
  testing::CommandResult Run(const std::string& args, const std::string& env = "",
                             bool master_key = true) {
    return testing::RunCommand(
        absl::StrCat("env -u TALLY_META_ACCESS_TOKEN -u TALLY_MASTER_KEY ",
                     master_key ? absl::StrCat("TALLY_MASTER_KEY=", kMasterKey, " ") : "", env, " ",
                     testing::TallyBinary(), " ", args, " --database '", db->url(), "'"));
  }
};

int Lines(const std::string& output) {
  return static_cast<int>(std::count(output.begin(), output.end(), '\n'));
}

TEST_CASE("tally products set configures a product of the bot's own tenant") {
  Cli cli;
  auto result = cli.Run(absl::StrCat(
      "products set --bot ", kBotId,
      " --product vip --name 'Acesso VIP' --price-minor 1990 --deliver-url https://t.me/+AbC"));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(Lines(result.output) == 1);
  CHECK(result.output ==
        absl::StrCat("product vip of bot ", kBotId,
                     " configured: \"Acesso VIP\", 1990 BRL in minor units, delivers a URL\n"));
  auto config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  REQUIRE(config->products.count("vip") == 1);
  CHECK(config->products.at("vip").price_minor == 1990);
  CHECK(config->products.at("vip").currency == "BRL");
  CHECK(config->products.at("vip").deliver_url == "https://t.me/+AbC");

  result = cli.Run(absl::StrCat("products set --bot ", kBotId,
                                " --product vip --name VIP --price-minor 2490 --currency usd "
                                "--deliver-text 'Obrigado!'"));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("2490 USD in minor units, delivers a text") != std::string::npos);
  config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->products.at("vip").price_minor == 2490);
  CHECK(config->products.at("vip").deliver_text == "Obrigado!");
}

TEST_CASE("tally products set: bad input is one line and exit 2") {
  Cli cli;
  const std::string product = " --product vip --name VIP --deliver-url https://t.me/+AbC";
  struct Case {
    std::string args;
    bool master_key;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {absl::StrCat("products set --bot 999 --price-minor 1990", product), true,
            "unknown bot 999"},
           {absl::StrCat("products set --bot ", kBotId, " --price-minor 49", product), true,
            "price_minor"},
           {absl::StrCat("products set --bot ", kBotId, " --price-minor abc", product), true,
            "--price-minor"},
           {absl::StrCat("products set --bot ", kBotId,
                         " --price-minor 1990 --product vip "
                         "--name VIP"),
            true, "deliver_url or deliver_text"},
           {absl::StrCat("products set --bot ", kBotId, " --price-minor 1990"), true,
            "--product is required"},
           {absl::StrCat("products set --bot ", kBotId, " --price-minor 1990", product), false,
            "TALLY_MASTER_KEY"},
       }) {
    CAPTURE(c.args);
    auto result = cli.Run(c.args, "", c.master_key);
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK(Lines(result.output) == 1);
    CHECK(result.output.find("tally: ") == 0);
    CHECK(result.output.find(c.says) != std::string::npos);
  }
  auto config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->products.empty());
}

TEST_CASE(
    "tally plans set configures a plan, removes it, and refuses bad input with one line "
    "and exit 2") {
  Cli cli;
  auto result = cli.Run(absl::StrCat("plans set --bot ", kBotId,
                                     " --plan mensal --name 'Clube VIP' --price-minor 2990 "
                                     "--period 1m --vip-chat -1001234"));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output == absl::StrCat("plan mensal of bot ", kBotId,
                                      " configured: 1m for 2990 minor units, with VIP chat "
                                      "access\n"));
  auto plans = PlansOf(*cli.store, cli.tenant_id, kBotId);
  REQUIRE(plans.ok());
  REQUIRE(plans->count("mensal") == 1);
  CHECK(plans->at("mensal").period_unit == "month");
  CHECK(plans->at("mensal").period_count == 1);
  CHECK(plans->at("mensal").vip_chat_id == -1001234);

  const std::string plan = " --plan anual --name Anual --price-minor 19900";
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {absl::StrCat("plans set --bot 999 --period 12m", plan), "unknown bot 999"},
           {absl::StrCat("plans set --bot ", kBotId, " --period 0d", plan), "period_count"},
           {absl::StrCat("plans set --bot ", kBotId, " --period 13m", plan), "period_count"},
           {absl::StrCat("plans set --bot ", kBotId, " --period 2y", plan), "--period"},
           {absl::StrCat("plans set --bot ", kBotId, " --period 12m", plan, " --vip-chat 77"),
            "vip_chat_id"},
           {absl::StrCat("plans set --bot ", kBotId,
                         " --period 12m --plan anual --name Anual --price-minor 10"),
            "price_minor"},
           {absl::StrCat("plans set --bot ", kBotId,
                         " --period 12m --plan a_b --name A "
                         "--price-minor 1000"),
            "plan_id"},
       }) {
    CAPTURE(args);
    result = cli.Run(args);
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK(Lines(result.output) == 1);
    CHECK(result.output.find(says) != std::string::npos);
  }
  result = cli.Run(absl::StrCat("plans set --bot ", kBotId, " --plan mensal --remove"));
  CHECK(result.exit_code == 0);
  plans = PlansOf(*cli.store, cli.tenant_id, kBotId);
  REQUIRE(plans.ok());
  CHECK(plans->empty());  // removed, and nothing recorded by the refusals
}

TEST_CASE("tally bots meta takes the token from the environment and never prints it") {
  Cli cli;
  auto result = cli.Run(
      absl::StrCat("bots meta --bot ", kBotId, " --pixel 1234567890 --test-event-code TEST123"),
      absl::StrCat("TALLY_META_ACCESS_TOKEN=", kMetaToken));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(Lines(result.output) == 1);
  CHECK(result.output.find(kMetaToken) == std::string::npos);
  CHECK(result.output ==
        absl::StrCat("Meta pixel 1234567890 configured for bot ", kBotId,
                     ": Purchase sent when the buyer opens the delivery link, test event code "
                     "TEST123 (access token sealed)\n"));
  auto config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  REQUIRE(config->meta.has_value());
  CHECK(config->meta->access_token == kMetaToken);
  CHECK(config->meta->pixel_id == "1234567890");
  CHECK(config->meta->trigger == "delivery_access");
  CHECK(config->meta->test_event_code == "TEST123");

  result = cli.Run(absl::StrCat("bots meta --bot ", kBotId, " --pixel 42 --trigger paid"),
                   absl::StrCat("TALLY_META_ACCESS_TOKEN=", kMetaToken));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("Purchase sent when the payment is confirmed") != std::string::npos);
  config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->meta->trigger == "paid");
  CHECK(config->meta->test_event_code.empty());
}

TEST_CASE("tally bots meta: bad input is one line and exit 2, without the token") {
  Cli cli;
  const std::string token = absl::StrCat("TALLY_META_ACCESS_TOKEN=", kMetaToken);
  struct Case {
    std::string args;
    std::string env;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {absl::StrCat("bots meta --bot ", kBotId, " --pixel 1234"), "",
            "TALLY_META_ACCESS_TOKEN"},
           {"bots meta --bot 999 --pixel 1234", token, "unknown bot 999"},
           {absl::StrCat("bots meta --bot ", kBotId, " --pixel px1"), token, "pixel_id"},
           {absl::StrCat("bots meta --bot ", kBotId, " --pixel 1 --trigger start"), token,
            "trigger"},
           {absl::StrCat("bots meta --bot ", kBotId, " --pixel 1 --access-token x"), token,
            "--access-token"},  // there is no such flag
       }) {
    CAPTURE(c.args);
    auto result = cli.Run(c.args, c.env);
    INFO(result.output);
    CHECK(result.exit_code == 2);
    CHECK(Lines(result.output) == 1);
    CHECK(result.output.find(c.says) != std::string::npos);
    CHECK(result.output.find(kMetaToken) == std::string::npos);
  }
  auto config = ResolveBotConfig(*cli.store, cli.box, kBotId);
  REQUIRE(config.ok());
  CHECK_FALSE(config->meta.has_value());
}

TEST_CASE("--help tells where the token comes from and what each command needs") {
  auto meta = testing::RunCommand(testing::TallyBinary() + " bots meta --help");
  CHECK(meta.exit_code == 0);
  CHECK(meta.output.find("TALLY_META_ACCESS_TOKEN") != std::string::npos);
  CHECK(meta.output.find("TALLY_MASTER_KEY") != std::string::npos);
  CHECK(meta.output.find("--trigger") != std::string::npos);
  CHECK(meta.output.find("--token") == std::string::npos);
  auto products = testing::RunCommand(testing::TallyBinary() + " products set --help");
  CHECK(products.exit_code == 0);
  CHECK(products.output.find("TALLY_MASTER_KEY") != std::string::npos);
  CHECK(products.output.find("--price-minor") != std::string::npos);
}

}  // namespace
}  // namespace tally::tenants
