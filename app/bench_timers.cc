// `tally bench timers`: durable timers at volume. N upsell timers of the real "upsell" kind
// (reactors/upsells.h: each firing reads the parent payment's stream and the bot's offers and
// appends UpsellSent or UpsellCancelled under the offer's decision key) come due over a window;
// half of them while the timer worker runs, the other half during a simulated 10-minute outage
// of every reactor, after which a new worker catches up. Reports how late each timer of the
// running half fired (from its due time to its decision being durable), how fast the backlog
// drained after the outage, and checks the log: every timer decided exactly once, none sent for
// a refunded parent.
//
// Time is an offset clock (the system clock plus an offset the benchmark moves): the timers are
// scheduled a day ahead, the clock is moved to just before the first is due, and the outage is
// a jump of 10 minutes rather than a wait. The clock runs at real speed in between, so lateness
// is real time. The sales are appended directly as the gateways and the upsell reactor would
// have left them (PaymentCreated, a signed paid webhook — and for one sale in ten a refund —
// and UpsellScheduled); scheduling is not what is measured. Only the timer fold and the timer
// worker run: the offers' Telegram messages are not sent.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "app/pgbench_baseline.h"
#include "ledger/scratch_database.h"
#include "reactors/timers.h"
#include "reactors/upsells.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

using Steady = std::chrono::steady_clock;
namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr char kMasterKey[] = "71e5b00071e5b00071e5b00071e5b00071e5b00071e5b00071e5b00071e5b000";
constexpr int kSellers = 20;
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kOutageUs = 10 * 60 * kSecond;
// Between the running half's last due time and the outage: its last firings land.
constexpr int64_t kGapUs = 2 * kSecond;
constexpr int kRefundEvery = 10;  // sale i is refunded when i % 10 == 0
constexpr int kAppendsInFlight = 256;
constexpr char kSentType[] = "tally.payments.v1.UpsellSent";
constexpr char kCancelledType[] = "tally.payments.v1.UpsellCancelled";

// The system clock plus an offset that only moves forward.
class OffsetClock final : public ledger::Clock {
 public:
  int64_t NowMicros() const override { return system_.NowMicros() + offset_.load(); }
  // Moves the clock so that it reads `at` now (never backwards).
  void Set(int64_t at) { offset_ += std::max<int64_t>(0, at - NowMicros()); }
  void Advance(int64_t us) { offset_ += us; }

 private:
  ledger::SystemClock system_;
  std::atomic<int64_t> offset_{0};
};

struct Seller {
  std::string tenant_id;
  std::string bot_id;
};

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

std::string PaymentId(int64_t i) { return absl::StrCat("pay_bt", i); }

