#include "tenants/bot_directory.h"

#include <openssl/rand.h>

#include <algorithm>
#include <optional>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::tenants {
using gateways::Sha256Hex;

namespace {

std::string BotKey(const std::string& bot_id) { return absl::StrCat("bot:", bot_id); }

std::string BotStream(const std::string& bot_id) { return absl::StrCat("bot-", bot_id); }

constexpr size_t kMaxProductIdBytes = 64;
constexpr int64_t kMaxNameChars = 200;
constexpr size_t kMaxDeliverUrlBytes = 2048;
constexpr int64_t kMaxDeliverTextChars = 3000;
constexpr int64_t kMinBrlPriceMinor = 50;  // R$0.50, the floor of BRL prices
constexpr size_t kMaxPixelIdDigits = 32;
constexpr size_t kMaxAccessTokenBytes = 1024;
constexpr size_t kMaxTestEventCodeBytes = 64;

// Telegram's bot ids, as RegisterBot takes them from the token.
bool IsBotId(const std::string& bot_id) {
  return !bot_id.empty() && bot_id.size() <= 20 && absl::c_all_of(bot_id, absl::ascii_isdigit);
}

bool IsWordChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// The number of characters of `text`, or -1 when it is not valid UTF-8 (a proto3 string field
// holding invalid UTF-8 would not parse back) or holds a control character (newline and tab
// are allowed in multi-line text).
int64_t Utf8Chars(const std::string& text, bool multi_line) {
  int64_t chars = 0;
  for (size_t i = 0; i < text.size(); ++chars) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 1;
    uint32_t cp = lead;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      cp = lead & 0x07;
    } else if (lead >= 0x80) {
      return -1;
    }
    if (i + length > text.size()) return -1;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (next & 0x3F);
    }
    if ((length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF) ||
        (cp < 0x20 && !(multi_line && (cp == '\n' || cp == '\t'))) || cp == 0x7F) {
      return -1;
    }
    i += length;
  }
  return chars;
}

// An absolute http(s) URL with a host, printable ASCII only.
bool IsHttpUrl(const std::string& url) {
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, 8));
  size_t host = 0;
  if (absl::StartsWith(scheme, "https://")) {
    host = 8;
  } else if (absl::StartsWith(scheme, "http://")) {
    host = 7;
  } else {
    return false;
  }
  if (url.size() <= host || url[host] == '/') return false;
  return absl::c_all_of(url, [](char c) { return c > 0x20 && c < 0x7F; });
}

absl::Status ValidateProduct(const ProductSettings& p) {
  if (p.product_id.empty() || p.product_id.size() > kMaxProductIdBytes ||
      !absl::c_all_of(p.product_id, IsWordChar)) {
    return absl::InvalidArgumentError("product_id must be 1-64 of A-Z a-z 0-9 _ -");
  }
  const int64_t name_chars = Utf8Chars(p.name, /*multi_line=*/false);
  if (name_chars < 1 || name_chars > kMaxNameChars || absl::StripAsciiWhitespace(p.name).empty()) {
    return absl::InvalidArgumentError(
        "name must be 1-200 characters of UTF-8, not blank, without control characters");
  }
  if (p.price_minor <= 0) {
    return absl::InvalidArgumentError("price_minor must be a positive number of minor units");
  }
  if (p.currency.size() != 3 || !absl::c_all_of(p.currency, absl::ascii_isalpha)) {
    return absl::InvalidArgumentError("currency must be an ISO 4217 code such as BRL");
  }
  if (absl::AsciiStrToUpper(p.currency) == "BRL" && p.price_minor < kMinBrlPriceMinor) {
    return absl::InvalidArgumentError("price_minor must be at least 50 (R$0.50) in BRL");
  }
  if (p.deliver_url.empty() && p.deliver_text.empty()) {
    return absl::InvalidArgumentError(
        "deliver_url or deliver_text is required (what the buyer receives once paid)");
  }
  if (!p.deliver_url.empty() &&
      (p.deliver_url.size() > kMaxDeliverUrlBytes || !IsHttpUrl(p.deliver_url))) {
    return absl::InvalidArgumentError(
        "deliver_url must be an http(s) URL of at most 2048 bytes, without spaces");
  }
  const int64_t text_chars = Utf8Chars(p.deliver_text, /*multi_line=*/true);
  if (text_chars < 0 || text_chars > kMaxDeliverTextChars) {
    return absl::InvalidArgumentError(
        "deliver_text must be at most 3000 characters of UTF-8, without control characters other "
        "than newline and tab");
  }
  return absl::OkStatus();
}

