// Upsells and downsells (issue 10, seed 000) on real PostgreSQL, with the log's events as the
// gateways would leave them and an injected clock: offers are validated, scheduled as durable
// timers on the trigger, and decided again when they fire — an upsell for a parent still paid,
// cancelled for a refunded one; a downsell for a charge never paid, cancelled once it is paid.

#include "reactors/upsells.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "projections/projection.h"
#include "projections/runner.h"
#include "reactors/customer_purchases.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;
using namespace std::chrono_literals;

constexpr int64_t kSecond = 1'000'000;
constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

class ManualClock final : public ledger::Clock {
 public:
  explicit ManualClock(int64_t now) : now_(now) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Advance(int64_t us) { now_ += us; }

 private:
  std::atomic<int64_t> now_;
};

struct Rig {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  tenants::SecretBox box = *tenants::SecretBox::FromHex(kMasterKey);
  // Now, as the log records it: due times derive from the events' recorded times.
  ManualClock clock{ledger::SystemClock().NowMicros()};
  std::string tenant_id;
  std::unique_ptr<UpsellReactor> reactor;
  std::unique_ptr<UpsellTimers> timers;
  std::unique_ptr<TimerWorker> worker;
  std::unique_ptr<TimerFold> fold;
  std::vector<std::unique_ptr<ReactorRunner>> runners;