absl::StatusOr<std::vector<Seller>> CreateSellers(ledger::EventStore& store,
                                                  const tenants::SecretBox& box) {
  std::vector<Seller> sellers;
  for (int t = 0; t < kSellers; ++t) {
    auto tenant =
        tenants::CreateTenant(store, box, absl::StrCat("bench seller ", t), "America/Sao_Paulo");
    if (!tenant.ok()) return tenant.status();
    auto bot = tenants::RegisterBot(store, box, tenant->tenant_id,
                                    absl::StrCat(8100 + t, ":AAHbenchtimers", t),
                                    absl::StrCat("bench_timers_", t, "_bot"));
    if (!bot.ok()) return bot.status();
    for (const auto& [id, price] :
         std::vector<std::pair<std::string, int64_t>>{{"curso", 1990}, {"extra", 2990}}) {
      tenants::ProductSettings product;
      product.bot_id = bot->bot_id;
      product.product_id = id;
      product.name = "Produto " + id;
      product.price_minor = price;
      product.deliver_url = "https://cursos.example.com/" + id;
      if (absl::Status s = tenants::ConfigureProduct(store, tenant->tenant_id, product); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = tenants::ConfigureOffer(
            store, tenant->tenant_id,
            {bot->bot_id, "up1", "upsell", 600, "", "extra", 0, 0, "", true});
        !s.ok()) {
      return s;
    }
    sellers.push_back({tenant->tenant_id, bot->bot_id});
  }
  return sellers;
}

// Sale i as the log would hold it when its upsell is scheduled: created, paid (a signed
// webhook), refunded for one in ten, and UpsellScheduled due at `due_at_us`.
ledger::AppendRequest Sale(const Seller& seller, int64_t i, int64_t due_at_us) {
  const std::string txid = absl::StrCat("bt", i);
  const int64_t chat = 700000 + i;
  pb::PaymentCreated created;
  created.set_tenant_id(seller.tenant_id);
  created.set_bot_id(seller.bot_id);
  created.set_customer_id(absl::StrCat("tg:", chat));
  created.set_product_id("curso");
  created.mutable_amount()->set_amount_minor(1990);
  created.mutable_amount()->set_currency("BRL");
  created.set_gateway("stripe");
  created.set_gateway_transaction_id(txid);
  created.set_payment_id(PaymentId(i));
  created.mutable_observation()->set_status(pb::OBSERVED_STATUS_PENDING);
  auto observed = [&](pb::ObservedStatus status) {
    pb::GatewayWebhookReceived m;
    m.set_gateway("stripe");
    m.set_tenant_id(seller.tenant_id);
    m.set_authenticity(pb::AUTHENTICITY_SIGNED);
    m.mutable_observation()->set_status(status);
    m.mutable_observation()->mutable_amount()->set_amount_minor(1990);
    m.mutable_observation()->mutable_amount()->set_currency("BRL");
    return m.SerializeAsString();
  };
  pb::UpsellScheduled scheduled;
  scheduled.set_offer_id("up1");
  scheduled.set_due_at_us(due_at_us);
  scheduled.set_payment_id(PaymentId(i));
  scheduled.set_kind(tenants::kUpsell);
  scheduled.set_tenant_id(seller.tenant_id);
  scheduled.set_bot_id(seller.bot_id);
  scheduled.set_chat_id(chat);
  ledger::AppendRequest request{
      seller.tenant_id,
      "payment-stripe-" + txid,
      ledger::ExpectedVersion::NoStream(),
      {{"tally.payments.v1.PaymentCreated", created.SerializeAsString(), ""},
       {"tally.payments.v1.GatewayWebhookReceived", observed(pb::OBSERVED_STATUS_PAID), ""}},
      absl::StrCat("upsell:", PaymentId(i), ":up1")};
  if (i % kRefundEvery == 0) {
    request.events.push_back(
        {"tally.payments.v1.GatewayWebhookReceived", observed(pb::OBSERVED_STATUS_REFUNDED), ""});
  }
  request.events.push_back(
      {"tally.payments.v1.UpsellScheduled", scheduled.SerializeAsString(), ""});
  return request;
}

// What the bench sees of each firing, through a wrapper around the kind's `fire`.
struct Firings {
  std::mutex mu;
  int64_t outage_at_us = 0;          // timers due before it belong to the running half
  std::vector<double> late_ms;       // the running half's, as each decision became durable
  std::map<std::string, int> fired;  // timer id -> firings answered OK
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> last_ok_us{0};  // steady clock
};

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Steady::now().time_since_epoch())
      .count();
}

// The timer fold and the timer worker of one process.
struct Process {
  std::unique_ptr<reactors::TimerFold> fold;
  std::unique_ptr<reactors::TimerWorker> worker;
  std::unique_ptr<reactors::ReactorRunner> runner;

  Process(const std::string& url, const reactors::TimerKind& kind, const ledger::Clock& clock,
          double fire_per_second) {
    reactors::TimerWorkerOptions options;
    options.database_url = url;
    if (fire_per_second >= 0) options.fire_per_second = fire_per_second;
    worker = std::make_unique<reactors::TimerWorker>(std::vector<const reactors::TimerKind*>{&kind},
                                                     clock, options);
    fold = std::make_unique<reactors::TimerFold>(std::vector<const reactors::TimerKind*>{&kind},
                                                 [this] { worker->Wake(); });
    reactors::ReactorRunnerOptions runner_options;
    runner_options.database_url = url;
    runner = std::make_unique<reactors::ReactorRunner>(*fold, runner_options);
    runner->Start();
    worker->Start();
  }
  ~Process() {
    worker->Stop();
    runner->Stop();
  }
};

int64_t Scalar(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::read_transaction txn(c);
  auto r = txn.exec(sql);
  return r.empty() || r[0][0].is_null() ? 0 : r[0][0].as<int64_t>();
}

// What the log says: one decision per offer stream, none sent for a refunded parent.
struct Decisions {
  int64_t sent = 0;
  int64_t cancelled = 0;
  int64_t timers_decided = 0;  // distinct offer streams with a decision
  int64_t duplicates = 0;      // decisions beyond the first of a stream
  int64_t sent_for_refunded = 0;
  int64_t still_scheduled = 0;  // timers rows not fired or cancelled
};

