#include "reactors/subscriptions.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"
#include "reactors/payment_history.h"
#include "reactors/upsells.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tally/subscriptions/v1/subscription_events.pb.h"

namespace tally::reactors {
namespace {

namespace pb = subscriptions::v1;
constexpr int64_t kDayUs = 86400LL * 1'000'000;
constexpr char kPrefix[] = "tally.subscriptions.v1.";

template <typename M>
std::string TypeOf() {
  return M::descriptor()->full_name();
}

template <typename M>
ledger::EventData Event(const M& m, const ledger::v1::Metadata& metadata) {
  return {TypeOf<M>(), m.SerializeAsString(), metadata.SerializeAsString()};
}

ledger::v1::Metadata Metadata(const std::string& actor, int64_t cause, int64_t now) {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor(actor);
  metadata.set_causation_position(cause);
  metadata.set_received_at_us(now);
  return metadata;
}

// "dd/mm/yyyy hh:mm UTC".
std::string When(int64_t us) {
  return absl::FormatTime("%d/%m/%Y %H:%M UTC", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

// The subscription a `tally_subscription` metadata value names: (bot, plan, chat).
struct Named {
  std::string bot_id, plan_id;
  int64_t chat = 0;
};
std::optional<Named> ParseSubscriptionId(const std::string& id) {
  std::vector<std::string> parts = absl::StrSplit(id, '_');
  Named named;
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
      !absl::SimpleAtoi(parts[2], &named.chat) || named.chat <= 0) {
    return std::nullopt;
  }
  named.bot_id = parts[0];
  named.plan_id = parts[1];
  return named;
}

}  // namespace

std::string SubscriptionId(const std::string& bot_id, const std::string& plan_id, int64_t chat) {
  return absl::StrCat(bot_id, "_", plan_id, "_", chat);
}

std::string SubscriptionStream(const std::string& subscription_id) {
  return absl::StrCat("subscription-", subscription_id);
}

int64_t PeriodEndUs(int64_t from_us, const tenants::PlanSettings& plan, double time_scale) {
  const double scale = std::max(1.0, time_scale);
  int64_t length = 0;
  if (plan.period_unit == tenants::kPeriodMonth) {
    const absl::TimeZone utc = absl::UTCTimeZone();
    const absl::CivilSecond from = absl::ToCivilSecond(absl::FromUnixMicros(from_us), utc);
    const absl::CivilMonth month = absl::CivilMonth(from) + plan.period_count;
    // The same day of the month, or the month's last day (31 Jan + 1 month = 28/29 Feb).
    const int last_day =
        static_cast<int>(absl::CivilDay(absl::CivilMonth(month + 1)) - absl::CivilDay(month));
    const absl::CivilSecond end(month.year(), month.month(), std::min(from.day(), last_day),
                                from.hour(), from.minute(), from.second());
    length = absl::ToUnixMicros(absl::FromCivil(end, utc)) - (from_us - from_us % 1'000'000);
  } else {
    length = (plan.period_unit == tenants::kPeriodWeek ? 7 : 1) * plan.period_count * kDayUs;
  }
  return from_us + static_cast<int64_t>(static_cast<double>(length) / scale);
}

int64_t WarningDueUs(int64_t from_us, int64_t ends_at_us, double time_scale) {
  const int64_t lead = static_cast<int64_t>(3.0 * kDayUs / std::max(1.0, time_scale));
  if (ends_at_us - from_us <= 2 * lead) return from_us + (ends_at_us - from_us) / 2;
  return ends_at_us - lead;
}

absl::StatusOr<SubscriptionState> ReadSubscription(ledger::EventStore& store,
                                                   const std::string& tenant_id,
                                                   const std::string& subscription_id) {
  auto events = store.ReadStream(tenant_id, SubscriptionStream(subscription_id));
  if (!events.ok()) return events.status();
  SubscriptionState s;
  for (const auto& e : *events) {
    s.version = e.stream_version;
    const auto corrupt = [&e] {
      return absl::DataLossError(absl::StrCat(e.type, " at ", e.position));
    };
    if (e.type == TypeOf<pb::SubscriptionStarted>()) {
      pb::SubscriptionStarted m;
      if (!m.ParseFromString(e.payload)) return corrupt();
      s.exists = s.active = true;
      s.cancelled = false;
      s.tenant_id = m.tenant_id();
      s.bot_id = m.bot_id();
      s.plan_id = m.plan_id();
      s.customer_id = m.customer_id();
      s.gateway = m.gateway();
      s.chat_id = m.chat_id();
      s.vip_chat_id = m.vip_chat_id();
      s.ends_at_us = m.ends_at_us();
      s.payments = {{m.payment_id(), m.ends_at_us()}};
    } else if (e.type == TypeOf<pb::SubscriptionRenewed>()) {
      pb::SubscriptionRenewed m;
      if (!m.ParseFromString(e.payload)) return corrupt();
      s.ends_at_us = m.ends_at_us();
      if (!m.gateway().empty()) s.gateway = m.gateway();
      s.payments[m.payment_id()] = m.ends_at_us();
    } else if (e.type == TypeOf<pb::SubscriptionExpired>()) {
      pb::SubscriptionExpired m;
      if (!m.ParseFromString(e.payload)) return corrupt();
      if (m.ends_at_us() == s.ends_at_us) s.active = false;
    } else if (e.type == TypeOf<pb::SubscriptionRevoked>()) {
      s.active = false;
    } else if (e.type == TypeOf<pb::SubscriptionCancelled>()) {
      s.cancelled = true;
    }
  }
  return s;
}

std::string RenewSecretFromMasterKey(const std::string& master_key_hex) {
  return gateways::HmacSha256Hex(master_key_hex, "tally renewal tokens v1");
}

std::string RenewToken(const std::string& secret, const std::string& subscription_id,
                       int64_t ends_at_us) {
  return OfferToken(secret, subscription_id, absl::StrCat(ends_at_us));
}

SubscriptionReactor::SubscriptionReactor(ledger::EventStore& store, const ledger::Clock& clock,
                                         SubscriptionOptions options)
    : store_(store), clock_(clock), options_(std::move(options)), states_(store) {}

absl::Status SubscriptionReactor::React(pqxx::transaction_base& /*txn*/,
                                        const ledger::RecordedEvent& event) {
  if (absl::StartsWith(event.stream_id, "subscription-")) return OnSubscription(event);
  if (!projections::IsPaymentStream(event.stream_id)) return absl::OkStatus();
  if (event.type == "tally.payments.v1.GatewayWebhookReceived" &&
      absl::StartsWith(event.stream_id, "payment-stripe-")) {
    if (absl::Status s = OnStripe(event); !s.ok()) return s;
  }
  // Every event of the stream passes the gate's fold, in order.
  return OnPayment(event);
}

absl::Status SubscriptionReactor::OnPayment(const ledger::RecordedEvent& event) {
  // Most payments are not a plan's: their streams are folded as they pass, never read back.
  auto through = states_.Through(event);
  if (!through.ok()) return through.status();
  if (!through->created || through->plan_id.empty()) return absl::OkStatus();
  if (event.type != "tally.payments.v1.PaymentCreated" &&
      event.type != "tally.payments.v1.GatewayWebhookReceived" &&
      event.type != "tally.payments.v1.GatewayStatusPolled") {
    return absl::OkStatus();  // no other event makes a payment paid, confirmed or refunded
  }
  projections::PaymentState before;
  auto payment =
      ReadPaymentHistory(store_, event.partition, event.stream_id, event.position, &before);
  if (!payment.ok()) return payment.status();
  const payments::v1::PaymentCreated& created = payment->created;
  if (!payment->state.created || created.plan_id().empty()) return absl::OkStatus();
  // A subscriber is a person: a private chat, whose id is their user id (positive).
  const std::optional<int64_t> chat = TelegramChatOf(created.customer_id());
  if (!chat.has_value() || *chat < 0) return absl::OkStatus();
  const std::string id = SubscriptionId(created.bot_id(), created.plan_id(), *chat);

  const auto eligible = [](const projections::PaymentState& s) {
    return s.created && PaidAndConfirmed(s);
  };
  if (!eligible(before) && eligible(payment->state)) {
    // The plan as configured when the charge was created: what the buyer paid for.
    auto plans =
        tenants::PlansOf(store_, created.tenant_id(), created.bot_id(), payment->created_position);
    if (!plans.ok()) return plans.status();
    auto plan = plans->find(created.plan_id());
    if (plan == plans->end()) {
      spdlog::error("subscriptions: payment {} paid for plan {} of bot {}, which it did not have",
                    created.payment_id(), created.plan_id(), created.bot_id());
      return absl::OkStatus();
    }
    return Extend(event, created.tenant_id(), id, plan->second, created.customer_id(), *chat,
                  created.payment_id(), created.gateway(), "payment");
  }
  const projections::PaymentStatus status = payment->state.status;
  const bool reversed = status == projections::PaymentStatus::kRefunded ||
                        status == projections::PaymentStatus::kChargedBack;
  if (before.status == projections::PaymentStatus::kPaid && reversed) {
    auto sub = ReadSubscription(store_, created.tenant_id(), id);
    if (!sub.ok()) return sub.status();
    if (!sub->active || !sub->payments.count(created.payment_id())) return absl::OkStatus();
    // A refund of a period already served takes nothing away now.
    if (sub->payments.at(created.payment_id()) <= clock_.NowMicros()) return absl::OkStatus();
    const ledger::v1::Metadata metadata =
        Metadata("subscriptions", event.position, clock_.NowMicros());
    pb::SubscriptionRevoked revoked;
    revoked.set_subscription_id(id);
    revoked.set_payment_id(created.payment_id());
    revoked.set_reason(status == projections::PaymentStatus::kRefunded ? "refunded"
                                                                       : "charged back");
    revoked.set_ends_at_us(sub->ends_at_us);
    pb::SubscriptionTimersCancelled cancelled;
    cancelled.set_subscription_id(id);
    cancelled.set_ends_at_us(sub->ends_at_us);
    cancelled.set_reason("revoked");
    auto appended = store_.Append({created.tenant_id(),
                                   SubscriptionStream(id),
                                   ledger::ExpectedVersion::Exact(sub->version),
                                   {Event(revoked, metadata), Event(cancelled, metadata)},
                                   absl::StrCat("sub-revoke:", event.stream_id)});
    return appended.status();
  }
  return absl::OkStatus();
}

absl::Status SubscriptionReactor::OnStripe(const ledger::RecordedEvent& event) {
  payments::v1::GatewayWebhookReceived webhook;
  if (!webhook.ParseFromString(event.payload)) {
    return absl::DataLossError(absl::StrCat("GatewayWebhookReceived at ", event.position));
  }
  if (webhook.authenticity() != payments::v1::AUTHENTICITY_SIGNED) return absl::OkStatus();
  const std::string& type = webhook.observation().gateway_status();
  if (type != "invoice.paid" && type != "customer.subscription.deleted") return absl::OkStatus();
  auto fields = gateways::PayloadFields::ParseJson(webhook.raw_body());
  if (!fields.ok()) return absl::OkStatus();
  std::string named = fields->Text("data.object.subscription_details.metadata.tally_subscription");
  if (named.empty()) named = fields->Text("data.object.metadata.tally_subscription");
  if (named.empty()) return absl::OkStatus();  // not one of Tally's subscriptions
  const std::optional<Named> sub_of = ParseSubscriptionId(named);
  if (!sub_of.has_value()) {
    spdlog::warn("subscriptions: Stripe {} names no subscription ({})", type, named.substr(0, 80));
    return absl::OkStatus();
  }
  // The tenant signed this event with its own secret: it may only name its own bots.
  auto bot = tenants::ResolveBot(store_, sub_of->bot_id);
  if (bot.status().code() == absl::StatusCode::kNotFound ||
      (bot.ok() && bot->tenant_id != webhook.tenant_id())) {
    spdlog::warn("subscriptions: Stripe {} of tenant {} names bot {}, not one of its bots", type,
                 webhook.tenant_id(), sub_of->bot_id);
    return absl::OkStatus();
  }
  if (!bot.ok()) return bot.status();
  if (type == "customer.subscription.deleted") {
    auto sub = ReadSubscription(store_, webhook.tenant_id(), named);
    if (!sub.ok()) return sub.status();
    if (!sub->active || sub->cancelled) return absl::OkStatus();
    pb::SubscriptionCancelled cancelled;
    cancelled.set_subscription_id(named);
    cancelled.set_source("stripe customer.subscription.deleted");
    cancelled.set_ends_at_us(sub->ends_at_us);
    return store_
        .Append({webhook.tenant_id(),
                 SubscriptionStream(named),
                 ledger::ExpectedVersion::Exact(sub->version),
                 {Event(cancelled, Metadata("subscriptions", event.position, clock_.NowMicros()))},
                 absl::StrCat("sub-cancel:", event.stream_id)})
        .status();
  }
  if (webhook.observation().status() != payments::v1::OBSERVED_STATUS_PAID) {
    return absl::OkStatus();
  }
  if (webhook.observation().amount().amount_minor() <= 0) return absl::OkStatus();  // a trial
  auto plans = tenants::PlansOf(store_, webhook.tenant_id(), sub_of->bot_id);
  if (!plans.ok()) return plans.status();
  auto plan = plans->find(sub_of->plan_id);
  if (plan == plans->end()) {
    spdlog::error("subscriptions: Stripe invoice.paid for {}: bot {} has no plan {}", named,
                  sub_of->bot_id, sub_of->plan_id);
    return absl::OkStatus();
  }
  // The invoice's payment is its stream: one renewal per invoice, however often it is sent.
  return Extend(event, webhook.tenant_id(), named, plan->second, absl::StrCat("tg:", sub_of->chat),
                sub_of->chat, event.stream_id, "stripe", "stripe invoice.paid");
}

absl::Status SubscriptionReactor::Extend(const ledger::RecordedEvent& cause,
                                         const std::string& tenant_id, const std::string& id,
                                         const tenants::PlanSettings& plan,
                                         const std::string& customer_id, int64_t chat,
                                         const std::string& payment_id, const std::string& gateway,
                                         const std::string& source) {
  auto sub = ReadSubscription(store_, tenant_id, id);
  if (!sub.ok()) return sub.status();
  const std::string key = absl::StrCat("sub-pay:", cause.stream_id);
  if (sub->payments.count(payment_id)) return absl::OkStatus();  // already counted
  const int64_t now = clock_.NowMicros();
  const ledger::v1::Metadata metadata = Metadata("subscriptions", cause.position, now);
  std::vector<ledger::EventData> events;
  int64_t from = now;
  if (sub->active) {
    from = std::max(now, sub->ends_at_us);
    pb::SubscriptionRenewed renewed;
    renewed.set_subscription_id(id);
    renewed.set_payment_id(payment_id);
    renewed.set_payment_stream(cause.stream_id);
    renewed.set_previous_ends_at_us(sub->ends_at_us);
    renewed.set_ends_at_us(PeriodEndUs(from, plan, options_.time_scale));
    renewed.set_source(source);
    renewed.set_gateway(gateway);
    pb::SubscriptionTimersCancelled cancelled;
    cancelled.set_subscription_id(id);
    cancelled.set_ends_at_us(sub->ends_at_us);
    cancelled.set_reason("renewed");
    events = {Event(renewed, metadata), Event(cancelled, metadata)};
  } else {
    pb::SubscriptionStarted started;
    started.set_subscription_id(id);
    started.set_tenant_id(tenant_id);
    started.set_bot_id(plan.bot_id);
    started.set_plan_id(plan.plan_id);
    started.set_chat_id(chat);
    started.set_customer_id(customer_id);
    started.set_vip_chat_id(plan.vip_chat_id);
    started.set_payment_id(payment_id);
    started.set_payment_stream(cause.stream_id);
    started.set_starts_at_us(now);
    started.set_ends_at_us(PeriodEndUs(now, plan, options_.time_scale));
    started.set_gateway(gateway);
    events = {Event(started, metadata)};
  }
  const int64_t ends = PeriodEndUs(from, plan, options_.time_scale);
  pb::SubscriptionWarningScheduled warning;
  warning.set_subscription_id(id);
  warning.set_tenant_id(tenant_id);
  warning.set_ends_at_us(ends);
  warning.set_due_at_us(WarningDueUs(from, ends, options_.time_scale));
  pb::SubscriptionExpiryScheduled expiry;
  expiry.set_subscription_id(id);
  expiry.set_tenant_id(tenant_id);
  expiry.set_ends_at_us(ends);
  expiry.set_due_at_us(ends);
  events.push_back(Event(warning, metadata));
  events.push_back(Event(expiry, metadata));
  return store_
      .Append({tenant_id, SubscriptionStream(id), ledger::ExpectedVersion::Exact(sub->version),
               std::move(events), key})
      .status();
}

absl::Status SubscriptionReactor::OnSubscription(const ledger::RecordedEvent& event) {
  const bool started = event.type == TypeOf<pb::SubscriptionStarted>();
  const bool renewed = event.type == TypeOf<pb::SubscriptionRenewed>();
  const bool warned = event.type == TypeOf<pb::SubscriptionExpiryWarned>();
  const bool expired = event.type == TypeOf<pb::SubscriptionExpired>();
  const bool revoked = event.type == TypeOf<pb::SubscriptionRevoked>();
  if (!started && !renewed && !warned && !expired && !revoked) return absl::OkStatus();
  const std::string id(absl::StripPrefix(event.stream_id, "subscription-"));
  const auto corrupt = [&event] {
    return absl::DataLossError(absl::StrCat(event.type, " at ", event.position));
  };
  // Who and where never change for one id; the partition holds the tenant's streams.
  auto events = store_.ReadStreamInPartition(event.partition, event.stream_id);
  if (!events.ok()) return events.status();
  // The latest start at or before the event: who, and which VIP chat.
  pb::SubscriptionStarted first;
  int64_t ends = 0;
  for (const auto& e : *events) {
    if (e.position > event.position) break;
    if (e.type == TypeOf<pb::SubscriptionStarted>() && !first.ParseFromString(e.payload)) {
      return absl::DataLossError(absl::StrCat("SubscriptionStarted at ", e.position));
    }
  }
  if (first.subscription_id().empty()) {
    return absl::DataLossError(absl::StrCat(event.stream_id, " has no SubscriptionStarted"));
  }
  const std::string& tenant_id = first.tenant_id();
  auto plans = tenants::PlansOf(store_, tenant_id, first.bot_id());
  if (!plans.ok()) return plans.status();
  const bool plan_sold = plans->count(first.plan_id()) > 0;
  // " <name>" after "Assinatura"/"Sua assinatura"; nothing for a plan no longer sold.
  const std::string plan_name = plan_sold ? " " + plans->at(first.plan_id()).name : "";

  const int64_t now = clock_.NowMicros();
  const ledger::v1::Metadata metadata = Metadata("subscriptions", event.position, now);
  pb::SubscriptionNoticeRequested notice;
  notice.set_tenant_id(tenant_id);
  notice.set_subscription_id(id);
  notice.set_bot_id(first.bot_id());
  notice.set_chat_id(first.chat_id());
  std::string base = options_.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const auto renew_link = [&](int64_t period_end) {
    if (!plan_sold) return std::string();
    return absl::StrCat("\n\nRenove aqui: ", base, "/renew/",
                        RenewToken(options_.renew_secret, id, period_end));
  };
  std::optional<pb::AccessRevocationRequested> revoke;
  if (started || renewed) {
    if (started) {
      pb::SubscriptionStarted m;
      if (!m.ParseFromString(event.payload)) return corrupt();
      ends = m.ends_at_us();
    } else {
      pb::SubscriptionRenewed m;
      if (!m.ParseFromString(event.payload)) return corrupt();
      ends = m.ends_at_us();
    }
    notice.set_text(absl::StrCat("Assinatura", plan_name, started ? " ativa" : " renovada", " até ",
                                 When(ends), "."));
    if (started && first.vip_chat_id() != 0) {
      notice.set_vip_chat_id(first.vip_chat_id());
      notice.set_invite_until_us(ends);
      absl::StrAppend(notice.mutable_text(),
                      "\n\nSeu convite para o grupo VIP (uso único): {invite_link}");
    }
  } else if (warned) {
    pb::SubscriptionExpiryWarned m;
    if (!m.ParseFromString(event.payload)) return corrupt();
    notice.set_text(absl::StrCat("Sua assinatura", plan_name, " termina em ", When(m.ends_at_us()),
                                 ".", renew_link(m.ends_at_us())));
  } else {
    int64_t period_end = 0;
    std::string reason = "expired";
    if (expired) {
      pb::SubscriptionExpired m;
      if (!m.ParseFromString(event.payload)) return corrupt();
      period_end = m.ends_at_us();
      notice.set_text(
          absl::StrCat("Sua assinatura", plan_name, " terminou.", renew_link(period_end)));
    } else {
      pb::SubscriptionRevoked m;
      if (!m.ParseFromString(event.payload)) return corrupt();
      period_end = m.ends_at_us();
      reason = m.reason();
    }
    if (first.vip_chat_id() != 0) {
      revoke.emplace();
      revoke->set_tenant_id(tenant_id);
      revoke->set_subscription_id(id);
      revoke->set_bot_id(first.bot_id());
      revoke->set_vip_chat_id(first.vip_chat_id());
      revoke->set_user_id(first.chat_id());
      revoke->set_reason(reason);
      revoke->set_ends_at_us(period_end);
    }
  }
  if (revoke.has_value()) {
    auto appended = store_.Append({tenant_id,
                                   absl::StrCat("subrevoke-", id, "-", event.position),
                                   ledger::ExpectedVersion::Any(),
                                   {Event(*revoke, metadata)},
                                   absl::StrCat("sub-revoke-access:", event.position)});
    if (!appended.ok()) return appended.status();
  }
  if (notice.text().empty()) return absl::OkStatus();
  return store_
      .Append({tenant_id,
               absl::StrCat("subnotice-", id, "-", event.position),
               ledger::ExpectedVersion::Any(),
               {Event(notice, metadata)},
               absl::StrCat("sub-notice:", event.position)})
      .status();
}

SubscriptionTimers::SubscriptionTimers(ledger::EventStore& store, const ledger::Clock& clock)
    : store_(store), clock_(clock) {
  const auto read = [](const ledger::RecordedEvent& e) -> absl::StatusOr<TimerEvent> {
    TimerEvent out;
    const auto parse = [&e](auto& m) {
      return m.ParseFromString(e.payload)
                 ? absl::OkStatus()
                 : absl::DataLossError(absl::StrCat(e.type, " at ", e.position));
    };
    const auto named = [&out](const std::string& id, int64_t ends) {
      out.timer_id = absl::StrCat(id, ":", ends);
    };
    if (e.type == TypeOf<pb::SubscriptionWarningScheduled>()) {
      pb::SubscriptionWarningScheduled m;
      if (absl::Status s = parse(m); !s.ok()) return s;
      named(m.subscription_id(), m.ends_at_us());
      out.due_at_us = m.due_at_us();
      out.tenant_id = m.tenant_id();
    } else if (e.type == TypeOf<pb::SubscriptionExpiryScheduled>()) {
      pb::SubscriptionExpiryScheduled m;
      if (absl::Status s = parse(m); !s.ok()) return s;
      named(m.subscription_id(), m.ends_at_us());
      out.due_at_us = m.due_at_us();
      out.tenant_id = m.tenant_id();
    } else {
      out.type = TimerEvent::Type::kEnded;
      if (e.type == TypeOf<pb::SubscriptionTimersCancelled>()) {
        pb::SubscriptionTimersCancelled m;
        if (absl::Status s = parse(m); !s.ok()) return s;
        named(m.subscription_id(), m.ends_at_us());
        out.cancelled = true;
      } else if (e.type == TypeOf<pb::SubscriptionExpiryWarned>()) {
        pb::SubscriptionExpiryWarned m;
        if (absl::Status s = parse(m); !s.ok()) return s;
        named(m.subscription_id(), m.ends_at_us());
      } else if (e.type == TypeOf<pb::SubscriptionWarningSkipped>()) {
        pb::SubscriptionWarningSkipped m;
        if (absl::Status s = parse(m); !s.ok()) return s;
        named(m.subscription_id(), m.ends_at_us());
        out.cancelled = true;
      } else if (e.type == TypeOf<pb::SubscriptionExpired>()) {
        pb::SubscriptionExpired m;
        if (absl::Status s = parse(m); !s.ok()) return s;
        named(m.subscription_id(), m.ends_at_us());
      } else {
        pb::SubscriptionExpirySkipped m;
        if (absl::Status s = parse(m); !s.ok()) return s;
        named(m.subscription_id(), m.ends_at_us());
        out.cancelled = true;
      }
    }
    return out;
  };
  warning_.name = "subscription_warning";
  warning_.scheduled_type = TypeOf<pb::SubscriptionWarningScheduled>();
  warning_.ended_types = {TypeOf<pb::SubscriptionExpiryWarned>(),
                          TypeOf<pb::SubscriptionWarningSkipped>(),
                          TypeOf<pb::SubscriptionTimersCancelled>()};
  warning_.read = read;
  warning_.fire = [this](const TimerItem& item) { return Fire(item, /*expiry=*/false); };
  expiry_.name = "subscription_expiry";
  expiry_.scheduled_type = TypeOf<pb::SubscriptionExpiryScheduled>();
  expiry_.ended_types = {TypeOf<pb::SubscriptionExpired>(), TypeOf<pb::SubscriptionExpirySkipped>(),
                         TypeOf<pb::SubscriptionTimersCancelled>()};
  expiry_.read = read;
  expiry_.fire = [this](const TimerItem& item) { return Fire(item, /*expiry=*/true); };
  // Stateless firings; two of one subscription racing make one retry (expected version).
  warning_.concurrency = 8;
  expiry_.concurrency = 8;
}

absl::Status SubscriptionTimers::Fire(const TimerItem& item, bool expiry) {
  // Both Scheduled messages share their first three fields' meaning.
  pb::SubscriptionExpiryScheduled scheduled;
  if (!scheduled.ParseFromString(item.request)) {
    return absl::DataLossError(absl::StrCat("timer request at ", item.scheduled_position));
  }
  const std::string& id = scheduled.subscription_id();
  auto sub = ReadSubscription(store_, item.tenant_id, id);
  if (!sub.ok()) return sub.status();
  const std::string skip_reason = !sub->active                                ? "not running"
                                  : sub->ends_at_us != scheduled.ends_at_us() ? "renewed"
                                                                              : "";
  const ledger::v1::Metadata metadata =
      Metadata(expiry ? "subscription_expiry" : "subscription_warning", item.scheduled_position,
               clock_.NowMicros());
  ledger::EventData decision;
  if (expiry && skip_reason.empty()) {
    pb::SubscriptionExpired m;
    m.set_subscription_id(id);
    m.set_ends_at_us(scheduled.ends_at_us());
    decision = Event(m, metadata);
  } else if (expiry) {
    pb::SubscriptionExpirySkipped m;
    m.set_subscription_id(id);
    m.set_ends_at_us(scheduled.ends_at_us());
    m.set_reason(skip_reason);
    decision = Event(m, metadata);
  } else if (skip_reason.empty()) {
    pb::SubscriptionExpiryWarned m;
    m.set_subscription_id(id);
    m.set_ends_at_us(scheduled.ends_at_us());
    decision = Event(m, metadata);
  } else {
    pb::SubscriptionWarningSkipped m;
    m.set_subscription_id(id);
    m.set_ends_at_us(scheduled.ends_at_us());
    m.set_reason(skip_reason);
    decision = Event(m, metadata);
  }
  // At the version read: a renewal or revocation appended meanwhile makes this retry (the
  // worker backs off) and decide again on what it then reads.
  auto appended = store_.Append(
      {item.tenant_id,
       SubscriptionStream(id),
       ledger::ExpectedVersion::Exact(sub->version),
       {std::move(decision)},
       absl::StrCat(expiry ? "sub-expiry:" : "sub-warning:", id, ":", scheduled.ends_at_us())});
  return appended.status();
}

SubscriptionNoticeKind::SubscriptionNoticeKind(TelegramBots& telegram) {
  kind_.reactor = "subscription_notice";
  UseStandardOutboxEvents<pb::SubscriptionNoticeRequested, pb::SubscriptionNoticeAttempted,
                          pb::SubscriptionNoticeSent, pb::SubscriptionNoticeFailed>(kind_);
  kind_.pace = [&telegram](const OutboxItem& item) {
    pb::SubscriptionNoticeRequested request;
    if (request.ParseFromString(item.request)) telegram.Pace(request.bot_id(), request.chat_id());
  };
  kind_.send = [&telegram](const OutboxItem& item) {
    pb::SubscriptionNoticeRequested request;
    if (!request.ParseFromString(item.request)) {
      return SendResult{SendResult::Outcome::kTerminal, "",
                        "SubscriptionNoticeRequested does not parse"};
    }
    std::string text = request.text();
    pb::SubscriptionNoticeSent success;
    if (request.vip_chat_id() != 0) {
      // A single-use link, created at each attempt (an unused one is harmless) and never
      // recorded: it is a bearer credential.
      TelegramBots::Answer invite = telegram.Call(
          request.bot_id(), "createChatInviteLink",
          absl::StrCat(R"({"chat_id":)", request.vip_chat_id(), R"(,"member_limit":1)",
                       request.invite_until_us() > 0
                           ? absl::StrCat(R"(,"expire_date":)", request.invite_until_us() / 1000000)
                           : "",
                       R"(,"name":)", ledger::JsonQuote(request.subscription_id().substr(0, 32)),
                       "}"));
      if (invite.result.outcome != SendResult::Outcome::kSucceeded) return invite.result;
      auto fields = gateways::PayloadFields::ParseJson(invite.body);
      const std::string link = fields.ok() ? fields->Text("result.invite_link") : "";
      if (link.empty()) {
        return SendResult{SendResult::Outcome::kRetry, "", "createChatInviteLink gave no link"};
      }
      text = absl::StrReplaceAll(text, {{"{invite_link}", link}});
      success.set_invite_created(true);
    }
    TelegramBots::Sent sent = telegram.SendMessage(request.bot_id(), request.chat_id(), text);
    if (sent.result.outcome == SendResult::Outcome::kSucceeded) {
      success.set_telegram_message_id(sent.message_id);
      sent.result.success_payload = success.SerializeAsString();
    }
    return sent.result;
  };
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 8;
}

AccessRevokeKind::AccessRevokeKind(ledger::EventStore& store, TelegramBots& telegram) {
  kind_.reactor = "access_revoke";
  UseStandardOutboxEvents<pb::AccessRevocationRequested, pb::AccessRevocationAttempted,
                          pb::AccessRevoked, pb::AccessRevocationFailed>(kind_);
  kind_.pace = [&telegram](const OutboxItem& item) {
    pb::AccessRevocationRequested request;
    if (request.ParseFromString(item.request)) {
      telegram.Pace(request.bot_id(), request.vip_chat_id());
    }
  };
  kind_.send = [&store, &telegram](const OutboxItem& item) {
    pb::AccessRevocationRequested request;
    if (!request.ParseFromString(item.request)) {
      return SendResult{SendResult::Outcome::kTerminal, "",
                        "AccessRevocationRequested does not parse"};
    }
    pb::AccessRevoked success;
    // Renewed (or started again) since: the person paid for access; nothing is removed.
    auto sub = ReadSubscription(store, request.tenant_id(), request.subscription_id());
    if (!sub.ok())
      return SendResult{SendResult::Outcome::kRetry, "", std::string(sub.status().message())};
    if (sub->active && sub->ends_at_us > request.ends_at_us()) {
      success.set_removed(false);
      return SendResult{SendResult::Outcome::kSucceeded, success.SerializeAsString(), ""};
    }
    const std::string member =
        absl::StrCat(R"({"chat_id":)", request.vip_chat_id(), R"(,"user_id":)", request.user_id());
    TelegramBots::Answer ban = telegram.Call(request.bot_id(), "banChatMember",
                                             absl::StrCat(member, R"(,"revoke_messages":false})"));
    if (ban.result.outcome != SendResult::Outcome::kSucceeded) return ban.result;
    TelegramBots::Answer unban = telegram.Call(request.bot_id(), "unbanChatMember",
                                               absl::StrCat(member, R"(,"only_if_banned":true})"));
    if (unban.result.outcome != SendResult::Outcome::kSucceeded) return unban.result;
    success.set_removed(true);
    unban.result.success_payload = success.SerializeAsString();
    return unban.result;
  };
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 4;
}

}  // namespace tally::reactors
