#include "reactors/upsells.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateways/webhook_crypto.h"
#include "projections/payment_fold.h"
#include "reactors/customer_purchases.h"
#include "reactors/payment_history.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

constexpr char kScheduledType[] = "tally.payments.v1.UpsellScheduled";
constexpr char kSentType[] = "tally.payments.v1.UpsellSent";
constexpr char kCancelledType[] = "tally.payments.v1.UpsellCancelled";
constexpr int64_t kOfferLinkValidUs = 7LL * 24 * 3600 * 1'000'000;

}  // namespace

absl::StatusOr<BotOffers> OffersAsOf(ledger::EventStore& store, const std::string& tenant_id,
                                     const std::string& bot_id, int64_t before_position) {
  auto events = store.ReadStream(tenant_id, "bot-" + bot_id);
  if (!events.ok()) return events.status();
  BotOffers out;
  for (const auto& e : *events) {
    if (before_position > 0 && e.position >= before_position) break;
    if (e.type == "tally.bots.v1.ProductConfigured") {
      bots::v1::ProductConfigured p;
      if (!p.ParseFromString(e.payload)) {
        return absl::DataLossError(absl::StrCat("ProductConfigured at ", e.position));
      }
      tenants::ProductSettings& product = out.products[p.product_id()];
      product.bot_id = p.bot_id();
      product.product_id = p.product_id();
      product.name = p.name();
      product.price_minor = p.price_minor();
      product.currency = p.currency();
    } else if (e.type == "tally.bots.v1.OfferConfigured") {
      bots::v1::OfferConfigured o;
      if (!o.ParseFromString(e.payload)) {
        return absl::DataLossError(absl::StrCat("OfferConfigured at ", e.position));
      }
      if (!o.active()) {
        out.offers.erase(o.offer_id());
        continue;
      }
      tenants::OfferSettings& offer = out.offers[o.offer_id()];
      offer.bot_id = o.bot_id();
      offer.offer_id = o.offer_id();
      offer.kind = o.kind();
      offer.delay_s = o.delay_s();
      offer.trigger_product_id = o.trigger_product_id();
      offer.product_id = o.product_id();
      offer.price_minor = o.price_minor();
      offer.discount_percent = o.discount_percent();
      offer.text = o.text();
    }
  }
  return out;
}

namespace {

ledger::v1::Metadata ReactorMetadata(const std::string& actor, int64_t cause, int64_t now) {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor(actor);
  metadata.set_causation_position(cause);
  metadata.set_received_at_us(now);
  return metadata;
}

std::string Reais(int64_t minor) { return absl::StrFormat("R$ %d,%02d", minor / 100, minor % 100); }

}  // namespace

std::string OfferToken(const std::string& secret, const std::string& payment_id,
                       const std::string& offer_id) {
  return absl::StrCat(
      payment_id, ".", offer_id, ".",
      gateways::HmacSha256Hex(secret, absl::StrCat(payment_id, ":", offer_id)).substr(0, 32));
}

std::optional<std::pair<std::string, std::string>> VerifyOfferToken(const std::string& secret,
                                                                    const std::string& token) {
  if (token.size() > 300) return std::nullopt;
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].size() != 32) {
    return std::nullopt;
  }
  if (!gateways::ConstantTimeEquals(OfferToken(secret, parts[0], parts[1]), token)) {
    return std::nullopt;
  }
  return std::make_pair(parts[0], parts[1]);
}

std::string OfferSecretFromMasterKey(const std::string& master_key_hex) {
  return gateways::HmacSha256Hex(master_key_hex, "tally offer tokens v1");
}

UpsellReactor::UpsellReactor(ledger::EventStore& store, const ledger::Clock& clock,
                             double time_scale)
    : store_(store), clock_(clock), time_scale_(std::max(1.0, time_scale)) {}

