// PaymentStates on real PostgreSQL: the state it folds as events pass is, at every event, the
// state of the stream read back through that event — from the first event on, when it starts
// mid-way, when a batch is handed again, and when streams are evicted.

#include "reactors/payment_states.h"

#include <doctest/doctest.h>

#include "app/lifecycle_generator.h"
#include "projections/payment_fold.h"
#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

// The payment streams' events of the log, in position order.
std::vector<ledger::RecordedEvent> PaymentEvents(ledger::EventStore& store) {
  std::vector<ledger::RecordedEvent> out;
  int64_t after = 0;
  while (true) {
    auto events = store.ReadPartition(0, after, 1000);
    REQUIRE(events.ok());
    if (events->empty()) return out;
    for (auto& e : *events) {
      after = e.position;
      if (projections::IsPaymentStream(e.stream_id)) out.push_back(std::move(e));
    }
  }
}

// The stream's state through `event`, folded from a fresh read.
projections::PaymentState ReadBack(ledger::EventStore& store, const ledger::RecordedEvent& event) {
  auto events = store.ReadStreamInPartition(event.partition, event.stream_id);
  REQUIRE(events.ok());
  projections::PaymentState state;
  for (const auto& e : *events) {
    if (e.stream_version > event.stream_version) break;
    REQUIRE(projections::ApplyPaymentEvent(state, e).ok());
  }
  return state;
}

void CheckSame(const projections::PaymentState& folded, const projections::PaymentState& read) {
  CHECK(folded.last_position == read.last_position);
  CHECK(projections::StatusName(folded.status) ==
        std::string(projections::StatusName(read.status)));
  CHECK(folded.paid_confirmed == read.paid_confirmed);
  CHECK(folded.created == read.created);
  CHECK(folded.delivery_state == read.delivery_state);
  CHECK(folded.purchase.state == read.purchase.state);
  CHECK(folded.payment_id == read.payment_id);
}

struct Log {
  std::unique_ptr<ledger::ScratchDatabase> db = testing::NewDatabase();
  std::unique_ptr<ledger::EventStore> store = testing::OpenStore(db->url());
  std::vector<ledger::RecordedEvent> events;

  Log() {
    app::LifecycleGenerator generator(11, 3);
    for (const auto& tenant : generator.Tenants()) {
      REQUIRE(store
                  ->Append({tenant.tenant_id, tenant.stream_id, ledger::ExpectedVersion::Any(),
                            tenant.events, ""})
                  .ok());
    }
    // Lifecycles interleaved event by event, as payments overlap in a live log.
    std::vector<app::Lifecycle> lives;
    for (int n = 0; n < 40; ++n) lives.push_back(generator.Payment(n));
    for (size_t i = 0;; ++i) {
      bool any = false;
      for (const auto& life : lives) {
        if (i >= life.events.size()) continue;
        any = true;
        REQUIRE(store
                    ->Append({life.tenant_id,
                              life.stream_id,
                              ledger::ExpectedVersion::Any(),
                              {life.events[i]},
                              ""})
                    .ok());
      }
      if (!any) break;
    }
    events = PaymentEvents(*store);
    REQUIRE(events.size() > 100);
  }
};

TEST_CASE("payment states folded as events pass equal the stream read back through each event") {
  Log log;
  PaymentStates states(*log.store);
  for (const auto& event : log.events) {
    auto folded = states.Through(event);
    REQUIRE(folded.ok());
    CheckSame(*folded, ReadBack(*log.store, event));
  }
}

TEST_CASE("payment states started mid-way, handed a batch again, or evicting, still agree") {
  Log log;
  SUBCASE("started mid-way: streams first seen after their first event are read") {
    PaymentStates states(*log.store);
    for (size_t i = log.events.size() / 2; i < log.events.size(); ++i) {
      auto folded = states.Through(log.events[i]);
      REQUIRE(folded.ok());
      CheckSame(*folded, ReadBack(*log.store, log.events[i]));
    }
  }
  SUBCASE("a batch handed again after a rollback") {
    PaymentStates states(*log.store);
    const size_t batch = 25;
    for (size_t from = 0; from < log.events.size(); from += batch) {
      const size_t to = std::min(log.events.size(), from + batch);
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = from; i < to; ++i) {
          auto folded = states.Through(log.events[i]);
          REQUIRE(folded.ok());
          CheckSame(*folded, ReadBack(*log.store, log.events[i]));
        }
      }
    }
  }
  SUBCASE("room for two streams only") {
    PaymentStates states(*log.store, 2);
    for (const auto& event : log.events) {
      auto folded = states.Through(event);
      REQUIRE(folded.ok());
      CheckSame(*folded, ReadBack(*log.store, event));
    }
  }
}

}  // namespace
}  // namespace tally::reactors
