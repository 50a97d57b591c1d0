// Property: whatever the interleaving of requested / failed / succeeded (with or without an
// event id) / duplicated events, "purchase sent" is never true without a Meta event id, and
// once sent it stays sent with the first successful id.

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"

#include "projections/purchase_fold.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::projections {
namespace {

namespace pb = payments::v1;

ledger::RecordedEvent RandomEvent(std::mt19937& random, int64_t position) {
  ledger::RecordedEvent event;
  event.position = position;
  event.recorded_at_us = 1795000000000000 + position;
  switch (std::uniform_int_distribution<int>(0, 4)(random)) {
    case 0: {
      pb::MetaPurchaseRequested requested;
      requested.set_event_id("pv-1");
      event.type = "tally.payments.v1.MetaPurchaseRequested";
      event.payload = requested.SerializeAsString();
      break;
    }
    case 1: {
      pb::MetaPurchaseFailed failed;
      failed.set_attempt(static_cast<int>(position));
      failed.set_error("(#4) Application request limit reached");
      event.type = "tally.payments.v1.MetaPurchaseFailed";
      event.payload = failed.SerializeAsString();
      break;
    }
    case 2: {
      pb::MetaPurchaseSucceeded succeeded;  // a good success
      succeeded.set_event_id(absl::StrCat("pv-", position));
      succeeded.set_events_received(1);
      event.type = "tally.payments.v1.MetaPurchaseSucceeded";
      event.payload = succeeded.SerializeAsString();
      break;
    }
    case 3: {
      pb::MetaPurchaseSucceeded succeeded;  // a malformed "success": no id or nothing received
      if (random() % 2) succeeded.set_event_id("pv-x");
      event.type = "tally.payments.v1.MetaPurchaseSucceeded";
      event.payload = succeeded.SerializeAsString();
      break;
    }
    default:
      event.type = "tally.payments.v1.DeliveryAccessed";  // not a purchase event
      event.payload = pb::DeliveryAccessed().SerializeAsString();
  }
  return event;
}

TEST_CASE("purchase sent never exists without the Meta event id") {
  std::mt19937 random(20261122);
  int ended_sent = 0;
  for (int run = 0; run < 5000; ++run) {
    std::vector<ledger::RecordedEvent> events;
    const int n = std::uniform_int_distribution<int>(1, 12)(random);
    for (int i = 0; i < n; ++i) {
      events.push_back(RandomEvent(random, i + 1));
      // Duplicated deliveries of the same event.
      if (random() % 4 == 0) events.push_back(events.back());
    }
    std::shuffle(events.begin(), events.end(), random);
    PurchaseState state;
    std::string first_id;
    for (const auto& event : events) {
      auto effect = ApplyPurchaseEvent(state, event);
      REQUIRE(effect.ok());
      CHECK((!state.sent || !state.meta_event_id.empty()));
      CHECK((state.sent == (state.state == "sent")));
      if (state.sent && first_id.empty()) first_id = state.meta_event_id;
      if (!first_id.empty()) CHECK(state.meta_event_id == first_id);
    }
    if (state.sent) ++ended_sent;
  }
  // The generator really produces both outcomes.
  CHECK(ended_sent > 1000);
  CHECK(ended_sent < 4900);
}

}  // namespace
}  // namespace tally::projections