absl::Status UpsellReactor::React(pqxx::transaction_base& /*txn*/,
                                  const ledger::RecordedEvent& event) {
  if (!projections::IsPaymentStream(event.stream_id)) return absl::OkStatus();
  const bool created = event.type == "tally.payments.v1.PaymentCreated";
  if (!created && event.type != "tally.payments.v1.GatewayWebhookReceived" &&
      event.type != "tally.payments.v1.GatewayStatusPolled") {
    return absl::OkStatus();
  }
  // The payment as this event left it, and as it was just before: an upsell follows the event
  // that made it paid and confirmed, a downsell its creation — never a later event of it.
  projections::PaymentState before;
  auto parent =
      ReadPaymentHistory(store_, event.partition, event.stream_id, event.position, &before);
  if (!parent.ok()) return parent.status();
  const pb::PaymentCreated& payment = parent->created;
  // Nothing is offered after an offer's own payment (no chains) nor a subscription plan's.
  if (!parent->state.created || !payment.parent_payment_id().empty() || payment.bot_id().empty() ||
      !payment.plan_id().empty()) {
    return absl::OkStatus();
  }
  // Created, paid and confirmed after this event and not before it (a webhook may beat the
  // PaymentCreated: then it is the creation that completes the three).
  const bool became_paid =
      !(before.created && PaidAndConfirmed(before)) && PaidAndConfirmed(parent->state);
  if (!created && !became_paid) return absl::OkStatus();
  const std::optional<int64_t> chat = TelegramChatOf(payment.customer_id());
  if (!chat.has_value()) return absl::OkStatus();
  // The offers configured before the trigger (the bot's stream shares the payment's
  // partition): configuring an offer never reaches back to earlier sales.
  auto bot = OffersAsOf(store_, payment.tenant_id(), payment.bot_id(), event.position);
  if (!bot.ok()) {
    if (bot.status().code() == absl::StatusCode::kDataLoss) {
      spdlog::error("upsells: bot {} configuration unreadable, payment {} offered nothing: {}",
                    payment.bot_id(), payment.payment_id(), std::string(bot.status().message()));
      return absl::OkStatus();
    }
    return bot.status();
  }
  for (const auto& [offer_id, offer] : bot->offers) {
    int64_t due = 0;
    if (offer.kind == tenants::kDownsell && created) {
      due = parent->created_at_us + static_cast<int64_t>(offer.delay_s * 1e6 / time_scale_);
    } else if (offer.kind == tenants::kUpsell && became_paid &&
               (offer.trigger_product_id.empty() ||
                offer.trigger_product_id == payment.product_id())) {
      due = parent->state.paid_at_us + static_cast<int64_t>(offer.delay_s * 1e6 / time_scale_);
    } else {
      continue;
    }
    pb::UpsellScheduled scheduled;
    scheduled.set_offer_id(offer_id);
    scheduled.set_due_at_us(due);
    scheduled.set_payment_id(payment.payment_id());
    scheduled.set_kind(offer.kind);
    scheduled.set_tenant_id(payment.tenant_id());
    scheduled.set_bot_id(payment.bot_id());
    scheduled.set_chat_id(*chat);
    auto appended = store_.Append(
        {payment.tenant_id(),
         event.stream_id,
         ledger::ExpectedVersion::Any(),
         {{kScheduledType, scheduled.SerializeAsString(),
           ReactorMetadata("upsells", event.position, clock_.NowMicros()).SerializeAsString()}},
         absl::StrCat("upsell:", payment.payment_id(), ":", offer_id)});
    if (!appended.ok()) return appended.status();
  }
  return absl::OkStatus();
}

