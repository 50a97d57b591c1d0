// A bot's products and Meta pixel, configured as events in its stream and folded back: the
// latest configuration wins, the access token is sealed, another tenant's bot is as unknown as
// a bot that does not exist, and a corrupt event is an error, never a missing product.

#include <doctest/doctest.h>

#include <functional>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"

namespace tally::tenants {
namespace {

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kOtherKey[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kBotToken[] = "123456789:AAHconfigtestTOKENabcdefghijklmnopq";
constexpr char kBotId[] = "123456789";
constexpr char kMetaToken[] = "EAAGm0PX4ZCpsBAKZCmetaTOKENforTESTSonlyZDZD";

struct Fixture {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  SecretBox box = *SecretBox::FromHex(kMasterKey);
  std::string tenant_id;

  Fixture() {
    auto tenant = CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    REQUIRE(RegisterBot(*store, box, tenant_id, kBotToken, "loja_bot").ok());
  }

  // Appends a row past the appender (as tampering or a bad restore would), with the payload
  // and type given, to the bot's stream.
  void InsertRaw(const std::string& type, const std::string& payload_hex) {
    pqxx::connection c(db->url());
    pqxx::work txn(c);
    txn.exec_params(
        "INSERT INTO events (partition_id, position, stream_id, stream_version, event_type, "
        "payload, metadata, recorded_at, prev_hash, hash) "
        "SELECT partition_id, position + 1, $1, 99, $2, decode($3, 'hex'), ''::bytea, now(), "
        "hash, hash FROM ledger_heads",
        absl::StrCat("bot-", kBotId), type, payload_hex);
    txn.exec0("UPDATE ledger_heads SET position = position + 1");
    txn.commit();
  }

  int64_t HeadPosition() {
    pqxx::connection c(db->url());
    pqxx::work txn(c);
    return txn.exec1("SELECT position FROM ledger_heads")[0].as<int64_t>();
  }
};

ProductSettings Vip() {
  ProductSettings p;
  p.bot_id = kBotId;
  p.product_id = "vip";
  p.name = "Acesso VIP — Mês";
  p.price_minor = 1990;
  p.deliver_url = "https://t.me/+AbCdEf";
  return p;
}

MetaSettings Pixel() {
  MetaSettings m;
  m.bot_id = kBotId;
  m.pixel_id = "1234567890123456";
  m.access_token = kMetaToken;
  return m;
}

TEST_CASE("products: configured, reconfigured, resolved by id with the latest winning") {
  Fixture f;
  auto empty = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(empty.ok());
  CHECK(empty->tenant_id == f.tenant_id);
  CHECK(empty->products.empty());
  CHECK_FALSE(empty->meta.has_value());

  REQUIRE(ConfigureProduct(*f.store, f.tenant_id, Vip()).ok());
  ProductSettings ebook;
  ebook.bot_id = kBotId;
  ebook.product_id = "ebook-2";
  ebook.name = "E-book";
  ebook.price_minor = 50;  // the BRL floor itself
  ebook.currency = "brl";
  ebook.deliver_text = "Obrigado!\nSeu e-book: https://loja.example/e.pdf";
  REQUIRE(ConfigureProduct(*f.store, f.tenant_id, ebook).ok());
  ProductSettings cheaper = Vip();
  cheaper.price_minor = 990;
  cheaper.deliver_text = "Bem-vindo";
  REQUIRE(ConfigureProduct(*f.store, f.tenant_id, cheaper).ok());

  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  REQUIRE(config->products.size() == 2);
  const ProductSettings& vip = config->products.at("vip");
  CHECK(vip.bot_id == kBotId);
  CHECK(vip.name == "Acesso VIP — Mês");
  CHECK(vip.price_minor == 990);
  CHECK(vip.currency == "BRL");
  CHECK(vip.deliver_url == "https://t.me/+AbCdEf");
  CHECK(vip.deliver_text == "Bem-vindo");
  const ProductSettings& book = config->products.at("ebook-2");
  CHECK(book.price_minor == 50);
  CHECK(book.currency == "BRL");  // kept uppercase
  CHECK(book.deliver_url.empty());
  CHECK(book.deliver_text == ebook.deliver_text);
}

TEST_CASE("Meta pixel: the token sealed in the log, opened on resolve, the latest winning") {
  Fixture f;
  REQUIRE(ConfigureMeta(*f.store, f.box, f.tenant_id, Pixel()).ok());
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  REQUIRE(config->meta.has_value());
  CHECK(config->meta->bot_id == kBotId);
  CHECK(config->meta->pixel_id == "1234567890123456");
  CHECK(config->meta->access_token == kMetaToken);
  CHECK(config->meta->trigger == kTriggerDeliveryAccess);
  CHECK(config->meta->test_event_code.empty());

  for (const auto& event : testing::AllEvents(f.db->url())) {
    CHECK(event.payload.find(kMetaToken) == std::string::npos);
    CHECK(event.metadata.find(kMetaToken) == std::string::npos);
  }

  MetaSettings paid = Pixel();
  paid.pixel_id = "42";
  paid.access_token = "EAAsecondTOKEN";
  paid.trigger = kTriggerPaid;
  paid.test_event_code = "TEST12345";
  REQUIRE(ConfigureMeta(*f.store, f.box, f.tenant_id, paid).ok());
  config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  REQUIRE(config->meta.has_value());
  CHECK(config->meta->pixel_id == "42");
  CHECK(config->meta->access_token == "EAAsecondTOKEN");
  CHECK(config->meta->trigger == kTriggerPaid);
  CHECK(config->meta->test_event_code == "TEST12345");

  // "" is the default trigger.
  MetaSettings unset = Pixel();
  unset.trigger = "";
  REQUIRE(ConfigureMeta(*f.store, f.box, f.tenant_id, unset).ok());
  config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->meta->trigger == kTriggerDeliveryAccess);
}

TEST_CASE("Meta pixel: a MetaConfigured with an empty pixel id turns Purchase events off") {
  Fixture f;
  REQUIRE(ConfigureMeta(*f.store, f.box, f.tenant_id, Pixel()).ok());
  bots::v1::MetaConfigured off;
  off.set_bot_id(kBotId);
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  REQUIRE(f.store
              ->Append({f.tenant_id,
                        absl::StrCat("bot-", kBotId),
                        ledger::ExpectedVersion::Any(),
                        {{"tally.bots.v1.MetaConfigured", off.SerializeAsString(),
                          metadata.SerializeAsString()}},
                        ""})
              .ok());
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  CHECK_FALSE(config->meta.has_value());
}

TEST_CASE("configuration is refused with InvalidArgument naming the field") {
  Fixture f;
  struct ProductCase {
    const char* what;
    std::function<void(ProductSettings&)> edit;
    const char* field;
  };
  const std::string long_id(65, 'a');
  for (const ProductCase& c : std::vector<ProductCase>{
           {"empty product id", [](ProductSettings& p) { p.product_id = ""; }, "product_id"},
           {"65-char product id", [&](ProductSettings& p) { p.product_id = long_id; },
            "product_id"},
           {"product id with a slash", [](ProductSettings& p) { p.product_id = "a/b"; },
            "product_id"},
           {"empty name", [](ProductSettings& p) { p.name = ""; }, "name"},
           {"blank name", [](ProductSettings& p) { p.name = "   "; }, "name"},
           {"201-char name", [](ProductSettings& p) { p.name = std::string(201, 'n'); }, "name"},
           {"name not UTF-8", [](ProductSettings& p) { p.name = "VIP \xE9"; }, "name"},
           {"name with a control character", [](ProductSettings& p) { p.name = "VIP\x01"; },
            "name"},
           {"name of two lines", [](ProductSettings& p) { p.name = "VIP\nMensal"; }, "name"},
           {"zero price", [](ProductSettings& p) { p.price_minor = 0; }, "price_minor"},
           {"negative price", [](ProductSettings& p) { p.price_minor = -100; }, "price_minor"},
           {"under R$0.50", [](ProductSettings& p) { p.price_minor = 49; }, "price_minor"},
           {"currency of two letters", [](ProductSettings& p) { p.currency = "BR"; }, "currency"},
           {"currency symbol", [](ProductSettings& p) { p.currency = "R$"; }, "currency"},
           {"nothing to deliver",
            [](ProductSettings& p) {
              p.deliver_url = "";
              p.deliver_text = "";
            },
            "deliver_url or deliver_text"},
           {"deliver_url not http", [](ProductSettings& p) { p.deliver_url = "ftp://x/y"; },
            "deliver_url"},
           {"deliver_url with a space",
            [](ProductSettings& p) { p.deliver_url = "https://x.example/a b"; }, "deliver_url"},
           {"deliver_url over 2048 bytes",
            [](ProductSettings& p) {
              p.deliver_url = "https://x.example/" + std::string(2040, 'a');
            },
            "deliver_url"},
           {"deliver_text over 3000 chars",
            [](ProductSettings& p) { p.deliver_text = std::string(3001, 't'); }, "deliver_text"},
       }) {
    CAPTURE(c.what);
    ProductSettings p = Vip();
    c.edit(p);
    absl::Status status = ConfigureProduct(*f.store, f.tenant_id, p);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().find(c.field) != absl::string_view::npos);
  }
  // At the limits, accepted: 200 characters of two bytes each, 3000 characters, other
  // currencies below the BRL floor.
  ProductSettings limits = Vip();
  limits.name = "";
  for (int i = 0; i < 200; ++i) limits.name += "é";
  limits.deliver_text = std::string(3000, 't');
  CHECK(ConfigureProduct(*f.store, f.tenant_id, limits).ok());
  ProductSettings dollars = Vip();
  dollars.price_minor = 1;
  dollars.currency = "USD";
  CHECK(ConfigureProduct(*f.store, f.tenant_id, dollars).ok());

