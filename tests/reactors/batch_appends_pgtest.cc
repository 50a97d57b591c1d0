// BatchAppends on real PostgreSQL: appends started during a batch are all durable when Settle
// returns OK, a stream is Pending until then, a repeated key is no error, and a failed append
// is Settle's answer, once.

#include "reactors/batch_appends.h"

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"

#include "tests/support/pg.h"

namespace tally::reactors {
namespace {

using ledger::ExpectedVersion;
using testing::PaymentCreatedEvent;
using testing::Request;

TEST_CASE("a batch's appends are durable once Settle returns, and Pending until then") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  BatchAppends appends(*store);
  for (int i = 0; i < 50; ++i) {
    appends.Start(
        0, Request("t1", absl::StrCat("payment-stripe-pi_", i), ExpectedVersion::Any(),
                   {PaymentCreatedEvent(absl::StrCat("m", i))}, absl::StrCat("decision:", i)));
  }
  CHECK(appends.Pending(0, "payment-stripe-pi_7"));
  CHECK_FALSE(appends.Pending(0, "payment-stripe-pi_50"));
  CHECK_FALSE(appends.Pending(1, "payment-stripe-pi_7"));  // another partition's batch
  REQUIRE(appends.Settle(0).ok());
  CHECK_FALSE(appends.Pending(0, "payment-stripe-pi_7"));  // the batch ended
  for (int i = 0; i < 50; ++i) {
    auto events = store->ReadStream("t1", absl::StrCat("payment-stripe-pi_", i));
    REQUIRE(events.ok());
    CHECK(events->size() == 1);
  }

  // The same keys again (a batch handed again): nothing new, and no error.
  for (int i = 0; i < 50; ++i) {
    appends.Start(
        0, Request("t1", absl::StrCat("payment-stripe-pi_", i), ExpectedVersion::Any(),
                   {PaymentCreatedEvent(absl::StrCat("m", i))}, absl::StrCat("decision:", i)));
  }
  REQUIRE(appends.Settle(0).ok());
  for (int i = 0; i < 50; ++i) {
    CHECK(store->ReadStream("t1", absl::StrCat("payment-stripe-pi_", i))->size() == 1);
  }
  CHECK(appends.Settle(0).ok());  // nothing started: nothing to wait for
}

TEST_CASE("a failed append is Settle's answer, once") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  BatchAppends appends(*store);
  appends.Start(
      0, Request("t1", "payment-stripe-pi_1", ExpectedVersion::Any(), {PaymentCreatedEvent("ok")}));
  // A version conflict: the stream exists.
  appends.Start(0, Request("t1", "payment-stripe-pi_1", ExpectedVersion::NoStream(),
                           {PaymentCreatedEvent("conflict")}));
  const absl::Status settled = appends.Settle(0);
  CHECK_FALSE(settled.ok());
  CHECK(appends.Settle(0).ok());
}

}  // namespace
}  // namespace tally::reactors
