#pragma once
// Subscriptions with VIP access (seed 003: the field system ran expiry warnings, expiries and
// renewals as cron entries inside one process). Here a subscription is a stream of events and
// its period's ends are durable timers (reactors/timers.h).
//
// A plan (`tally plans set`: price, period, optional VIP chat) is bought with a charge that
// carries `plan_id`. Subscription "<bot>_<plan>_<chat>" lives in `subscription-<id>`:
//
//  - SubscriptionReactor (reactor "subscriptions") follows the log.
//    * The event after which a plan's payment is created, paid and confirmed (whichever of its
//      PaymentCreated and its confirming webhook or poll came last) appends, under key
//      `sub-pay:<payment stream>` and the stream version it read (a racing timer makes one of
//      the two retry): SubscriptionStarted (none running: from now) or SubscriptionRenewed (one
//      running: from the later of now and its end, plus one period; the running period's timers
//      are cancelled, SubscriptionTimersCancelled), then the new period's timers:
//      SubscriptionWarningScheduled (3 days before the end; for periods of 6 days or less, half
//      way) and SubscriptionExpiryScheduled (at the end). "Now" is the reactor's clock: a buyer
//      never loses days to Tally's own lag. The period is the plan as configured when the charge
//      was created.
//    * A refund or chargeback of a payment that paid for the running subscription appends
//      SubscriptionRevoked and cancels the period's timers (key `sub-revoke:<payment stream>`).
//    * Stripe: a signed `invoice.paid` whose invoice carries metadata `tally_subscription`
//      (subscription_details.metadata, as Stripe copies a subscription's metadata onto its
//      invoices) renews it like a payment (or starts it); `customer.subscription.deleted` with
//      that metadata appends SubscriptionCancelled: no renewal is expected, access lasts until
//      the period's end, when it expires as usual.
//    * Started/Renewed, ExpiryWarned and Expired each ask for one message to the subscriber
//      (SubscriptionNoticeRequested in `subnotice-<id>-<position of the event>`): access (with a
//      single-use VIP invite link when the plan has a VIP chat), the warning with a renewal link
//      <public URL>/renew/<token>, the end with the same link. Expired and Revoked ask, when
//      the plan has a VIP chat, for the subscriber's removal (AccessRevocationRequested in
//      `subrevoke-<id>-<position>`). Keys derive from the event's position: exactly once.
//  - SubscriptionTimers: timer kinds "subscription_warning" and "subscription_expiry". Firing
//    reads the subscription again: still running and still ending then → SubscriptionExpiryWarned
//    / SubscriptionExpired; otherwise …Skipped{reason}. One key per period and kind
//    (`sub-warning:<id>:<end>`, `sub-expiry:<id>:<end>`), appended at the version read: a
//    renewal racing the expiry makes the expiry retry, and it then skips.
//  - SubscriptionNoticeKind (outbox "subscription_notice") sends the messages;
//    createChatInviteLink (member_limit 1, expiring with the period) is called at send time and
//    the link is never recorded (a bearer credential). AccessRevokeKind (outbox "access_revoke")
//    calls banChatMember then unbanChatMember (so the person may come back after paying again),
//    recorded as AccessRevoked; a subscription running again by then (renewed meanwhile) is not
//    removed (AccessRevoked{removed: false}).
//
// Thread-safe as Reactor, TimerKind and OutboxKind require.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/outbox.h"
#include "reactors/payment_states.h"
#include "reactors/reactor.h"
#include "reactors/telegram.h"
#include "reactors/timers.h"
#include "tenants/bot_directory.h"

namespace tally::reactors {

std::string SubscriptionId(const std::string& bot_id, const std::string& plan_id, int64_t chat);
std::string SubscriptionStream(const std::string& subscription_id);

// The end of one period of `plan` started at `from_us` (calendar months in UTC), the period
// divided by `time_scale` (demos and tests).
int64_t PeriodEndUs(int64_t from_us, const tenants::PlanSettings& plan, double time_scale = 1);

// When the warning of a period [from, end) is due: 3 days (divided by `time_scale`) before its
// end, or half way for a period of 6 such days or less.
int64_t WarningDueUs(int64_t from_us, int64_t ends_at_us, double time_scale = 1);

// A subscription folded from its stream.
struct SubscriptionState {
  bool exists = false;
  bool active = false;     // started or renewed, and since then not expired nor revoked
  bool cancelled = false;  // the subscriber cancelled (no renewal expected)
  std::string tenant_id, bot_id, plan_id, customer_id, gateway;
  int64_t chat_id = 0;
  int64_t vip_chat_id = 0;
  int64_t ends_at_us = 0;
  int64_t version = 0;  // the stream's version
  // Payment id -> the end of the period it paid, for every payment since the latest start.
  std::map<std::string, int64_t> payments;
};
absl::StatusOr<SubscriptionState> ReadSubscription(ledger::EventStore& store,
                                                   const std::string& tenant_id,
                                                   const std::string& subscription_id);

// Renewal links: "<subscription id>.<period end>.<32 hex digits of HMAC-SHA256>".
std::string RenewSecretFromMasterKey(const std::string& master_key_hex);
std::string RenewToken(const std::string& secret, const std::string& subscription_id,
                       int64_t ends_at_us);

struct SubscriptionOptions {
  std::string public_url;    // where subscribers open renewal links
  std::string renew_secret;  // RenewSecretFromMasterKey
  double time_scale = 1;     // demos and tests: periods pass this many times faster
};

class SubscriptionReactor final : public Reactor {
 public:
  SubscriptionReactor(ledger::EventStore& store, const ledger::Clock& clock,
                      SubscriptionOptions options);
  std::string name() const override { return "subscriptions"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;

 private:
  absl::Status OnPayment(const ledger::RecordedEvent& event);
  absl::Status OnStripe(const ledger::RecordedEvent& event);
  absl::Status OnSubscription(const ledger::RecordedEvent& event);
  // Starts or renews `id` for one period of `plan` paid by `payment_id`.
  absl::Status Extend(const ledger::RecordedEvent& cause, const std::string& tenant_id,
                      const std::string& id, const tenants::PlanSettings& plan,
                      const std::string& customer_id, int64_t chat, const std::string& payment_id,
                      const std::string& gateway, const std::string& source);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const SubscriptionOptions options_;
  PaymentStates states_;  // the gate: only a plan's payment is read back
};

class SubscriptionTimers {
 public:
  SubscriptionTimers(ledger::EventStore& store, const ledger::Clock& clock);
  const TimerKind& warning() const { return warning_; }
  const TimerKind& expiry() const { return expiry_; }

 private:
  absl::Status Fire(const TimerItem& item, bool expiry);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  TimerKind warning_;
  TimerKind expiry_;
};

class SubscriptionNoticeKind {
 public:
  explicit SubscriptionNoticeKind(TelegramBots& telegram);
  const OutboxKind& kind() const { return kind_; }

 private:
  OutboxKind kind_;
};

class AccessRevokeKind {
 public:
  AccessRevokeKind(ledger::EventStore& store, TelegramBots& telegram);
  const OutboxKind& kind() const { return kind_; }

 private:
  OutboxKind kind_;
};

}  // namespace tally::reactors