absl::Status ValidateMeta(const MetaSettings& m) {
  if (m.pixel_id.empty() || m.pixel_id.size() > kMaxPixelIdDigits ||
      !absl::c_all_of(m.pixel_id, absl::ascii_isdigit)) {
    return absl::InvalidArgumentError("pixel_id must be 1-32 digits");
  }
  if (m.access_token.empty() || m.access_token.size() > kMaxAccessTokenBytes ||
      !absl::c_all_of(m.access_token, [](char c) { return c > 0x20 && c < 0x7F; })) {
    return absl::InvalidArgumentError(
        "access_token must be 1-1024 printable ASCII characters without spaces");
  }
  if (!m.trigger.empty() && m.trigger != kTriggerDeliveryAccess && m.trigger != kTriggerPaid) {
    return absl::InvalidArgumentError("trigger must be delivery_access or paid");
  }
  if (m.test_event_code.size() > kMaxTestEventCodeBytes ||
      !absl::c_all_of(m.test_event_code, IsWordChar)) {
    return absl::InvalidArgumentError("test_event_code must be up to 64 of A-Z a-z 0-9 _ -");
  }
  return absl::OkStatus();
}

// OK when `bot_id` is one of `tenant_id`'s bots. Another tenant's bot is NotFound with the
// same message as an unknown one.
absl::Status CheckBotOfTenant(ledger::EventStore& store, const std::string& tenant_id,
                              const std::string& bot_id) {
  if (!IsBotId(bot_id)) {
    return absl::InvalidArgumentError(
        "bot_id must be Telegram's bot id (the digits before ':' in the bot token)");
  }
  auto bot = ResolveBot(store, bot_id);
  if (!bot.ok()) return bot.status();
  if (bot->tenant_id != tenant_id) return absl::NotFoundError(absl::StrCat("unknown bot ", bot_id));
  return absl::OkStatus();
}

std::string AdminMetadata() {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  metadata.set_actor("tally-cli");
  return metadata.SerializeAsString();
}

absl::Status AppendConfiguration(ledger::EventStore& store, const std::string& tenant_id,
                                 const std::string& bot_id, const std::string& type,
                                 const std::string& payload) {
  return store
      .Append({tenant_id,
               BotStream(bot_id),
               ledger::ExpectedVersion::Any(),
               {{type, payload, AdminMetadata()}},
               ""})
      .status();
}

}  // namespace

absl::StatusOr<NewBot> RegisterBot(ledger::EventStore& store, const SecretBox& box,
                                   const std::string& tenant_id, const std::string& bot_token,
                                   const std::string& username) {
  const size_t colon = bot_token.find(':');
  const std::string bot_id = bot_token.substr(0, colon);
  if (colon == std::string::npos || bot_id.empty() || bot_id.size() > 20 ||
      !absl::c_all_of(bot_id, absl::ascii_isdigit) || colon + 1 >= bot_token.size() ||
      bot_token.size() > 128) {
    return absl::InvalidArgumentError("a bot token looks like 123456789:AAE... (from @BotFather)");
  }
  auto tenant = store.ReadStream(tenant_id, "tenant-" + tenant_id);
  if (!tenant.ok()) return tenant.status();
  if (tenant->empty()) return absl::NotFoundError(absl::StrCat("no tenant ", tenant_id));

  std::string raw(32, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  NewBot bot{bot_id, absl::WebSafeBase64Escape(raw)};  // [A-Za-z0-9_-], as Telegram requires
  bots::v1::BotRegistered registered;
  registered.set_bot_id(bot_id);
  registered.set_tenant_id(tenant_id);
  registered.set_username(username);
  auto sealed = box.Seal(bot_token);
  if (!sealed.ok()) return sealed.status();
  registered.set_token_sealed(*sealed);
  registered.set_webhook_secret_sha256(Sha256Hex(bot.webhook_secret));
  auto result = store.Append(
      {tenant_id,
       BotStream(bot_id),
       ledger::ExpectedVersion::NoStream(),
       {{"tally.bots.v1.BotRegistered", registered.SerializeAsString(), AdminMetadata()}},
       BotKey(bot_id)});
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kAborted) {
      return absl::AlreadyExistsError(absl::StrCat("bot ", bot_id, " is registered already"));
    }
    return result.status();
  }
  if (result->duplicate) {
    return absl::AlreadyExistsError(absl::StrCat("bot ", bot_id, " is registered already"));
  }
  return bot;
}

