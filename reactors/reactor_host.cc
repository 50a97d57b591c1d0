#include "reactors/reactor_host.h"

#include <set>

namespace tally::reactors {

ReactorHost::ReactorHost(ledger::EventStore& store, const ledger::Clock& clock,
                         tenants::SecretBox box, const gateways::GatewayRegistry& gateways,
                         gateways::Transport transport, ReactorHostOptions options)
    : jobs_(std::make_unique<JobControl>(store, JobControlOptions{options.database_url})) {
  TelegramOptions telegram;
  if (!options.telegram_api_base.empty()) telegram.api_base = options.telegram_api_base;
  telegram_ = std::make_unique<TelegramBots>(store, box, transport, telegram);
  delivery_kind_ = std::make_unique<DeliveryKind>(
      *telegram_, DeliveryOptions{options.public_url, options.delivery_secret});
  welcome_kind_ = std::make_unique<WelcomeKind>(*telegram_);
  welcome_ = std::make_unique<WelcomeReactor>(store, clock);
  upsells_ = std::make_unique<UpsellReactor>(store, clock, options.time_scale);
  upsell_timers_ = std::make_unique<UpsellTimers>(
      store, clock, OfferOptions{options.public_url, options.offer_secret, options.database_url});
  upsell_message_kind_ = std::make_unique<UpsellMessageKind>(*telegram_);
  subscriptions_ = std::make_unique<SubscriptionReactor>(
      store, clock,
      SubscriptionOptions{options.public_url, options.renew_secret, options.time_scale});
  subscription_timers_ = std::make_unique<SubscriptionTimers>(store, clock);
  subscription_notice_kind_ = std::make_unique<SubscriptionNoticeKind>(*telegram_);
  access_revoke_kind_ = std::make_unique<AccessRevokeKind>(store, *telegram_);
  delivery_ = std::make_unique<DeliveryReactor>(
      store, clock, DeliveryOptions{options.public_url, options.delivery_secret});

  MetaOptions meta;
  if (!options.meta_api_base.empty()) meta.api_base = options.meta_api_base;
  if (!options.meta_api_version.empty()) meta.api_version = options.meta_api_version;
  meta.fallback_source_url = options.public_url;
  meta_kind_ = std::make_unique<MetaKind>(store, box, transport, clock, meta);
  meta_ = std::make_unique<MetaPurchaseReactor>(store, box, clock, meta);

  const std::vector<const OutboxKind*> kinds = {&delivery_kind_->kind(),
                                                &meta_kind_->kind(),
                                                &welcome_kind_->kind(),
                                                &upsell_message_kind_->kind(),
                                                &subscription_notice_kind_->kind(),
                                                &access_revoke_kind_->kind()};
  for (int p = 0; p < options.partitions; ++p) {
    OutboxSenderOptions sender;
    sender.database_url = options.database_url;
    sender.partition = p;
    sender.jobs = jobs_.get();
    for (const OutboxKind* kind : kinds) {
      senders_.push_back(std::make_unique<OutboxSender>(*kind, store, clock, sender));
    }
  }
  // The fast lane: a new, durable request goes straight to its sender (which takes it only
  // while leading); senders_ holds, per partition, one sender per kind in `kinds`' order.
  const int kind_count = static_cast<int>(kinds.size());
  auto offer_to = [this, kind_count](int k) {
    return [this, kind_count, k](OutboxItem item) {
      const size_t i = static_cast<size_t>(item.partition) * kind_count + k;
      if (item.partition >= 0 && i < senders_.size()) senders_[i]->Offer(std::move(item));
    };
  };
  delivery_->SetOffer(offer_to(0));
  meta_->SetOffer(offer_to(1));
  outbox_ = std::make_unique<OutboxFold>(kinds, [this] {
    for (auto& sender : senders_) sender->Wake();
  });

  for (int p = 0; p < options.partitions; ++p) {
    ReconciliationPollerOptions poller;
    poller.database_url = options.database_url;
    poller.partition = p;
    poller.jobs = jobs_.get();
    poller.unlimited = options.unlimited_polls;
    pollers_.push_back(
        std::make_unique<ReconciliationPoller>(gateways, store, box, transport, clock, poller));
  }
  reconciliation_ = std::make_unique<ReconciliationFold>(gateways, [this] {
    for (auto& poller : pollers_) poller->Wake();
  });

  for (int p = 0; p < options.partitions; ++p) {
    ChargeReconcilerOptions reconciler;
    reconciler.database_url = options.database_url;
    reconciler.partition = p;
    reconciler.jobs = jobs_.get();
    reconciler.settle_after_us = options.charge_settle_after_us;
    charge_reconcilers_.push_back(
        std::make_unique<ChargeReconciler>(gateways, store, box, transport, clock, reconciler));
  }
  charge_intents_ = std::make_unique<ChargeIntentFold>(options.charge_settle_after_us, [this] {
    for (auto& reconciler : charge_reconcilers_) reconciler->Wake();
  });

  stale_timers_ = std::make_unique<StalePaymentTimers>(store, clock);
  const std::vector<const TimerKind*> timer_kinds = {
      &upsell_timers_->kind(), &subscription_timers_->warning(), &subscription_timers_->expiry(),
      &stale_timers_->kind()};
  for (int p = 0; p < options.partitions; ++p) {
    TimerWorkerOptions worker;
    worker.database_url = options.database_url;
    worker.partition = p;
    worker.jobs = jobs_.get();
    timer_workers_.push_back(std::make_unique<TimerWorker>(timer_kinds, clock, worker));
  }
  timers_ = std::make_unique<TimerFold>(timer_kinds, [this] {
    for (auto& worker : timer_workers_) worker->Wake();
  });

  const std::vector<Reactor*> reactors = {
      outbox_.get(),         delivery_.get(),       meta_.get(),
      reconciliation_.get(), charge_intents_.get(), welcome_.get(),
      upsells_.get(),        subscriptions_.get(),  timers_.get()};
  for (int p = 0; p < options.partitions; ++p) {
    ReactorRunnerOptions runner;
    runner.database_url = options.database_url;
    runner.partition = p;
    runner.jobs = jobs_.get();
    for (Reactor* reactor : reactors) {
      runners_.push_back(std::make_unique<ReactorRunner>(*reactor, runner));
    }
  }
  // A resume or a trigger wakes the workers at once.
  jobs_->AddListener([this] {
    for (auto& sender : senders_) sender->Wake();
    for (auto& poller : pollers_) poller->Wake();
    for (auto& reconciler : charge_reconcilers_) reconciler->Wake();
    for (auto& worker : timer_workers_) worker->Wake();
  });
}

ReactorHost::~ReactorHost() { Stop(); }

std::vector<JobSpec> ReactorHost::Jobs() const {
  std::vector<JobSpec> jobs;
  std::set<std::string> seen;
  auto add = [&](JobSpec spec) {
    if (seen.insert(spec.name).second) jobs.push_back(std::move(spec));
  };
  for (const auto& runner : runners_) {
    const std::string& name = runner->reactor_name();
    add({name, "reactor", name, "tally.reactor." + name, "log", ""});
  }
  for (const auto& sender : senders_) {
    const std::string& kind = sender->kind().reactor;
    add({OutboxJobName(kind), "outbox", "outbox", "tally.sender." + kind, "outbox", kind});
  }
  for (const auto& worker : timer_workers_) {
    for (const std::string& kind : worker->kind_names()) {
      add({TimerJobName(kind), "timer", "timers", "tally.timers", "timers", kind});
    }
  }
  if (!pollers_.empty()) {
    add({kReconciliationJob, "poller", "reconciliation_queue", "tally.reconciliation",
         "reconciliation_queue", ""});
  }
  if (!charge_reconcilers_.empty()) {
    add({kChargeReconcilerJob, "poller", "charge_intents", "tally.charge_reconciler",
         "charge_intents", ""});
  }
  return jobs;
}

void ReactorHost::Start() {
  // Every pause is known before anything runs.
  jobs_->Start();
  for (auto& runner : runners_) runner->Start();
  for (auto& sender : senders_) sender->Start();
  for (auto& poller : pollers_) poller->Start();
  for (auto& reconciler : charge_reconcilers_) reconciler->Start();
  for (auto& worker : timer_workers_) worker->Start();
}

void ReactorHost::Stop() {
  for (auto& worker : timer_workers_) worker->Stop();
  for (auto& reconciler : charge_reconcilers_) reconciler->Stop();
  for (auto& poller : pollers_) poller->Stop();
  for (auto& sender : senders_) sender->Stop();
  for (auto& runner : runners_) runner->Stop();
  jobs_->Stop();
}

}  // namespace tally::reactors
