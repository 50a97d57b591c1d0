#pragma once
// Sellers' Telegram bots, kept as events in `bot-<id>` streams (BotRegistered), where the id is
// Telegram's own bot id (the digits before ':' in the token). Like tenants, a bot is found
// through the log alone — by the idempotency key "bot:<id>" of its BotRegistered — so the
// /start webhook never depends on a projection's schema (seeds/004).
//
// The Bot API token is sealed with the master key; the webhook secret (Telegram's
// X-Telegram-Bot-Api-Secret-Token) is shown once and kept only as its SHA-256.
//
// A bot's configuration is kept in the same stream, in the bot's tenant's partition: the
// products it sells (ProductConfigured, the latest per product id wins) and its Meta pixel
// (MetaConfigured, the latest wins; its Conversions API token sealed with the master key).
// Configuring a bot names the tenant doing it; a bot of another tenant is NotFound, exactly as
// an unknown one, so its existence is not revealed. Thread-safe (stateless; the EventStore is).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/event_store.h"
#include "tenants/secret_box.h"

namespace tally::tenants {

struct NewBot {
  std::string bot_id;
  std::string webhook_secret;  // show once (or pass to setWebhook); stored only as SHA-256
};

// InvalidArgument for a token that is not "<digits>:<secret>"; NotFound for an unknown tenant;
// AlreadyExists when the bot is registered already.
absl::StatusOr<NewBot> RegisterBot(ledger::EventStore& store, const SecretBox& box,
                                   const std::string& tenant_id, const std::string& bot_token,
                                   const std::string& username);

struct ResolvedBot {
  std::string bot_id;
  std::string tenant_id;
  std::string webhook_secret_sha256;
};

// NotFound for a bot that was never registered; DataLoss when its BotRegistered does not parse.
absl::StatusOr<ResolvedBot> ResolveBot(ledger::EventStore& store, const std::string& bot_id);

// A product a bot sells and what the buyer receives once paid.
struct ProductSettings {
  std::string bot_id;
  std::string product_id;        // 1–64 of [A-Za-z0-9_-]
  std::string name;              // 1–200 characters of UTF-8, not blank
  int64_t price_minor = 0;       // > 0, and at least 50 (R$0.50) in BRL
  std::string currency = "BRL";  // ISO 4217 letters, any case; kept uppercase
  // At least one of the two: an http(s) URL of at most 2048 bytes, a text of at most 3000
  // characters of UTF-8.
  std::string deliver_url;
  std::string deliver_text;
};

// Appends ProductConfigured to the bot's stream. InvalidArgument naming the field that is
// wrong; NotFound when `bot_id` is not one of `tenant_id`'s bots.
absl::Status ConfigureProduct(ledger::EventStore& store, const std::string& tenant_id,
                              const ProductSettings& settings);

inline constexpr char kTriggerDeliveryAccess[] = "delivery_access";
inline constexpr char kTriggerPaid[] = "paid";

// A bot's Meta pixel for Conversions API Purchase events.
struct MetaSettings {
  std::string bot_id;
  std::string pixel_id;      // 1–32 digits
  std::string access_token;  // sealed when stored; never in a message
  // When the Purchase is sent: kTriggerDeliveryAccess (the buyer opened the delivery link;
  // also what "" means) or kTriggerPaid.
  std::string trigger = kTriggerDeliveryAccess;
  // Meta's Test Events code ("" in production): up to 64 of [A-Za-z0-9_-].
  std::string test_event_code;
};

// Appends MetaConfigured with the access token sealed by `box`. InvalidArgument naming the
// field that is wrong (the token's value never appears); NotFound when `bot_id` is not one of
// `tenant_id`'s bots.
absl::Status ConfigureMeta(ledger::EventStore& store, const SecretBox& box,
                           const std::string& tenant_id, const MetaSettings& settings);

// Appends WelcomeConfigured: the message a person gets when they first start the bot (seed
// 004); an empty text turns welcomes off. InvalidArgument for a text over 3000 characters of
// UTF-8 or with control characters other than newline and tab; NotFound when `bot_id` is not
// one of `tenant_id`'s bots.
absl::Status ConfigureWelcome(ledger::EventStore& store, const std::string& tenant_id,
                              const std::string& bot_id, const std::string& text);

inline constexpr char kUpsell[] = "upsell";
inline constexpr char kDownsell[] = "downsell";
inline constexpr int64_t kMinPriceMinor = 50;          // R$0.50: nothing is offered below it
inline constexpr int64_t kMaxOfferMinor = 10'000'000;  // R$100,000

// An upsell (after a confirmed paid payment, optionally only for a trigger product) or a
// downsell (after a created charge, sent only if it is still unpaid) of a bot (seed 000).
struct OfferSettings {
  std::string bot_id;
  std::string offer_id;            // 1–64 of [A-Za-z0-9_-]
  std::string kind;                // kUpsell | kDownsell
  int64_t delay_s = 0;             // 0 to 30 days
  std::string trigger_product_id;  // upsell only; "": any payment
  std::string product_id;          // one of the bot's products
  // price_minor >= 50; or, for a downsell, discount_percent 1–99 of the parent's amount
  // (never below 50). An upsell with neither costs the product's price.
  int64_t price_minor = 0;
  int discount_percent = 0;
  std::string text;  // at most 1000 characters; "" for a default
  bool active = true;
};

// Appends OfferConfigured. InvalidArgument naming the field that is wrong (a negative delay, a
// price below the floor, an unknown product, ...); NotFound when `bot_id` is not one of
// `tenant_id`'s bots. With `active` false the offer is removed, and only its id is checked.
absl::Status ConfigureOffer(ledger::EventStore& store, const std::string& tenant_id,
                            const OfferSettings& settings);

// What an offer costs after a parent payment of `parent_amount_minor`.
int64_t OfferPriceMinor(const OfferSettings& offer, int64_t product_price_minor,
                        int64_t parent_amount_minor);

inline constexpr char kPeriodDay[] = "day";
inline constexpr char kPeriodWeek[] = "week";
inline constexpr char kPeriodMonth[] = "month";

// A subscription plan of a bot (seed 003): a confirmed payment for it starts or renews the
// buyer's subscription (reactors/subscriptions.h).
struct PlanSettings {
  std::string bot_id;
  std::string plan_id;      // 1–40 of [A-Za-z0-9-] (no '_': it separates a subscription's id)
  std::string name;         // 1–100 characters
  int64_t price_minor = 0;  // 50 (R$0.50) to 10000000
  std::string currency = "BRL";
  std::string period_unit;  // kPeriodDay | kPeriodWeek | kPeriodMonth
  int period_count = 0;     // 1–366 days, 1–52 weeks, 1–12 months
  int64_t vip_chat_id = 0;  // the VIP group or channel (negative, as Telegram's are); 0: none
  bool active = true;
};

// Appends PlanConfigured. InvalidArgument naming the field that is wrong (a zero period, a
// price below the floor, ...); NotFound when `bot_id` is not one of `tenant_id`'s bots. With
// `active` false the plan is removed (running subscriptions keep their periods), and only its
// id is checked.
absl::Status ConfigurePlan(ledger::EventStore& store, const std::string& tenant_id,
                           const PlanSettings& settings);

// The bot's active plans as configured before log position `before_position` (0: now), read
// from its stream without opening any secret (empty for a bot with none, or no such bot).
// DataLoss naming the position of an event that does not parse.
absl::StatusOr<std::map<std::string, PlanSettings>> PlansOf(ledger::EventStore& store,
                                                            const std::string& tenant_id,
                                                            const std::string& bot_id,
                                                            int64_t before_position = 0);

// A bot's configuration, folded from its stream.
struct BotConfig {
  std::string bot_id;
  std::string tenant_id;
  std::map<std::string, ProductSettings> products;  // by product id
  // With the access token opened; nullopt when no pixel is configured (or the latest
  // MetaConfigured has an empty pixel id, which turns Purchase events off).
  std::optional<MetaSettings> meta;
  std::string welcome_text;                     // "": no welcome
  std::map<std::string, OfferSettings> offers;  // active offers, by offer id
  std::map<std::string, PlanSettings> plans;    // active plans, by plan id
};

// NotFound for an unknown bot; DataLoss naming the event's position when an event of the
// bot's stream does not parse, and when the access token does not open under `box`. Events of
// types it does not know are skipped (configuration added later).
absl::StatusOr<BotConfig> ResolveBotConfig(ledger::EventStore& store, const SecretBox& box,
                                           const std::string& bot_id);

}  // namespace tally::tenants