  struct MetaCase {
    const char* what;
    std::function<void(MetaSettings&)> edit;
    const char* field;
  };
  for (const MetaCase& c : std::vector<MetaCase>{
           {"empty pixel", [](MetaSettings& m) { m.pixel_id = ""; }, "pixel_id"},
           {"pixel with letters", [](MetaSettings& m) { m.pixel_id = "12ab"; }, "pixel_id"},
           {"33-digit pixel", [](MetaSettings& m) { m.pixel_id = std::string(33, '1'); },
            "pixel_id"},
           {"empty token", [](MetaSettings& m) { m.access_token = ""; }, "access_token"},
           {"token with a space", [](MetaSettings& m) { m.access_token = "EAA secret"; },
            "access_token"},
           {"unknown trigger", [](MetaSettings& m) { m.trigger = "on_start"; }, "trigger"},
           {"test code with a space", [](MetaSettings& m) { m.test_event_code = "TEST 1"; },
            "test_event_code"},
       }) {
    CAPTURE(c.what);
    MetaSettings m = Pixel();
    c.edit(m);
    absl::Status status = ConfigureMeta(*f.store, f.box, f.tenant_id, m);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().find(c.field) != absl::string_view::npos);
    CHECK(status.message().find("secret") == absl::string_view::npos);  // never the token
  }
  // Nothing refused was written.
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->products.size() == 1);
  CHECK_FALSE(config->meta.has_value());
}

