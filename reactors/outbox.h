#pragma once
// The outbox: external calls decided by reactors (a Telegram delivery message, a Meta
// Purchase), made by senders that record every attempt and outcome as events.
//
// Each kind of call (OutboxKind) has a request event, which puts an item in the outbox, and
// attempt/success/failure events. An item is identified by (kind, partition, stream): one
// delivery and one Purchase per payment stream. The `outbox` table is a work list: OutboxFold
// folds it from the log exactly once (a Reactor; checkpoint "outbox" in the same transaction),
// so it is rebuildable and nothing else writes it.
//
// OutboxSender makes the calls of one kind on one partition, as the only sender across
// processes (an advisory lock on its own session; standbys take over). For each due item,
// oldest due first:
//   0. wait for the kind's rate limits (`pace`), before anything is recorded: a crash while
//      waiting loses no attempt;
//   1. append `<kind>Attempted{n}` with key `<kind>:<stream>:attempt:<n>` — recorded BEFORE
//      the call, right before it. A duplicate key means attempt n was already made (by this process
//      before the fold caught up, or by a process that died): nothing is called;
//   2. call;
//   3. append the outcome with key `<kind>:<stream>:outcome:<n>`: success, or a failure with
//      the next attempt's time (exponential backoff, full jitter, capped, never before the
//      service's Retry-After) or terminal.
// The fast lane (Offer): a deciding reactor hands the sender an item whose request event it
// has just appended — new (not a repeated key) and durable — and a leading sender queues it at
// once as attempt 1, instead of waiting for the fold to put it in the table and wake the
// sender. Nothing else changes: the attempt is still recorded before the call under the same
// key, so an offered item and the same item read from the table can never both be called
// (the second attempt 1 is a duplicate and calls nothing), and `in_flight_` and the attempts
// finished here keep the table loop from even queueing it twice. An item an offer does not
// take (a standby, a stream already queued or in a call, a full queue, a sender stopping) is
// sent from the table as before.
// The fold turns an attempt into a lease: an item attempted and never answered (the process
// died in the call) is due again once the lease expires, as attempt n+1, and counted in
// `unresolved_attempts`: toward Meta (deduplicated by event_id) and gateways (idempotency
// keys) that is exactly once in effect; toward Telegram, which does not deduplicate, it is a
// possible duplicate, counted and reported. A terminal failure parks the item (state
// 'parked'); everything else keeps flowing. OutboxRetryRequested in the item's stream (an
// operator's retry) makes a parked item due again.
//
// Thread safety: OutboxFold is driven by one ReactorRunner per partition. OutboxSender runs
// its own threads; Start/Stop/Wake/Offer/stats are thread-safe. Kinds and the store are not owned.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "reactors/backoff.h"
#include "reactors/reactor.h"