absl::StatusOr<Decisions> ReadDecisions(const std::string& url) {
  try {
    pqxx::connection c(url);
    pqxx::read_transaction txn(c);
    Decisions d;
    std::map<std::string, int> per_stream;
    for (const auto& row :
         txn.exec_params("SELECT stream_id, event_type FROM events WHERE event_type = ANY($1)",
                         std::string("{") + kSentType + "," + kCancelledType + "}")) {
      const std::string stream = row[0].as<std::string>();
      const bool sent = row[1].as<std::string>() == kSentType;
      (sent ? d.sent : d.cancelled) += 1;
      ++per_stream[stream];
      // offer-pay_bt<i>-up1
      const size_t from = std::string("offer-pay_bt").size();
      const int64_t i = std::stoll(stream.substr(from, stream.rfind('-') - from));
      if (sent && i % kRefundEvery == 0) ++d.sent_for_refunded;
    }
    d.timers_decided = static_cast<int64_t>(per_stream.size());
    for (const auto& [stream, n] : per_stream) d.duplicates += n - 1;
    d.still_scheduled =
        txn.exec("SELECT count(*) FROM timers WHERE state = 'scheduled'")[0][0].as<int64_t>();
    return d;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reading the decisions: ", e.what()));
  }
}

// Waits until `done` (polled every 100 ms) or `limit`; prints `progress` every 5 s.
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit,
             const std::function<void()>& progress) {
  const auto deadline = Steady::now() + limit;
  auto last = Steady::now();
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
    if (Steady::now() - last >= 5s) {
      last = Steady::now();
      progress();
    }
  }
  return true;
}

}  // namespace