absl::StatusOr<ResolvedBot> ResolveBot(ledger::EventStore& store, const std::string& bot_id) {
  auto found = store.FindByIdempotencyKey(BotKey(bot_id));
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->type != "tally.bots.v1.BotRegistered") {
    return absl::NotFoundError(absl::StrCat("unknown bot ", bot_id));
  }
  bots::v1::BotRegistered registered;
  if (!registered.ParseFromString((*found)->payload)) {
    return absl::DataLossError(
        absl::StrCat("BotRegistered at position ", (*found)->position, " does not parse"));
  }
  return ResolvedBot{registered.bot_id(), registered.tenant_id(),
                     registered.webhook_secret_sha256()};
}

absl::Status ConfigureProduct(ledger::EventStore& store, const std::string& tenant_id,
                              const ProductSettings& settings) {
  if (absl::Status valid = ValidateProduct(settings); !valid.ok()) return valid;
  if (absl::Status mine = CheckBotOfTenant(store, tenant_id, settings.bot_id); !mine.ok()) {
    return mine;
  }
  bots::v1::ProductConfigured configured;
  configured.set_bot_id(settings.bot_id);
  configured.set_product_id(settings.product_id);
  configured.set_name(settings.name);
  configured.set_price_minor(settings.price_minor);
  configured.set_currency(absl::AsciiStrToUpper(settings.currency));
  configured.set_deliver_url(settings.deliver_url);
  configured.set_deliver_text(settings.deliver_text);
  return AppendConfiguration(store, tenant_id, settings.bot_id, "tally.bots.v1.ProductConfigured",
                             configured.SerializeAsString());
}

absl::Status ConfigureMeta(ledger::EventStore& store, const SecretBox& box,
                           const std::string& tenant_id, const MetaSettings& settings) {
  if (absl::Status valid = ValidateMeta(settings); !valid.ok()) return valid;
  if (absl::Status mine = CheckBotOfTenant(store, tenant_id, settings.bot_id); !mine.ok()) {
    return mine;
  }
  bots::v1::MetaConfigured configured;
  configured.set_bot_id(settings.bot_id);
  configured.set_pixel_id(settings.pixel_id);
  auto sealed = box.Seal(settings.access_token);
  if (!sealed.ok()) return sealed.status();
  configured.set_access_token_sealed(*sealed);
  configured.set_trigger(settings.trigger.empty() ? kTriggerDeliveryAccess : settings.trigger);
  configured.set_test_event_code(settings.test_event_code);
  return AppendConfiguration(store, tenant_id, settings.bot_id, "tally.bots.v1.MetaConfigured",
                             configured.SerializeAsString());
}

absl::Status ConfigureWelcome(ledger::EventStore& store, const std::string& tenant_id,
                              const std::string& bot_id, const std::string& text) {
  const int64_t chars = Utf8Chars(text, /*multi_line=*/true);
  if (chars < 0 || chars > kMaxDeliverTextChars) {
    return absl::InvalidArgumentError(
        "text must be at most 3000 characters of UTF-8, without control characters other than "
        "newline and tab");
  }
  if (absl::Status mine = CheckBotOfTenant(store, tenant_id, bot_id); !mine.ok()) return mine;
  bots::v1::WelcomeConfigured configured;
  configured.set_bot_id(bot_id);
  configured.set_text(text);
  return AppendConfiguration(store, tenant_id, bot_id, "tally.bots.v1.WelcomeConfigured",
                             configured.SerializeAsString());
}

