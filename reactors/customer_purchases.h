#pragma once
// Does a buyer already own a product? The upsell timer asks before offering it (issue 10: "buyer
// has not bought the offer's product").
//
// The answer is exact as of the log when it is asked, although it starts from the payments
// projection, which may lag the log:
//  1. In one snapshot, the payments projection's checkpoint C for the partition and the
//     payment streams its view lists for (tenant, bot, customer, product), whatever their
//     status then. A projection not initialized yet has C = 0 and lists nothing.
//  2. The log after C (what the projection has not folded) is read for PaymentCreated events of
//     that buyer and product; their streams are added. A stream created at or before C is in
//     the view's list, so every payment of the buyer for the product is now a candidate.
//  3. Each candidate stream is folded from the log (projections/payment_fold.h), so a payment
//     paid or refunded after C counts as it is now.
// Owned means paid and confirmed, neither refunded nor charged back.
//
// Cost: the view has no index on the customer, so step 1 scans the partition's payment rows;
// step 2 reads at most `max_unfolded_events` events — a projection further behind (stopped, or
// its table dropped) makes the answer Unavailable rather than a guess, and the caller retries.
// Payments of one tenant share a partition, so only that partition is read.
//
// Thread-safe: connections come from the pool, reads from the store.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "ledger/connection_pool.h"
#include "ledger/event_store.h"

namespace tally::reactors {

struct ProductOwner {
  int partition = 0;
  std::string tenant_id;
  std::string bot_id;
  std::string customer_id;
  std::string product_id;
};

// The stream id of one payment by which `owner` owns the product, or "" when none does.
// Unavailable when the projection is more than `max_unfolded_events` behind; another error
// when the database or the log cannot be read.
absl::StatusOr<std::string> PaymentOwningProduct(ledger::ConnectionPool& readers,
                                                 ledger::EventStore& store,
                                                 const ProductOwner& owner,
                                                 int64_t max_unfolded_events = 20'000);

}  // namespace tally::reactors
