#pragma once
// No orphan charges (seed 001's 155 PIX charges created at the gateway and never recorded).
// The charge API appends ChargeRequested to `charge-<payment_id>` before it calls a gateway
// (http/charge_api.h); when the answer is lost and the client never retries, the intent is all
// that is left. These two settle every such intent:
//
//  - ChargeIntentFold (reactor "charge_intents") folds the `charge_intents` work list: an intent
//    enters open on ChargeRequested, due `settle_after` later (the call has certainly ended by
//    then); it becomes recorded when its PaymentCreated arrives (from the API, a retry or the
//    reconciler), unresolved on ChargeUnresolved, and open again, due now, when an operator
//    retries it (`tally reactors retry charge-<payment_id>`: OutboxRetryRequested with reactor
//    "charge_intents").
//  - ChargeReconciler settles due open intents of one partition, oldest first, as the only one
//    across processes (advisory lock; standby takeover). A gateway that finds charges by our
//    reference (Paradise, Atomopay, Mercado Pago, Stripe) is asked: found, the charge is
//    recorded exactly as the API would have (gateways/charge_record.h: the same PaymentCreated
//    under the same key, so a concurrent client retry and the reconciler record it once); not
//    there, ChargeUnresolved{NOT_AT_GATEWAY} (nothing was created). A gateway that cannot be
//    asked (PushinPay) gives ChargeUnresolved{CANNOT_LOOK_UP}; refused credentials
//    LOOKUP_FAILED. Both are listed by `tally reactors parked`. A transient failure (timeout,
//    5xx, 429) is retried with capped exponential backoff, in memory: the intent stays open, so
//    a restart asks again.
//
// Keys: ChargeUnresolved `charge-unresolved:<payment_id>:<attempt>:<reopened>`.
//
// Thread safety: the fold is driven by a ReactorRunner; the reconciler runs its own thread and
// its Start/Stop/Wake/stats are thread-safe. The registry, store and clock are not owned.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "gateways/registry.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/reactor.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

class ChargeIntentFold final : public Reactor {
 public:
  // `settle_after_us`: from an intent to its first look-up; longer than any gateway call.
  explicit ChargeIntentFold(int64_t settle_after_us, std::function<void()> on_committed = nullptr);
  std::string name() const override { return "charge_intents"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  void Committed(int partition, int64_t position) override;

 private:
  const int64_t settle_after_us_;
  std::function<void()> on_committed_;
};

class JobControl;  // reactors/job_control.h

struct ChargeReconcilerOptions {
  std::string database_url;
  int partition = 0;
  // How often due intents are looked for when nothing wakes the reconciler.
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds lock_retry{1000};
  // As the fold's: an intent younger than this is never looked up (its call may still run).
  int64_t settle_after_us = 70 * 1000000;
  // While it says "charge_reconciler" is paused, no intent is looked up. Not owned.
  const JobControl* jobs = nullptr;
};

struct ChargeReconcilerStats {
  uint64_t recovered = 0;   // found at the gateway and recorded
  uint64_t unresolved = 0;  // ChargeUnresolved appended
  uint64_t lookup_errors = 0;
  bool leading = false;
};

class ChargeReconciler {
 public:
  ChargeReconciler(const gateways::GatewayRegistry& gateways, ledger::EventStore& store,
                   tenants::SecretBox box, gateways::Transport transport,
                   const ledger::Clock& clock, ChargeReconcilerOptions options);
  ~ChargeReconciler();
  void Start();
  void Stop();
  void Wake();
  ChargeReconcilerStats stats() const;

 private:
  struct Due {
    std::string payment_id, tenant_id, gateway;
    int attempt = 0;
    int reopened = 0;
  };
  void Run();
  absl::Status LeadAndSettle();
  // Settles one intent; an error leaves it open (looked at again after a backoff).
  absl::Status Settle(const Due& due);

  const gateways::GatewayRegistry& gateways_;
  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::Transport transport_;
  const ledger::Clock& clock_;
  const ChargeReconcilerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  // payment id -> (failures so far, not before)
  std::map<std::string, std::pair<int, int64_t>> backoff_;
  ChargeReconcilerStats stats_;
  std::thread thread_;
};

}  // namespace tally::reactors