absl::Status ConfigureOffer(ledger::EventStore& store, const std::string& tenant_id,
                            const OfferSettings& o) {
  if (o.offer_id.empty() || o.offer_id.size() > 64 || !absl::c_all_of(o.offer_id, IsWordChar)) {
    return absl::InvalidArgumentError("offer_id must be 1 to 64 of [A-Za-z0-9_-]");
  }
  if (!o.active) {  // a removal names the offer only
    if (absl::Status mine = CheckBotOfTenant(store, tenant_id, o.bot_id); !mine.ok()) return mine;
    bots::v1::OfferConfigured removed;
    removed.set_bot_id(o.bot_id);
    removed.set_offer_id(o.offer_id);
    removed.set_active(false);
    return AppendConfiguration(store, tenant_id, o.bot_id, "tally.bots.v1.OfferConfigured",
                               removed.SerializeAsString());
  }
  if (o.kind != kUpsell && o.kind != kDownsell) {
    return absl::InvalidArgumentError("kind must be upsell or downsell");
  }
  if (o.delay_s < 0 || o.delay_s > 30 * 86400) {
    return absl::InvalidArgumentError("delay_s must be 0 to 2592000 (30 days)");
  }
  if (o.kind == kDownsell && !o.trigger_product_id.empty()) {
    return absl::InvalidArgumentError("trigger_product_id is for upsells only");
  }
  if (o.price_minor != 0 && (o.price_minor < kMinPriceMinor || o.price_minor > kMaxOfferMinor)) {
    return absl::InvalidArgumentError(
        "price_minor must be at least 50 (R$0.50) and at most 10000000 (R$100,000)");
  }
  if (o.discount_percent < 0 || o.discount_percent > 99 ||
      (o.discount_percent != 0 && o.kind != kDownsell)) {
    return absl::InvalidArgumentError("discount_percent must be 1 to 99, and for downsells only");
  }
  if (o.kind == kDownsell && (o.price_minor == 0) == (o.discount_percent == 0)) {
    return absl::InvalidArgumentError(
        "a downsell needs exactly one of price_minor and "
        "discount_percent");
  }
  const int64_t text_chars = Utf8Chars(o.text, /*multi_line=*/true);
  if (text_chars < 0 || text_chars > 1000) {
    return absl::InvalidArgumentError("text must be at most 1000 characters of UTF-8");
  }
  if (absl::Status mine = CheckBotOfTenant(store, tenant_id, o.bot_id); !mine.ok()) return mine;
  // The products it names must exist now (a later removal cancels the offer when it fires).
  auto events = store.ReadStream(tenant_id, BotStream(o.bot_id));
  if (!events.ok()) return events.status();
  std::set<std::string> products;
  for (const auto& e : *events) {
    if (e.type != "tally.bots.v1.ProductConfigured") continue;
    bots::v1::ProductConfigured p;
    if (p.ParseFromString(e.payload)) products.insert(p.product_id());
  }
  if (!products.count(o.product_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("product_id: bot ", o.bot_id, " sells no product ", o.product_id));
  }
  if (!o.trigger_product_id.empty() && !products.count(o.trigger_product_id)) {
    return absl::InvalidArgumentError(absl::StrCat("trigger_product_id: bot ", o.bot_id,
                                                   " sells no product ", o.trigger_product_id));
  }
  bots::v1::OfferConfigured configured;
  configured.set_bot_id(o.bot_id);
  configured.set_offer_id(o.offer_id);
  configured.set_kind(o.kind);
  configured.set_delay_s(o.delay_s);
  configured.set_trigger_product_id(o.trigger_product_id);
  configured.set_product_id(o.product_id);
  configured.set_price_minor(o.price_minor);
  configured.set_discount_percent(o.discount_percent);
  configured.set_text(o.text);
  configured.set_active(o.active);
  return AppendConfiguration(store, tenant_id, o.bot_id, "tally.bots.v1.OfferConfigured",
                             configured.SerializeAsString());
}

