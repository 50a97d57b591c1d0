// BatchAppends on real PostgreSQL: appends started during a batch are all durable when Settle
// returns OK, a stream is Pending until then, a repeated key is no error, and a failed append
// is Settle's answer, once; Settle names the appends that wrote something new.

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
  std::vector<BatchAppends::Written> written;
  REQUIRE(appends.Settle(0, &written).ok());
  CHECK_FALSE(appends.Pending(0, "payment-stripe-pi_7"));  // the batch ended
  CHECK(written.size() == 50);  // each wrote something new: each is named
  for (const BatchAppends::Written& w : written) {
    CHECK(w.tenant_id == "t1");
    CHECK(w.stream_id.rfind("payment-stripe-pi_", 0) == 0);
    CHECK_FALSE(w.payload.empty());
  }
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
  REQUIRE(appends.Settle(0, &written).ok());
  CHECK(written.empty());  // repeated keys wrote nothing: none is named
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
