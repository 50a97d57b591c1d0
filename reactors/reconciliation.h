#pragma once
// Reconciliation (seed 001): every pending payment of every gateway is polled until the gateway
// settles it or it expires — whether or not the gateway sends webhooks.
//
//  - ReconciliationFold (reactor "reconciliation_queue") folds the `reconciliation_queue` work
//    list: a payment enters on PaymentCreated (or a webhook that beat it) and is due 15 s
//    later; each GatewayStatusPolled moves it to the next step of the schedule — 15 s, 30 s,
//    1 min, 2 min, 5 min, then every 15 min — never closer than the gateway's minimum interval
//    per transaction (PushinPay: one minute); a webhook that carries no status (Mercado Pago)
//    or an unsigned "paid" (which must be confirmed) makes it due at once. It leaves the queue
//    when a poll or a signed webhook settles it (paid, refunded, cancelled, expired, refused)
//    or on PaymentAbandoned.
//  - ReconciliationPoller polls due payments of one partition, OLDEST DUE FIRST, as the only
//    poller across processes (advisory lock; standby takeover), within each gateway account's
//    limits (rate, concurrency, a pause after 429 honouring Retry-After): a saturated account
//    waits while every other account keeps flowing, and a backlog never starves old payments.
//    Every poll appends GatewayStatusPolled (raw answer, observation or error, latency) with
//    key `poll:<stream>:<n>`. A payment past its expiry plus the gateway's grace period ends
//    with PaymentAbandoned{reason "expired"} (key `abandon:<stream>`) and is no longer polled.
//
// An unconfirmed "paid" from an unsigned gateway delivers nothing until a poll confirms it; a
// forged one (the gateway says pending) is flagged by the payments projection as an anomaly
// (unconfirmed_paid_contradicted) and never delivers.
//
// Thread safety: the fold is driven by a ReactorRunner; the poller runs its own threads and its
// Start/Stop/Wake/stats are thread-safe. The registry, store and clock are not owned.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gateways/registry.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/account_limiter.h"
#include "reactors/reactor.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

// When a payment polled `polls` times, the last time at `last_poll_us` (or created at
// `created_us` when never polled), is next due.
int64_t NextPollAtUs(int polls, int64_t created_us, int64_t last_poll_us,
                     const gateways::PollPolicy& policy);

class ReconciliationFold final : public Reactor {
 public:
  ReconciliationFold(const gateways::GatewayRegistry& gateways,
                     std::function<void()> on_committed = nullptr);
  std::string name() const override { return "reconciliation_queue"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  void Committed(int partition, int64_t position) override;

 private:
  const gateways::GatewayRegistry& gateways_;
  std::function<void()> on_committed_;
};

class JobControl;  // reactors/job_control.h

struct ReconciliationPollerOptions {
  std::string database_url;
  int partition = 0;
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds lock_retry{1000};
  int workers = 8;
  // Lifts the per-account limits (benchmarks measuring raw poll throughput only).
  bool unlimited = false;
  // While it says "reconciliation" is paused, no payment is taken. After a trigger of it,
  // every payment pending at the trigger's time and not polled since is polled as soon as
  // its gateway's limits allow. Not owned.
  const JobControl* jobs = nullptr;
};

struct ReconciliationStats {
  uint64_t polls = 0;
  uint64_t poll_errors = 0;
  uint64_t rate_limited = 0;  // answers 429
  uint64_t abandoned = 0;
  bool leading = false;
};

class ReconciliationPoller {
 public:
  ReconciliationPoller(const gateways::GatewayRegistry& gateways, ledger::EventStore& store,
                       tenants::SecretBox box, gateways::Transport transport,
                       const ledger::Clock& clock, ReconciliationPollerOptions options);
  ~ReconciliationPoller();
  void Start();
  void Stop();
  void Wake();
  ReconciliationStats stats() const;

 private:
  struct Due {
    std::string stream_id, tenant_id, gateway, transaction_id, transaction_hash;
    int next_poll = 0;  // the number this poll will have
  };
  void Run();
  void Work();
  absl::Status LeadAndPoll();
  void PollOne(const Due& due);
  absl::Status Abandon(const Due& due);

  const gateways::GatewayRegistry& gateways_;
  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::Transport transport_;
  const ledger::Clock& clock_;
  const ReconciliationPollerOptions options_;
  AccountLimiter limiter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::set<std::string> in_flight_;
  std::deque<Due> queue_;
  std::map<std::string, int> finished_now_;  // stream -> poll number made since last read
  // Gateway accounts (tenant:gateway -> account), kept for a while: a poll costs no read.
  std::map<std::string, std::pair<int64_t, gateways::ApiAccount>> accounts_;
  ReconciliationStats stats_;
  std::vector<std::thread> workers_;
  std::thread thread_;
};

}  // namespace tally::reactors