UpsellTimers::UpsellTimers(ledger::EventStore& store, const ledger::Clock& clock,
                           OfferOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      readers_(std::make_unique<ledger::ConnectionPool>(options_.database_url,
                                                        ledger::Session::kService, 2)) {
  kind_.name = "upsell";
  kind_.scheduled_type = kScheduledType;
  kind_.ended_types = {kSentType, kCancelledType};
  kind_.read = [](const ledger::RecordedEvent& e) -> absl::StatusOr<TimerEvent> {
    TimerEvent out;
    if (e.type == kScheduledType) {
      pb::UpsellScheduled m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellScheduled");
      out.type = TimerEvent::Type::kScheduled;
      out.timer_id = absl::StrCat(m.payment_id(), ":", m.offer_id());
      out.due_at_us = m.due_at_us();
      out.tenant_id = m.tenant_id();
    } else if (e.type == kSentType) {
      pb::UpsellSent m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellSent");
      out.type = TimerEvent::Type::kEnded;
      out.timer_id = absl::StrCat(m.payment_id(), ":", m.offer_id());
    } else {
      pb::UpsellCancelled m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("UpsellCancelled");
      out.type = TimerEvent::Type::kEnded;
      out.cancelled = true;
      out.timer_id = absl::StrCat(m.payment_id(), ":", m.offer_id());
    }
    return out;
  };
  kind_.fire = [this](const TimerItem& item) { return Fire(item); };
  // A backlog after downtime: each firing is two reads and one append; at once they share
  // commits (the worker still paces them, oldest first).
  kind_.concurrency = 8;
}

absl::Status UpsellTimers::Fire(const TimerItem& item) {
  pb::UpsellScheduled scheduled;
  if (!scheduled.ParseFromString(item.request)) {
    return absl::DataLossError(absl::StrCat("UpsellScheduled at ", item.scheduled_position));
  }
  auto parent = ReadPaymentHistory(store_, item.partition, item.stream_id);
  if (!parent.ok()) return parent.status();
  // The offer as configured now: removed since, it is not sent. An unreadable configuration
  // is retried (the worker backs off and logs), never a reason to cancel.
  auto bot = OffersAsOf(store_, scheduled.tenant_id(), scheduled.bot_id(), 0);
  if (!bot.ok()) return bot.status();

  std::string cancel_reason;
  const tenants::OfferSettings* offer = nullptr;
  const tenants::ProductSettings* product = nullptr;
  if (auto o = bot->offers.find(scheduled.offer_id()); o == bot->offers.end()) {
    cancel_reason = "offer removed";
  } else if (auto p = bot->products.find(o->second.product_id); p == bot->products.end()) {
    cancel_reason = "the offer's product is no longer sold";
  } else if (p->second.currency != parent->state.currency) {
    cancel_reason = "the offer's currency differs from the parent's";
  } else {
    offer = &o->second;
    product = &p->second;
  }
  const projections::PaymentStatus status = parent->state.status;
  if (cancel_reason.empty() && scheduled.kind() == tenants::kUpsell &&
      status != projections::PaymentStatus::kPaid) {
    cancel_reason = status == projections::PaymentStatus::kRefunded ||
                            status == projections::PaymentStatus::kChargedBack
                        ? "parent refunded"
                        : "parent not paid";
  }
  // A downsell is for a charge never paid (refunded counts as paid).
  if (cancel_reason.empty() && scheduled.kind() == tenants::kDownsell &&
      parent->state.paid_at_us != 0) {
    cancel_reason = "parent paid";
  }
  if (cancel_reason.empty() && !parent->created.customer_id().empty()) {
    auto owning = PaymentOwningProduct(*readers_, store_,
                                       {item.partition, scheduled.tenant_id(), scheduled.bot_id(),
                                        parent->created.customer_id(), product->product_id});
    if (!owning.ok()) return owning.status();
    if (!owning->empty()) cancel_reason = "buyer already has the product";
  }

  const std::string stream =
      absl::StrCat("offer-", scheduled.payment_id(), "-", scheduled.offer_id());
  const std::string key =
      absl::StrCat("offer-decision:", scheduled.payment_id(), ":", scheduled.offer_id());
  const ledger::v1::Metadata metadata =
      ReactorMetadata("upsell_timer", item.scheduled_position, clock_.NowMicros());
  if (!cancel_reason.empty()) {
    pb::UpsellCancelled cancelled;
    cancelled.set_offer_id(scheduled.offer_id());
    cancelled.set_payment_id(scheduled.payment_id());
    cancelled.set_reason(cancel_reason);
    return store_
        .Append({scheduled.tenant_id(),
                 stream,
                 ledger::ExpectedVersion::Any(),
                 {{kCancelledType, cancelled.SerializeAsString(), metadata.SerializeAsString()}},
                 key})
        .status();
  }
  const int64_t price =
      tenants::OfferPriceMinor(*offer, product->price_minor, parent->state.amount_minor);
  std::string base = options_.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string link =
      absl::StrCat(base, "/offers/",
                   OfferToken(options_.offer_secret, scheduled.payment_id(), scheduled.offer_id()));
  pb::UpsellSent sent;
  sent.set_offer_id(scheduled.offer_id());
  sent.set_payment_id(scheduled.payment_id());
  sent.set_tenant_id(scheduled.tenant_id());
  sent.set_bot_id(scheduled.bot_id());
  sent.set_chat_id(scheduled.chat_id());
  sent.set_product_id(product->product_id);
  sent.mutable_price()->set_amount_minor(price);
  sent.mutable_price()->set_currency(product->currency);
  sent.set_kind(scheduled.kind());
  sent.set_gateway(parent->created.gateway());
  sent.set_parent_stream_id(item.stream_id);
  sent.set_expires_at_us(clock_.NowMicros() + kOfferLinkValidUs);
  sent.set_text(absl::StrCat(offer->text.empty()
                                 ? absl::StrCat("Oferta especial para você: ", product->name)
                                 : offer->text,
                             "\n", Reais(price), "\n\n", link));
  return store_
      .Append({scheduled.tenant_id(),
               stream,
               ledger::ExpectedVersion::Any(),
               {{kSentType, sent.SerializeAsString(), metadata.SerializeAsString()}},
               key})
      .status();
}

UpsellMessageKind::UpsellMessageKind(TelegramBots& telegram) {
  kind_.reactor = "upsell_message";
  UseStandardOutboxEvents<pb::UpsellSent, pb::UpsellMessageAttempted, pb::UpsellMessageSent,
                          pb::UpsellMessageFailed>(kind_);
  SendThroughTelegram<pb::UpsellSent, pb::UpsellMessageSent>(
      kind_, telegram, [](const pb::UpsellSent& sent) {
        return TelegramMessage{sent.bot_id(), sent.chat_id(), sent.text()};
      });
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 8;
}

}  // namespace tally::reactors