int RunBenchTimers(const BenchTimersOptions& options) {
  spdlog::set_level(spdlog::level::warn);
  const int64_t n = options.timers;
  const int64_t running_n = (n + 1) / 2, outage_n = n - running_n;
  const int64_t window_us = static_cast<int64_t>(options.window_seconds) * kSecond;

  auto scratch = ledger::ScratchDatabase::Create(options.database_url, "tally_bench_timers", 1);
  if (!scratch.ok()) return Fail(1, scratch.status().ToString());
  const std::string url = (*scratch)->url();
  OffsetClock clock;
  ledger::EventStoreOptions store_options;
  store_options.database_url = url;
  store_options.clock = &clock;
  auto store = ledger::EventStore::Open(std::move(store_options));
  if (!store.ok()) return Fail(1, store.status().ToString());
  const tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  auto sellers = CreateSellers(**store, box);
  if (!sellers.ok()) return Fail(1, "configuring the sellers: " + sellers.status().ToString());

  // Due times: the running half spread evenly over the window, from `start`; the other half
  // over the outage's 10 minutes, which begin kGapUs after the window. Sale i gets the due slot
  // order[i], so due order is not the order of scheduling.
  const int64_t start = clock.NowMicros() + 24 * 3600 * kSecond;
  const int64_t outage_at = start + window_us + kGapUs;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  auto due_of = [&](int64_t slot) {
    return slot < running_n ? start + (2 * slot + 1) * window_us / (2 * running_n)
                            : outage_at + (2 * (slot - running_n) + 1) * kOutageUs / (2 * outage_n);
  };

  std::cerr << absl::StrFormat(
      "bench timers: scheduling %d upsells over %d sellers (one in %d refunded before it is due): "
      "%d due over a %d s window while the worker runs, %d during a 10-minute outage\n",
      n, kSellers, kRefundEvery, running_n, options.window_seconds, outage_n);
  const auto setup_start = Steady::now();
  {
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0;
    int64_t done = 0;
    absl::Status first_error;
    for (int64_t i = 0; i < n; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return in_flight < kAppendsInFlight; });
        if (!first_error.ok()) break;
        ++in_flight;
      }
      (*store)->AppendAsync(Sale((*sellers)[i % kSellers], i, due_of(order[i])),
                            [&](absl::StatusOr<ledger::AppendResult> r) {
                              std::lock_guard lock(mu);
                              --in_flight;
                              if (!r.ok() && first_error.ok()) first_error = r.status();
                              if (++done % 20000 == 0) {
                                std::cerr << absl::StrFormat("  %d sales appended\n", done);
                              }
                              cv.notify_all();
                            });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
    if (!first_error.ok()) return Fail(1, "appending the sales: " + first_error.ToString());
  }
  const double append_s = std::chrono::duration<double>(Steady::now() - setup_start).count();

  reactors::UpsellTimers upsells(
      **store, clock,
      reactors::OfferOptions{"https://pay.example.com",
                             reactors::OfferSecretFromMasterKey(kMasterKey)});
  Firings firings;
  firings.outage_at_us = outage_at;
  reactors::TimerKind kind = upsells.kind();
  kind.fire = [&firings, &clock, inner = upsells.kind().fire](const reactors::TimerItem& item) {
    absl::Status s = inner(item);
    if (!s.ok()) return s;
    const int64_t now = clock.NowMicros();
    std::lock_guard lock(firings.mu);
    if (++firings.fired[item.timer_id] == 1 && item.due_at_us < firings.outage_at_us) {
      firings.late_ms.push_back((now - item.due_at_us) / 1000.0);
    }
    firings.ok.fetch_add(1);
    firings.last_ok_us = SteadyMicros();
    return s;
  };
  const double pace = options.fire_per_second >= 0 ? options.fire_per_second
                                                   : reactors::TimerWorkerOptions{}.fire_per_second;

  // The fold takes in every timer before the clock reaches the first.
  auto process = std::make_unique<Process>(url, kind, clock, options.fire_per_second);
  const auto fold_start = Steady::now();
  if (!WaitFor([&] { return Scalar(url, "SELECT count(*) FROM timers") == n; }, 600s,
               [&] {
                 std::cerr << absl::StrFormat("  %d timers folded\n",
                                              Scalar(url, "SELECT count(*) FROM timers"));
               })) {
    return Fail(1, "the timer fold did not take in every timer within 10 minutes");
  }
  const double fold_s = std::chrono::duration<double>(Steady::now() - fold_start).count();
  std::cerr << absl::StrFormat(
      "  %d sales appended in %.1f s, folded into timers in %.1f s; the worker fires %s, %d at "
      "once\n",
      n, append_s, fold_s,
      pace > 0 ? absl::StrFormat("at most %.0f per second", pace) : std::string("unpaced"),
      kind.concurrency);

  // Running: the clock to just before the first due time; the window passes in real time.
  clock.Set(start - 500'000);
  process->worker->Wake();
  std::cerr << absl::StrFormat("running: %d timers due over the next %d s\n", running_n,
                               options.window_seconds);
  auto running_progress = [&] {
    std::lock_guard lock(firings.mu);
    const int64_t due = std::clamp<int64_t>(
        (clock.NowMicros() - start) * running_n / std::max<int64_t>(1, window_us), 0, running_n);
    std::cerr << absl::StrFormat("  %.0f s: %d of %d due so far fired\n",
                                 (clock.NowMicros() - start) / 1e6,
                                 static_cast<int64_t>(firings.late_ms.size()), due);
  };
  WaitFor([&] { return clock.NowMicros() >= outage_at - 100'000; },
          std::chrono::seconds(options.window_seconds + 60), running_progress);
  std::this_thread::sleep_for(
      std::chrono::microseconds(std::max<int64_t>(0, outage_at - clock.NowMicros())));
  int64_t running_fired = 0;
  {
    std::lock_guard lock(firings.mu);
    running_fired = static_cast<int64_t>(firings.late_ms.size());
  }

  // The outage: every process stops; 10 minutes pass on the clock; a new process starts.
  process.reset();
  clock.Advance(kOutageUs);
  const int64_t backlog = n - firings.ok.load();
  std::cerr << absl::StrFormat(
      "outage: %d of %d running timers fired before it; every process stopped, the clock moved "
      "10 minutes; %d timers overdue at restart\n",
      running_fired, running_n, backlog);
  const int64_t ok_before = firings.ok.load();
  const int64_t restart_us = SteadyMicros();
  process = std::make_unique<Process>(url, kind, clock, options.fire_per_second);
  const int64_t catchup_limit_s = 600 + (pace > 0 ? static_cast<int64_t>(backlog / pace) * 2 : 0);
  const bool caught_up = WaitFor(
      [&] {
        // The wrapper's count first: the query is the truth, but not free on a full table.
        {
          std::lock_guard lock(firings.mu);
          if (static_cast<int64_t>(firings.fired.size()) < n) return false;
        }
        return Scalar(url, "SELECT count(*) FROM timers WHERE state = 'scheduled'") == 0;
      },
      std::chrono::seconds(catchup_limit_s),
      [&] {
        const double s = (SteadyMicros() - restart_us) / 1e6;
        const int64_t done = firings.ok.load() - ok_before;
        std::cerr << absl::StrFormat("  %.0f s: %d of %d overdue fired (%.0f/s)\n", s, done,
                                     backlog, done / s);
      });
  process.reset();
  const double catchup_s = std::max<int64_t>(1, firings.last_ok_us.load() - restart_us) / 1e6;
  const int64_t caught = firings.ok.load() - ok_before;
  const double catchup_per_second = caught / catchup_s;
  std::cerr << absl::StrFormat("  caught up%s: %d fired in %.1f s (%.0f/s)\n",
                               caught_up ? "" : " NOT", caught, catchup_s, catchup_per_second);

  auto decisions = ReadDecisions(url);
  if (!decisions.ok()) return Fail(1, decisions.status().ToString());
  int64_t fired_twice = 0;
  std::vector<double> late;
  {
    std::lock_guard lock(firings.mu);
    for (const auto& [id, times] : firings.fired) fired_twice += times > 1;
    late = firings.late_ms;
  }
  PgbenchResult baseline;
  if (options.pgbench) {
    PgbenchRun run;
    run.clients = kind.concurrency;  // the worker's firings at once
    run.seconds = 5;
    auto measured = RunPgbenchInsert(url, run);
    if (!measured.ok()) return Fail(1, "pgbench: " + measured.status().ToString());
    baseline = *measured;
  }

  const Decisions& d = *decisions;
  const double p50 = Pct(late, 0.50), p99 = Pct(late, 0.99), max = Pct(late, 1.0);
  std::cout << absl::StrFormat(
      "tally timers (kind \"upsell\"): %d timers, %d decided (%d sent, %d cancelled for a "
      "refunded parent), %d decided twice, %d sent for a refunded parent, %d still scheduled\n"
      "  running: %d due over %d s (%.0f/s); fired %d before the outage, late p50 %.1f ms, p99 "
      "%.1f ms, max %.1f ms\n"
      "  after a 10-minute outage: %d overdue, caught up in %.1f s = %.0f/s (pace %s, %d at "
      "once)\n",
      n, d.timers_decided, d.sent, d.cancelled, d.duplicates, d.sent_for_refunded,
      d.still_scheduled, running_n, options.window_seconds,
      running_n / static_cast<double>(options.window_seconds), running_fired, p50, p99, max,
      backlog, catchup_s, catchup_per_second,
      pace > 0 ? absl::StrFormat("%.0f/s", pace) : std::string("none"), kind.concurrency);
  if (options.pgbench) {
    std::cout << absl::StrFormat(
        "pgbench single-row INSERT at %d clients: %.0f tps; catch-up = %.3fx\n", kind.concurrency,
        baseline.tps, baseline.tps > 0 ? catchup_per_second / baseline.tps : 0.0);
  }
  if (options.json) {
    std::cout << absl::StrFormat(
        "{\"benchmark\":\"timers\",\"kind\":\"upsell\",\"timers\":%d,\"fired\":%d,\"sent\":%d,"
        "\"cancelled\":%d,\"duplicate_decisions\":%d,\"fired_twice\":%d,"
        "\"sent_for_refunded\":%d,\"still_scheduled\":%d,\"running_timers\":%d,"
        "\"window_seconds\":%d,\"running_fired\":%d,\"late_p50_ms\":%.1f,\"late_p99_ms\":%.1f,"
        "\"late_max_ms\":%.1f,\"outage_seconds\":600,\"backlog\":%d,\"catchup_seconds\":%.3f,"
        "\"catchup_per_second\":%.1f,\"fire_per_second\":%.1f,\"concurrency\":%d,"
        "\"setup_append_seconds\":%.1f,\"setup_fold_seconds\":%.1f,\"pgbench_tps\":%.1f,"
        "\"catchup_ratio_vs_pgbench\":%.3f}\n",
        n, d.timers_decided, d.sent, d.cancelled, d.duplicates, fired_twice, d.sent_for_refunded,
        d.still_scheduled, running_n, options.window_seconds, running_fired, p50, p99, max, backlog,
        catchup_s, catchup_per_second, pace, kind.concurrency, append_s, fold_s, baseline.tps,
        baseline.tps > 0 ? catchup_per_second / baseline.tps : 0.0);
  }
  const bool exactly_once = d.timers_decided == n && d.duplicates == 0 && d.still_scheduled == 0 &&
                            d.sent_for_refunded == 0 && caught_up;
  return exactly_once ? 0 : 1;
}

}  // namespace tally::app