TEST_CASE("a bot of another tenant is as unknown as a bot that does not exist") {
  Fixture f;
  auto other = CreateTenant(*f.store, f.box, "Outra loja", "America/Sao_Paulo");
  REQUIRE(other.ok());
  ProductSettings foreign = Vip();
  absl::Status theirs = ConfigureProduct(*f.store, other->tenant_id, foreign);
  CHECK(theirs.code() == absl::StatusCode::kNotFound);
  foreign.bot_id = "987654321";
  absl::Status unknown = ConfigureProduct(*f.store, other->tenant_id, foreign);
  CHECK(unknown.code() == absl::StatusCode::kNotFound);
  CHECK(theirs.message() == absl::StrCat("unknown bot ", kBotId));
  CHECK(unknown.message() == "unknown bot 987654321");

  absl::Status meta = ConfigureMeta(*f.store, f.box, other->tenant_id, Pixel());
  CHECK(meta.code() == absl::StatusCode::kNotFound);
  CHECK(ResolveBotConfig(*f.store, f.box, "987654321").status().code() ==
        absl::StatusCode::kNotFound);
  ProductSettings malformed = Vip();
  malformed.bot_id = "12ab";
  absl::Status not_an_id = ConfigureProduct(*f.store, f.tenant_id, malformed);
  CHECK(not_an_id.code() == absl::StatusCode::kInvalidArgument);
  CHECK(not_an_id.message().find("bot_id") != absl::string_view::npos);
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->products.empty());
  CHECK_FALSE(config->meta.has_value());
}

TEST_CASE("an event of the bot's stream that does not parse is DataLoss naming its position") {
  Fixture f;
  REQUIRE(ConfigureProduct(*f.store, f.tenant_id, Vip()).ok());
  REQUIRE(ResolveBotConfig(*f.store, f.box, kBotId).ok());
  // Bytes that are no protobuf message (a truncated length-delimited field).
  f.InsertRaw("tally.bots.v1.ProductConfigured", "0a7f");
  const int64_t position = f.HeadPosition();
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  CHECK(config.status().code() == absl::StatusCode::kDataLoss);
  CHECK(config.status().message() == absl::StrCat("ProductConfigured at position ", position,
                                                  " of bot-", kBotId, " does not parse"));
}

TEST_CASE("a corrupt MetaConfigured is DataLoss, not 'no pixel'") {
  Fixture f;
  f.InsertRaw("tally.bots.v1.MetaConfigured", "0a7f");
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  CHECK(config.status().code() == absl::StatusCode::kDataLoss);
  CHECK(config.status().message().find("MetaConfigured at position") == 0);
}

TEST_CASE("events of types added later are skipped") {
  Fixture f;
  REQUIRE(ConfigureProduct(*f.store, f.tenant_id, Vip()).ok());
  f.InsertRaw("tally.bots.v1.UpsellOfferConfigured", "0a7f");
  auto config = ResolveBotConfig(*f.store, f.box, kBotId);
  REQUIRE(config.ok());
  CHECK(config->products.size() == 1);
}

TEST_CASE("an access token sealed under another master key is DataLoss") {
  Fixture f;
  REQUIRE(ConfigureMeta(*f.store, f.box, f.tenant_id, Pixel()).ok());
  auto config = ResolveBotConfig(*f.store, *SecretBox::FromHex(kOtherKey), kBotId);
  CHECK(config.status().code() == absl::StatusCode::kDataLoss);
  CHECK(config.status().message().find(kMetaToken) == absl::string_view::npos);
}

}  // namespace
}  // namespace tally::tenants