namespace {

PlanSettings PlanFromEvent(const bots::v1::PlanConfigured& p) {
  PlanSettings s;
  s.bot_id = p.bot_id();
  s.plan_id = p.plan_id();
  s.name = p.name();
  s.price_minor = p.price_minor();
  s.currency = p.currency();
  s.period_unit = p.period_unit();
  s.period_count = p.period_count();
  s.vip_chat_id = p.vip_chat_id();
  s.active = true;
  return s;
}

}  // namespace

absl::StatusOr<std::map<std::string, PlanSettings>> PlansOf(ledger::EventStore& store,
                                                            const std::string& tenant_id,
                                                            const std::string& bot_id,
                                                            int64_t before_position) {
  auto events = store.ReadStream(tenant_id, BotStream(bot_id));
  if (!events.ok()) return events.status();
  std::map<std::string, PlanSettings> plans;
  for (const auto& e : *events) {
    if (before_position > 0 && e.position >= before_position) break;
    if (e.type != "tally.bots.v1.PlanConfigured") continue;
    bots::v1::PlanConfigured p;
    if (!p.ParseFromString(e.payload)) {
      return absl::DataLossError(absl::StrCat("PlanConfigured at position ", e.position, " of ",
                                              e.stream_id, " does not parse"));
    }
    if (p.active()) {
      plans[p.plan_id()] = PlanFromEvent(p);
    } else {
      plans.erase(p.plan_id());
    }
  }
  return plans;
}