  Rig() {
    auto tenant = tenants::CreateTenant(*store, box, "Loja", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    tenant_id = tenant->tenant_id;
    REQUIRE(tenants::RegisterBot(*store, box, tenant_id, "7501:AAHupsells", "bot_7501").ok());
    for (const auto& [id, price] :
         std::vector<std::pair<std::string, int64_t>>{{"vip", 1990}, {"extra", 2990}}) {
      tenants::ProductSettings product;
      product.bot_id = "7501";
      product.product_id = id;
      product.name = "Produto " + id;
      product.price_minor = price;
      product.deliver_url = "https://cursos.example.com/" + id;
      REQUIRE(tenants::ConfigureProduct(*store, tenant_id, product).ok());
    }
  }

  void Start() {
    reactor = std::make_unique<UpsellReactor>(*store, clock);
    timers = std::make_unique<UpsellTimers>(
        *store, clock, OfferOptions{"https://pay.example.com", "secret", db->url()});
    TimerWorkerOptions options;
    options.database_url = db->url();
    options.poll_interval = 30s;  // woken, never polled
    options.fire_per_second = 5000;
    worker = std::make_unique<TimerWorker>(std::vector<const TimerKind*>{&timers->kind()}, clock,
                                           options);
    fold = std::make_unique<TimerFold>(std::vector<const TimerKind*>{&timers->kind()},
                                       [this] { worker->Wake(); });
    for (Reactor* r : std::vector<Reactor*>{reactor.get(), fold.get()}) {
      ReactorRunnerOptions runner;
      runner.database_url = db->url();
      runner.poll_interval = 100ms;
      runners.push_back(std::make_unique<ReactorRunner>(*r, runner));
      runners.back()->Start();
    }
    worker->Start();
  }
  ~Rig() {
    if (worker) worker->Stop();
    for (auto& r : runners) r->Stop();
  }

  // A charge created for `product`, its buyer in Telegram chat `chat`.
  std::string Created(const std::string& txid, int64_t chat, const std::string& product = "vip") {
    pb::PaymentCreated m;
    m.set_tenant_id(tenant_id);
    m.set_bot_id("7501");
    m.set_customer_id(absl::StrCat("tg:", chat));
    m.set_product_id(product);
    m.mutable_amount()->set_amount_minor(1990);
    m.mutable_amount()->set_currency("BRL");
    m.set_gateway("stripe");
    m.set_gateway_transaction_id(txid);
    m.set_payment_id("pay_" + txid);
    m.mutable_observation()->set_status(pb::OBSERVED_STATUS_PENDING);
    Append("payment-stripe-" + txid, "tally.payments.v1.PaymentCreated", m.SerializeAsString());
    return "pay_" + txid;
  }
  // A signed webhook observing `status`.
  void Observed(const std::string& txid, pb::ObservedStatus status) {
    pb::GatewayWebhookReceived m;
    m.set_gateway("stripe");
    m.set_tenant_id(tenant_id);
    m.set_authenticity(pb::AUTHENTICITY_SIGNED);
    m.mutable_observation()->set_status(status);
    m.mutable_observation()->mutable_amount()->set_amount_minor(1990);
    m.mutable_observation()->mutable_amount()->set_currency("BRL");
    Append("payment-stripe-" + txid, "tally.payments.v1.GatewayWebhookReceived",
           m.SerializeAsString());
  }
  void Append(const std::string& stream, const std::string& type, const std::string& payload) {
    auto r = store->Append(
        {tenant_id, stream, ledger::ExpectedVersion::Any(), {{type, payload, ""}}, ""});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }
  // How far the payments projection has folded partition 0, and the log's head.
  std::pair<int64_t, int64_t> PaymentsCheckpointAndHead() {
    pqxx::connection c(db->url());
    pqxx::read_transaction txn(c);
    auto row = txn.exec(
        "SELECT coalesce((SELECT position FROM projection_checkpoints WHERE name = 'payments' "
        "AND partition_id = 0), -1), (SELECT position FROM ledger_heads WHERE partition_id = 0)");
    return {row[0][0].as<int64_t>(), row[0][1].as<int64_t>()};
  }
  int64_t Timers(const std::string& where) {
    pqxx::connection c(db->url());
    pqxx::read_transaction txn(c);
    return txn.exec("SELECT count(*) FROM timers WHERE " + where)[0][0].as<int64_t>();
  }
  // The decision in `offer-<payment>-<offer>`: "sent", "cancelled: <reason>", or "".
  std::string Decision(const std::string& payment_id, const std::string& offer,
                       pb::UpsellSent* sent = nullptr) {
    auto events = store->ReadStream(tenant_id, absl::StrCat("offer-", payment_id, "-", offer));
    REQUIRE(events.ok());
    std::string out;
    for (const auto& e : *events) {
      if (e.type == "tally.payments.v1.UpsellSent") {
        out += "sent";
        if (sent != nullptr) REQUIRE(sent->ParseFromString(e.payload));
      } else if (e.type == "tally.payments.v1.UpsellCancelled") {
        pb::UpsellCancelled c;
        REQUIRE(c.ParseFromString(e.payload));
        out += "cancelled: " + c.reason();
      }
    }
    return out;
  }
};

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST_CASE("offers: bad input names the field and records nothing") {
  Rig rig;
  tenants::OfferSettings offer{"7501", "up1", "upsell", 120, "", "extra", 0, 0, "", true};
  auto refused = [&](tenants::OfferSettings o, const std::string& field) {
    absl::Status s = tenants::ConfigureOffer(*rig.store, rig.tenant_id, o);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_MESSAGE(absl::StrContains(s.message(), field), s.message());
  };
  auto o = offer;
  o.delay_s = -1;
  refused(o, "delay_s");
  o = offer;
  o.price_minor = 10;
  refused(o, "price_minor");
  o = offer;
  o.product_id = "nope";
  refused(o, "product_id");
  o = offer;
  o.kind = "crosssell";
  refused(o, "kind");
  o = offer;
  o.kind = "downsell";
  o.price_minor = 990;
  o.discount_percent = 10;
  refused(o, "exactly one");
  o = offer;
  o.bot_id = "9999";
  CHECK(tenants::ConfigureOffer(*rig.store, rig.tenant_id, o).code() ==
        absl::StatusCode::kNotFound);
  auto bot = tenants::ResolveBotConfig(*rig.store, rig.box, "7501");
  REQUIRE(bot.ok());
  CHECK(bot->offers.empty());
}

TEST_CASE("seed 000: upsells for paid parents, downsells for unpaid ones, each decided once") {
  Rig rig;
  REQUIRE(tenants::ConfigureOffer(*rig.store, rig.tenant_id,
                                  {"7501", "up1", "upsell", 120, "vip", "extra", 0, 0, "", true})
              .ok());
  REQUIRE(tenants::ConfigureOffer(
              *rig.store, rig.tenant_id,
              {"7501", "down1", "downsell", 60, "", "vip", 0, 50, "Última chance!", true})
              .ok());
  rig.Start();
  const std::string paid = rig.Created("A", 601);
  rig.Observed("A", pb::OBSERVED_STATUS_PAID);
  const std::string refunded = rig.Created("B", 602);
  rig.Observed("B", pb::OBSERVED_STATUS_PAID);
  const std::string unpaid = rig.Created("C", 603);
  const std::string paid_late = rig.Created("D", 604);
  // Scheduled: a downsell for every charge, an upsell for each paid one.
  REQUIRE(WaitUntil([&] { return rig.Timers("true") == 6; }, 30s));
  rig.Observed("B", pb::OBSERVED_STATUS_REFUNDED);
  rig.Observed("D", pb::OBSERVED_STATUS_PAID);
  REQUIRE(WaitUntil([&] { return rig.Timers("true") == 7; }, 30s));
  CHECK(rig.Timers("state = 'scheduled'") == 7);  // nothing is due yet

  rig.clock.Advance(10 * 60 * kSecond);
  rig.worker->Wake();
  REQUIRE(WaitUntil([&] { return rig.Timers("state = 'scheduled'") == 0; }, 30s));
  pb::UpsellSent sent;
  CHECK(rig.Decision(paid, "up1", &sent) == "sent");
  CHECK(sent.price().amount_minor() == 2990);
  CHECK(sent.chat_id() == 601);
  CHECK(absl::StrContains(sent.text(),
                          "https://pay.example.com/offers/" + OfferToken("secret", paid, "up1")));
  CHECK(rig.Decision(refunded, "up1") == "cancelled: parent refunded");
  CHECK(rig.Decision(paid_late, "up1") == "sent");
  CHECK(rig.Decision(unpaid, "down1", &sent) == "sent");
  CHECK(sent.price().amount_minor() == 995);  // 50% off the parent's 19,90
  CHECK(absl::StrContains(sent.text(), "Última chance!"));
  CHECK(rig.Decision(paid, "down1") == "cancelled: parent paid");
  CHECK(rig.Decision(refunded, "down1") == "cancelled: parent paid");
  CHECK(rig.Decision(paid_late, "down1") == "cancelled: parent paid");
  CHECK(rig.Timers("state = 'fired'") == 3);
  CHECK(rig.Timers("state = 'cancelled'") == 4);

  // An offer configured after these sales never reaches back to them, even when a later event
  // of a paid one arrives (a resent paid webhook): only the event that made it paid schedules.
  REQUIRE(tenants::ConfigureOffer(*rig.store, rig.tenant_id,
                                  {"7501", "late", "upsell", 0, "", "extra", 0, 0, "", true})
              .ok());
  rig.Observed("A", pb::OBSERVED_STATUS_PAID);
  const std::string after = rig.Created("E", 605);
  rig.Observed("E", pb::OBSERVED_STATUS_PAID);
  // The new sale gets it (and the downsell): three timers more, and no more than that.
  REQUIRE(WaitUntil([&] { return rig.Timers("true") == 10; }, 30s));
  CHECK(rig.Timers(absl::StrCat("timer_id = '", paid, ":late'")) == 0);
  CHECK(rig.Timers(absl::StrCat("timer_id = '", after, ":late'")) == 1);
}

TEST_CASE("an upsell is cancelled for a buyer who already owns its product, past the projection") {
  Rig rig;
  REQUIRE(tenants::ConfigureOffer(*rig.store, rig.tenant_id,
                                  {"7501", "up1", "upsell", 120, "vip", "extra", 0, 0, "", true})
              .ok());
  rig.Start();
  // The payments projection folds the first purchases of "extra", then stops: whatever comes
  // after is only in the log.
  const auto projection = projections::NewPaymentsProjection();
  {
    projections::RunnerOptions options;
    options.database_url = rig.db->url();
    options.poll_interval = 100ms;
    options.lock_retry = 100ms;
    projections::ProjectionRunner runner(*projection, options);
    runner.Start();
    rig.Created("X1", 701, "extra");
    rig.Observed("X1", pb::OBSERVED_STATUS_PAID);
    rig.Created("X2", 702, "extra");
    rig.Observed("X2", pb::OBSERVED_STATUS_PAID);
    REQUIRE(WaitUntil(
        [&] {
          auto [checkpoint, head] = rig.PaymentsCheckpointAndHead();
          return checkpoint == head;
        },
        30s));
    runner.Stop();
  }
  const int64_t folded = rig.PaymentsCheckpointAndHead().first;
  rig.Observed("X2", pb::OBSERVED_STATUS_REFUNDED);  // the projection still says paid
  std::map<int64_t, std::string> parents;
  for (int64_t chat : {701, 702, 703, 704, 705}) {
    const std::string txid = absl::StrCat("P", chat);
    parents[chat] = rig.Created(txid, chat, "vip");
    rig.Observed(txid, pb::OBSERVED_STATUS_PAID);
  }
  rig.Created("X3", 703, "extra");  // bought after the projection stopped
  rig.Observed("X3", pb::OBSERVED_STATUS_PAID);
  rig.Created("X4", 799, "extra");  // someone else bought it
  rig.Observed("X4", pb::OBSERVED_STATUS_PAID);
  rig.Created("X5", 705, "extra");  // asked for, never paid
  REQUIRE(rig.PaymentsCheckpointAndHead().first == folded);

  REQUIRE(WaitUntil([&] { return rig.Timers("true") == 5; }, 30s));
  rig.clock.Advance(10 * 60 * kSecond);
  rig.worker->Wake();
  REQUIRE(WaitUntil([&] { return rig.Timers("state = 'scheduled'") == 0; }, 30s));
  CHECK(rig.Decision(parents[701], "up1") == "cancelled: buyer already has the product");
  CHECK(rig.Decision(parents[702], "up1") == "sent");  // refunded after the projection stopped
  CHECK(rig.Decision(parents[703], "up1") == "cancelled: buyer already has the product");
  CHECK(rig.Decision(parents[704], "up1") == "sent");
  CHECK(rig.Decision(parents[705], "up1") == "sent");

  // The lookup itself: the payment that owns it; none for others; and a projection further
  // behind than allowed is an error to retry, not a guess.
  ledger::ConnectionPool readers(rig.db->url(), ledger::Session::kService, 1);
  auto owner = [&](int64_t chat) {
    return ProductOwner{0, rig.tenant_id, "7501", absl::StrCat("tg:", chat), "extra"};
  };
  auto found = PaymentOwningProduct(readers, *rig.store, owner(701));
  REQUIRE(found.ok());
  CHECK(*found == "payment-stripe-X1");
  found = PaymentOwningProduct(readers, *rig.store, owner(703));
  REQUIRE(found.ok());
  CHECK(*found == "payment-stripe-X3");
  for (int64_t chat : {702, 704, 705}) {
    found = PaymentOwningProduct(readers, *rig.store, owner(chat));
    REQUIRE(found.ok());
    CHECK_MESSAGE(found->empty(), chat);
  }
  found = PaymentOwningProduct(readers, *rig.store, owner(701), /*max_unfolded_events=*/5);
  CHECK(found.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tally::reactors