namespace tally::reactors {

// What an event means to the outbox.
struct OutboxEvent {
  enum class Type { kRequested, kAttempted, kSucceeded, kFailed, kRetryRequested };
  Type type = Type::kRequested;
  int attempt = 0;
  int64_t retry_at_us = 0;  // kFailed, not terminal
  bool terminal = false;    // kFailed
  std::string error;        // kFailed
  std::string tenant_id;    // kRequested: the partition key its stream is appended under
};

// One item of the outbox, as the sender sees it.
struct OutboxItem {
  std::string stream_id;
  std::string tenant_id;
  int partition = 0;
  int attempt = 0;  // the attempt this send makes
  // The previous attempt's lease expired without an outcome folded (it may only be late).
  bool after_lost_attempt = false;
  std::string request;  // the request event's payload
};

// How a deciding reactor hands a new, durable request to the sender of its kind and partition
// (OutboxSender::Offer, wired by the host; reactors/reactor_host.h).
using OutboxOffer = std::function<void(OutboxItem item)>;

// How a call ended.
struct SendResult {
  enum class Outcome { kSucceeded, kRetry, kTerminal };
  Outcome outcome = Outcome::kRetry;
  // kSucceeded: the success event's payload (the kind's success message).
  std::string success_payload;
  // kRetry / kTerminal.
  std::string error;
  int http_status = 0;
  int error_code = 0;
  int64_t retry_after_us = 0;  // the service asked to wait at least this long
};

struct OutboxKind {
  std::string reactor;  // "delivery", "meta_purchase": names items, keys and the sender lock
  std::string requested_type;
  std::string attempted_type;
  std::string succeeded_type;
  std::string failed_type;
  // The event's meaning for this kind, or nullopt when it is not one of the kind's events
  // (the fold has already matched the type; this reads the payload). DataLoss when it does
  // not parse.
  std::function<absl::StatusOr<OutboxEvent>(const ledger::RecordedEvent&)> read;
  // Payloads of the attempt and failure events.
  std::function<std::string(int attempt)> attempted_payload;
  std::function<std::string(int attempt, const SendResult& result, int64_t retry_at_us)>
      failed_payload;
  // Waits until the call may be made within the service's rate limits (optional). Called on a
  // sender thread before the attempt is recorded, so that the attempt is recorded right
  // before its call: an attempt lost in a crash is then one whose call may have been made,
  // not one still waiting for its turn.
  std::function<void(const OutboxItem& item)> pace;
  // Makes the call. Called on a sender thread.
  std::function<SendResult(const OutboxItem& item)> send;
  BackoffPolicy backoff;
  // How long an attempt may go unanswered before it counts as lost (longer than any call).
  int64_t lease_us = 60 * 1000000;
  // How many calls may be in flight at once.
  int concurrency = 8;
};

// Fills `kind`'s event types, `read`, `attempted_payload` and `failed_payload` for events of
// the common shape: the request names its tenant (`tenant_id`), the attempt carries `attempt`,
// and the failure `attempt`, `error`, `retry_at_us`, `terminal`, `http_status`, `error_code`.
// A payload that does not parse is DataLoss naming its message.
template <typename Requested, typename Attempted, typename Succeeded, typename Failed>
void UseStandardOutboxEvents(OutboxKind& kind) {
  kind.requested_type = Requested::descriptor()->full_name();
  kind.attempted_type = Attempted::descriptor()->full_name();
  kind.succeeded_type = Succeeded::descriptor()->full_name();
  kind.failed_type = Failed::descriptor()->full_name();
  kind.read = [](const ledger::RecordedEvent& e) -> absl::StatusOr<OutboxEvent> {
    OutboxEvent out;
    if (e.type == Requested::descriptor()->full_name()) {
      Requested m;
      if (!m.ParseFromString(e.payload))
        return absl::DataLossError(Requested::descriptor()->name());
      out.type = OutboxEvent::Type::kRequested;
      out.tenant_id = m.tenant_id();
    } else if (e.type == Attempted::descriptor()->full_name()) {
      Attempted m;
      if (!m.ParseFromString(e.payload))
        return absl::DataLossError(Attempted::descriptor()->name());
      out.type = OutboxEvent::Type::kAttempted;
      out.attempt = m.attempt();
    } else if (e.type == Succeeded::descriptor()->full_name()) {
      out.type = OutboxEvent::Type::kSucceeded;
    } else {
      Failed m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError(Failed::descriptor()->name());
      out.type = OutboxEvent::Type::kFailed;
      out.attempt = m.attempt();
      out.retry_at_us = m.retry_at_us();
      out.terminal = m.terminal();
      out.error = m.error();
    }
    return out;
  };
  kind.attempted_payload = [](int attempt) {
    Attempted m;
    m.set_attempt(attempt);
    return m.SerializeAsString();
  };
  kind.failed_payload = [](int attempt, const SendResult& r, int64_t retry_at_us) {
    Failed m;
    m.set_attempt(attempt);
    m.set_error(r.error);
    m.set_retry_at_us(retry_at_us);
    m.set_terminal(r.outcome == SendResult::Outcome::kTerminal);
    m.set_http_status(r.http_status);
    m.set_error_code(r.error_code);
    return m.SerializeAsString();
  };
}

// Folds the outbox of every kind. Name "outbox".
class OutboxFold final : public Reactor {
 public:
  // `on_committed` is called after each batch commits (to wake senders).
  OutboxFold(std::vector<const OutboxKind*> kinds, std::function<void()> on_committed = nullptr);
  std::string name() const override { return "outbox"; }
  absl::Status React(pqxx::transaction_base& txn, const ledger::RecordedEvent& event) override;
  void Committed(int partition, int64_t position) override;

 private:
  std::vector<const OutboxKind*> kinds_;
  std::function<void()> on_committed_;
};

class JobControl;  // reactors/job_control.h

struct OutboxSenderOptions {
  std::string database_url;
  int partition = 0;
  // How often the table is read when nothing wakes the sender.
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds lock_retry{1000};
  uint64_t seed = 0;  // 0: random
  // While it says the job "outbox:<kind>" is paused, no item is taken (from the table or
  // offered); calls in flight finish. Not owned.
  const JobControl* jobs = nullptr;
};

struct OutboxSenderStats {
  uint64_t attempts = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t parked = 0;
  uint64_t skipped_duplicate_attempts = 0;
  uint64_t offers_taken = 0;  // items queued by Offer
  uint64_t in_flight = 0;
  bool leading = false;
};

class OutboxSender {
 public:
  OutboxSender(const OutboxKind& kind, ledger::EventStore& store, const ledger::Clock& clock,
               OutboxSenderOptions options);
  ~OutboxSender();

  void Start();
  // Finishes the calls in flight (each records its outcome), then returns.
  void Stop();
  // Reads the table now (new items were folded).
  void Wake();
  // The fast lane: `item` (stream, tenant, request) is one whose request event the caller has
  // just appended as new — not a repeated key — and is durable. When this sender leads, is
  // not stopping, the stream is not queued or in a call here and fewer than 4 × concurrency
  // items are, it is queued at once as attempt 1 (its partition set to this sender's) and true
  // is returned; otherwise nothing happens and the table loop sends it once it is folded.
  // It cannot make a second call: the attempt is appended under `<kind>:<stream>:attempt:1`
  // before the call, and if attempt 1 was already made (here from the table, or by another
  // process) that append is a duplicate and nothing is called.
  bool Offer(OutboxItem item);
  OutboxSenderStats stats() const;
  const OutboxKind& kind() const { return kind_; }

 private:
  bool Paused() const;
  void Run();
  void Work();
  absl::Status LeadAndSend();
  void SendOne(const OutboxItem& item);
  // Records that `item`'s attempt was made (or found made) here. Under mu_.
  void MarkFinished(const OutboxItem& item);

  const OutboxKind& kind_;
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const OutboxSenderOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::set<std::string> in_flight_;  // streams queued or in a call in this process
  std::deque<OutboxItem> queue_;
  // Attempts finished since the last read of the table: stream -> attempt.
  std::map<std::string, int> finished_now_;
  std::vector<std::thread> workers_;
  std::mt19937_64 random_;
  OutboxSenderStats stats_;
  std::thread thread_;
};

}  // namespace tally::reactors