absl::Status ConfigurePlan(ledger::EventStore& store, const std::string& tenant_id,
                           const PlanSettings& p) {
  if (p.plan_id.empty() || p.plan_id.size() > 40 ||
      !absl::c_all_of(p.plan_id, [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
    return absl::InvalidArgumentError("plan_id must be 1 to 40 of [A-Za-z0-9-]");
  }
  bots::v1::PlanConfigured configured;
  configured.set_bot_id(p.bot_id);
  configured.set_plan_id(p.plan_id);
  configured.set_active(p.active);
  if (p.active) {
    const int64_t name_chars = Utf8Chars(p.name, /*multi_line=*/false);
    if (name_chars < 1 || name_chars > 100) {
      return absl::InvalidArgumentError("name must be 1 to 100 characters of UTF-8");
    }
    if (p.price_minor < kMinPriceMinor || p.price_minor > kMaxOfferMinor) {
      return absl::InvalidArgumentError(
          "price_minor must be at least 50 (R$0.50) and at most 10000000 (R$100,000)");
    }
    if (p.currency != "BRL") return absl::InvalidArgumentError("currency must be BRL");
    const int max_count = p.period_unit == kPeriodDay     ? 366
                          : p.period_unit == kPeriodWeek  ? 52
                          : p.period_unit == kPeriodMonth ? 12
                                                          : 0;
    if (max_count == 0) {
      return absl::InvalidArgumentError("period_unit must be day, week or month");
    }
    if (p.period_count < 1 || p.period_count > max_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("period_count must be 1 to ", max_count, " (", p.period_unit, "s)"));
    }
    if (p.vip_chat_id > 0) {
      return absl::InvalidArgumentError(
          "vip_chat_id must be a group or channel id (negative, as Telegram gives them)");
    }
    configured.set_name(p.name);
    configured.set_price_minor(p.price_minor);
    configured.set_currency(p.currency);
    configured.set_period_unit(p.period_unit);
    configured.set_period_count(p.period_count);
    configured.set_vip_chat_id(p.vip_chat_id);
  }
  if (absl::Status mine = CheckBotOfTenant(store, tenant_id, p.bot_id); !mine.ok()) return mine;
  return AppendConfiguration(store, tenant_id, p.bot_id, "tally.bots.v1.PlanConfigured",
                             configured.SerializeAsString());
}

int64_t OfferPriceMinor(const OfferSettings& offer, int64_t product_price_minor,
                        int64_t parent_amount_minor) {
  int64_t price = offer.price_minor;
  if (price == 0 && offer.discount_percent > 0) {
    price = parent_amount_minor * (100 - offer.discount_percent) / 100;
  } else if (price == 0) {
    price = product_price_minor;  // neither a price nor a discount: the product's
  }
  return std::clamp(price, kMinPriceMinor, kMaxOfferMinor);
}

absl::StatusOr<BotConfig> ResolveBotConfig(ledger::EventStore& store, const SecretBox& box,
                                           const std::string& bot_id) {
  auto bot = ResolveBot(store, bot_id);
  if (!bot.ok()) return bot.status();
  auto stream = store.ReadStream(bot->tenant_id, BotStream(bot_id));
  if (!stream.ok()) return stream.status();
  BotConfig config;
  config.bot_id = bot_id;
  config.tenant_id = bot->tenant_id;
  std::optional<bots::v1::MetaConfigured> meta;
  // A corrupt event must not read as "no such product" or "no pixel": DataLoss, with where.
  const auto corrupt = [&](const ledger::RecordedEvent& event, absl::string_view what) {
    return absl::DataLossError(absl::StrCat(what, " at position ", event.position, " of ",
                                            event.stream_id, " does not parse"));
  };
  for (const ledger::RecordedEvent& event : *stream) {
    if (event.type == "tally.bots.v1.BotRegistered") {
      bots::v1::BotRegistered registered;
      if (!registered.ParseFromString(event.payload)) return corrupt(event, "BotRegistered");
    } else if (event.type == "tally.bots.v1.ProductConfigured") {
      bots::v1::ProductConfigured product;
      if (!product.ParseFromString(event.payload)) return corrupt(event, "ProductConfigured");
      ProductSettings& settings = config.products[product.product_id()];
      settings.bot_id = bot_id;
      settings.product_id = product.product_id();
      settings.name = product.name();
      settings.price_minor = product.price_minor();
      settings.currency = product.currency();
      settings.deliver_url = product.deliver_url();
      settings.deliver_text = product.deliver_text();
    } else if (event.type == "tally.bots.v1.MetaConfigured") {
      bots::v1::MetaConfigured configured;
      if (!configured.ParseFromString(event.payload)) return corrupt(event, "MetaConfigured");
      meta = std::move(configured);
    } else if (event.type == "tally.bots.v1.OfferConfigured") {
      bots::v1::OfferConfigured o;
      if (!o.ParseFromString(event.payload)) return corrupt(event, "OfferConfigured");
      if (!o.active()) {
        config.offers.erase(o.offer_id());
        continue;
      }
      OfferSettings& s = config.offers[o.offer_id()];
      s.bot_id = o.bot_id();
      s.offer_id = o.offer_id();
      s.kind = o.kind();
      s.delay_s = o.delay_s();
      s.trigger_product_id = o.trigger_product_id();
      s.product_id = o.product_id();
      s.price_minor = o.price_minor();
      s.discount_percent = o.discount_percent();
      s.text = o.text();
      s.active = true;
    } else if (event.type == "tally.bots.v1.PlanConfigured") {
      bots::v1::PlanConfigured p;
      if (!p.ParseFromString(event.payload)) return corrupt(event, "PlanConfigured");
      if (!p.active()) {
        config.plans.erase(p.plan_id());
        continue;
      }
      config.plans[p.plan_id()] = PlanFromEvent(p);
    } else if (event.type == "tally.bots.v1.WelcomeConfigured") {
      bots::v1::WelcomeConfigured configured;
      if (!configured.ParseFromString(event.payload)) return corrupt(event, "WelcomeConfigured");
      config.welcome_text = configured.text();
    }
  }
  if (meta.has_value() && !meta->pixel_id().empty()) {
    auto token = box.Open(meta->access_token_sealed());
    if (!token.ok()) {
      return absl::DataLossError(
          absl::StrCat("the Meta access token of bot ", bot_id, ": ", token.status().message()));
    }
    MetaSettings settings;
    settings.bot_id = bot_id;
    settings.pixel_id = meta->pixel_id();
    settings.access_token = *std::move(token);
    settings.trigger = meta->trigger().empty() ? kTriggerDeliveryAccess : meta->trigger();
    settings.test_event_code = meta->test_event_code();
    config.meta = std::move(settings);
  }
  return config;
}

}  // namespace tally::tenants
