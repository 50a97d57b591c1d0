#pragma once
// The reactors role of `tally serve`: per partition, the work-list folds (outbox,
// reconciliation queue, charge intents, timers), the decision reactors (delivery, Meta
// Purchase, welcome, upsells, subscriptions), the outbox senders (Telegram deliveries, welcomes,
// offers, subscription notices and VIP removals, Conversions API calls), the reconciliation poller,
// the charge reconciler and the timer worker, wired to the store, the outbound client and the
// clock. The deciding reactors of deliveries and Purchases offer each new request to the sender of
// its kind and partition (the outbox's fast lane, reactors/outbox.h), which takes it when it leads.
// Start starts them all; Stop stops senders first (each call in flight records its outcome), then
// the followers.
//
// Every reactor, outbox kind, timer kind and poller wired here is a job (reactors/
// job_control.h): Jobs() lists them from what was wired, and one JobControl, read before
// anything starts, pauses them and wakes them on a resume or a trigger.

#include <memory>
#include <string>
#include <vector>

#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/charge_recovery.h"
#include "reactors/delivery.h"
#include "reactors/job_control.h"
#include "reactors/meta_purchase.h"
#include "reactors/outbox.h"
#include "reactors/reactor.h"
#include "reactors/reconciliation.h"
#include "reactors/stale_payments.h"
#include "reactors/subscriptions.h"
#include "reactors/telegram.h"
#include "reactors/timers.h"
#include "reactors/upsells.h"
#include "reactors/welcome.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

struct ReactorHostOptions {
  std::string database_url;
  // Lifts the gateways' per-account poll limits (benchmarks only).
  bool unlimited_polls = false;
  int partitions = 1;
  std::string public_url;
  std::string delivery_secret;
  std::string offer_secret;  // see OfferSecretFromMasterKey
  std::string renew_secret;  // see RenewSecretFromMasterKey
  std::string telegram_api_base;
  std::string meta_api_base;     // "": Meta's production Graph API
  std::string meta_api_version;  // "": MetaOptions' default
  // From a charge intent to the charge reconciler's look-up: longer than any gateway call.
  int64_t charge_settle_after_us = 70 * 1000000;
  // Demos and tests: configured delays (offers, subscription periods) pass this many times
  // faster.
  double time_scale = 1;
};

class ReactorHost {
 public:
  ReactorHost(ledger::EventStore& store, const ledger::Clock& clock, tenants::SecretBox box,
              const gateways::GatewayRegistry& gateways, gateways::Transport transport,
              ReactorHostOptions options);
  ~ReactorHost();
  void Start();
  void Stop();
  size_t runner_count() const { return runners_.size(); }
  // The jobs wired here (reactors, then senders, timer kinds, pollers); needs no Start.
  std::vector<JobSpec> Jobs() const;

 private:
  std::unique_ptr<JobControl> jobs_;  // outlives everything that reads it
  std::unique_ptr<TelegramBots> telegram_;
  std::unique_ptr<DeliveryKind> delivery_kind_;
  std::unique_ptr<WelcomeKind> welcome_kind_;
  std::unique_ptr<WelcomeReactor> welcome_;
  std::unique_ptr<UpsellReactor> upsells_;
  std::unique_ptr<UpsellTimers> upsell_timers_;
  std::unique_ptr<UpsellMessageKind> upsell_message_kind_;
  std::unique_ptr<SubscriptionReactor> subscriptions_;
  std::unique_ptr<SubscriptionTimers> subscription_timers_;
  std::unique_ptr<SubscriptionNoticeKind> subscription_notice_kind_;
  std::unique_ptr<AccessRevokeKind> access_revoke_kind_;
  std::unique_ptr<StalePaymentTimers> stale_timers_;
  std::vector<std::unique_ptr<TimerWorker>> timer_workers_;
  std::unique_ptr<TimerFold> timers_;
  std::unique_ptr<DeliveryReactor> delivery_;
  std::unique_ptr<MetaKind> meta_kind_;
  std::unique_ptr<MetaPurchaseReactor> meta_;
  std::vector<std::unique_ptr<OutboxSender>> senders_;
  std::unique_ptr<OutboxFold> outbox_;
  std::vector<std::unique_ptr<ReconciliationPoller>> pollers_;
  std::unique_ptr<ReconciliationFold> reconciliation_;
  std::vector<std::unique_ptr<ChargeReconciler>> charge_reconcilers_;
  std::unique_ptr<ChargeIntentFold> charge_intents_;
  std::vector<std::unique_ptr<ReactorRunner>> runners_;
};

}  // namespace tally::reactors
