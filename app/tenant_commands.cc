// tally tenants create|api-key, tally gateways set, tally bots add|meta, tally products set.

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "app/commands.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "ledger/event_json.h"
#include "ledger/event_store.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

absl::StatusOr<std::unique_ptr<ledger::EventStore>> OpenStore(const std::string& url) {
  ledger::EventStoreOptions options;
  options.database_url = url;
  return ledger::EventStore::Open(std::move(options));
}

}  // namespace

absl::StatusOr<tenants::SecretBox> MasterBox() {
  const char* master_key = std::getenv("TALLY_MASTER_KEY");
  if (master_key == nullptr) {
    return absl::FailedPreconditionError(
        "TALLY_MASTER_KEY is not set (64 hex digits; it seals secrets)");
  }
  return tenants::SecretBox::FromHex(master_key);
}

int RunTenantsCreate(const std::string& database_url, const std::string& name,
                     const std::string& time_zone) {
  auto box = MasterBox();
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  auto store = OpenStore(database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto tenant = tenants::CreateTenant(**store, *box, name, time_zone);
  if (!tenant.ok()) return Fail(2, std::string(tenant.status().message()));
  std::cout << "tenant " << tenant->tenant_id << "\n"
            << "webhook token " << tenant->webhook_token << "\n"
            << "api key " << tenant->api_key << "\n"
            << "webhook URLs: /webhooks/<gateway>/" << tenant->webhook_token << "\n"
            << "(the API key is stored only as a hash: keep it now)\n";
  return 0;
}

int RunTenantsApiKey(const std::string& database_url, const std::string& tenant_id,
                     const std::string& scope) {
  if (scope != tenants::kOwnerScope && scope != tenants::kAuditorScope) {
    return Fail(2, "--scope must be owner or auditor, got \"" + scope + "\"");
  }
  auto store = OpenStore(database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto key = tenants::IssueApiKey(**store, tenant_id, scope);
  if (!key.ok()) return Fail(2, std::string(key.status().message()));
  std::cout << "api key " << *key << "\nscope " << scope << " of tenant " << tenant_id
            << "\n(stored only as a hash: keep it now)\n";
  return 0;
}

int RunGatewaysSet(const GatewaysSetOptions& options) {
  auto box = MasterBox();
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  absl::Status status = tenants::ConfigureGateway(
      **store, *box, gateways::StandardGateways(), options.tenant,
      {options.gateway, options.secret, options.api_key, options.base_url});
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << "gateway " << options.gateway << " configured for " << options.tenant
            << (options.secret.empty() ? "" : " (secret sealed)") << "\n";
  return 0;
}

int RunBotsAdd(const BotsAddOptions& options) {
  auto box = MasterBox();
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  if (options.token.empty()) {
    return Fail(2, "no bot token: set TALLY_BOT_TOKEN (or pass --token)");
  }
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::RegisterBot(**store, *box, options.tenant, options.token, options.username);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  std::cout << "bot " << bot->bot_id << " registered for " << options.tenant << "\n";
  if (options.public_url.empty()) {
    std::cout << "webhook secret " << bot->webhook_secret << "\n"
              << "point the bot at Tally with setWebhook url=<public URL>/telegram/" << bot->bot_id
              << " secret_token=<the secret> (shown once)\n";
    return 0;
  }
  // Tell Telegram where to send the bot's updates, with the secret it must present.
  std::string base = options.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string hook = absl::StrCat(base, "/telegram/", bot->bot_id);
  http::ClientOptions client_options;
  client_options.ca_file = options.ca_file;
  http::HttpClient client(client_options);
  auto answer = client.Send(
      {"POST",
       absl::StrCat(options.telegram_api_base, "/bot", options.token, "/setWebhook"),
       {{"Content-Type", "application/json"}},
       absl::StrCat(R"({"url":)", ledger::JsonQuote(hook), R"(,"secret_token":)",
                    ledger::JsonQuote(bot->webhook_secret), R"(,"allowed_updates":["message"]})"),
       std::chrono::milliseconds(10000),
       "Telegram setWebhook"});  // the URL's path holds the bot token
  if (!answer.ok()) {
    return Fail(1,
                absl::StrCat("bot registered, but setWebhook failed: ", answer.status().message(),
                             " (webhook secret ", bot->webhook_secret, ")"));
  }
  auto fields = gateways::PayloadFields::ParseJson(answer->body);
  if (answer->status != 200 || !fields.ok() || fields->Text("ok") != "true") {
    return Fail(1, absl::StrCat("bot registered, but Telegram refused setWebhook (HTTP ",
                                answer->status, "): ", answer->body.substr(0, 200),
                                " (webhook secret ", bot->webhook_secret, ")"));
  }
  std::cout << "telegram webhook set to " << hook << "\n";
  return 0;
}

int RunProductsSet(const ProductsSetOptions& options) {
  auto box = MasterBox();
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::ResolveBot(**store, options.bot);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  tenants::ProductSettings settings;
  settings.bot_id = options.bot;
  settings.product_id = options.product;
  settings.name = options.name;
  settings.price_minor = options.price_minor;
  settings.currency = options.currency;
  settings.deliver_url = options.deliver_url;
  settings.deliver_text = options.deliver_text;
  absl::Status status = tenants::ConfigureProduct(**store, bot->tenant_id, settings);
  if (!status.ok()) return Fail(2, std::string(status.message()));
  const char* delivers = options.deliver_url.empty()    ? "a text"
                         : options.deliver_text.empty() ? "a URL"
                                                        : "a URL and a text";
  std::cout << "product " << options.product << " of bot " << options.bot
            << " configured: " << ledger::JsonQuote(options.name) << ", " << options.price_minor
            << " " << absl::AsciiStrToUpper(options.currency) << " in minor units, delivers "
            << delivers << "\n";
  return 0;
}

int RunBotsMeta(const BotsMetaOptions& options) {
  auto box = MasterBox();
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  if (options.access_token.empty()) {
    return Fail(2, "no Meta access token: set TALLY_META_ACCESS_TOKEN");
  }
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::ResolveBot(**store, options.bot);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  tenants::MetaSettings settings;
  settings.bot_id = options.bot;
  settings.pixel_id = options.pixel;
  settings.access_token = options.access_token;
  settings.trigger = options.trigger;
  settings.test_event_code = options.test_event_code;
  absl::Status status = tenants::ConfigureMeta(**store, *box, bot->tenant_id, settings);
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << "Meta pixel " << options.pixel << " configured for bot " << options.bot
            << ": Purchase sent when "
            << (options.trigger == "paid" ? "the payment is confirmed"
                                          : "the buyer opens the delivery link")
            << (options.test_event_code.empty()
                    ? ""
                    : absl::StrCat(", test event code ", options.test_event_code))
            << " (access token sealed)\n";
  return 0;
}

int RunOffersSet(const OffersSetOptions& options) {
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::ResolveBot(**store, options.bot);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  tenants::OfferSettings offer;
  offer.bot_id = options.bot;
  offer.offer_id = options.offer;
  offer.kind = options.kind;
  offer.delay_s = options.delay_s;
  offer.trigger_product_id = options.trigger_product;
  offer.product_id = options.product;
  offer.price_minor = options.price_minor;
  offer.discount_percent = options.discount_percent;
  offer.text = options.text;
  offer.active = !options.remove;
  absl::Status status = tenants::ConfigureOffer(**store, bot->tenant_id, offer);
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << options.kind << " " << options.offer << " of bot " << options.bot
            << (options.remove ? " removed"
                               : absl::StrCat(" configured: ", options.product, " ",
                                              options.delay_s, " s after its trigger"))
            << "\n";
  return 0;
}

int RunPlansSet(const PlansSetOptions& options) {
  tenants::PlanSettings plan;
  plan.bot_id = options.bot;
  plan.plan_id = options.plan;
  plan.name = options.name;
  plan.price_minor = options.price_minor;
  plan.vip_chat_id = options.vip_chat;
  plan.active = !options.remove;
  if (!options.remove) {
    absl::string_view period = options.period;
    const char unit = period.empty() ? ' ' : period.back();
    period.remove_suffix(period.empty() ? 0 : 1);
    plan.period_unit = unit == 'd'   ? tenants::kPeriodDay
                       : unit == 'w' ? tenants::kPeriodWeek
                       : unit == 'm' ? tenants::kPeriodMonth
                                     : "";
    if (plan.period_unit.empty() || !absl::SimpleAtoi(period, &plan.period_count)) {
      return Fail(2, "--period must be a count and a unit: 30d (days), 4w (weeks) or 1m (months)");
    }
  }
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::ResolveBot(**store, options.bot);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  absl::Status status = tenants::ConfigurePlan(**store, bot->tenant_id, plan);
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << "plan " << options.plan << " of bot " << options.bot
            << (options.remove
                    ? " removed"
                    : absl::StrCat(" configured: ", options.period, " for ", options.price_minor,
                                   " minor units",
                                   options.vip_chat != 0 ? ", with VIP chat access" : ""))
            << "\n";
  return 0;
}

int RunBotsWelcome(const BotsWelcomeOptions& options) {
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto bot = tenants::ResolveBot(**store, options.bot);
  if (!bot.ok()) return Fail(2, std::string(bot.status().message()));
  absl::Status status =
      tenants::ConfigureWelcome(**store, bot->tenant_id, options.bot, options.text);
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << (options.text.empty() ? absl::StrCat("welcomes turned off for bot ", options.bot)
                                     : absl::StrCat("welcome configured for bot ", options.bot,
                                                    ": each person who starts it gets it once"))
            << "\n";
  return 0;
}

}  // namespace tally::app
