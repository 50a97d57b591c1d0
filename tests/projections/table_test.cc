// Text forms written to projection tables.

#include <doctest/doctest.h>

#include "absl/time/time.h"
#include "projections/payment_row.h"
#include "projections/table.h"

namespace tally::projections {
namespace {

TEST_CASE("timestamps format as absl does and parse back") {
  for (int64_t micros : {int64_t{1}, int64_t{1795000000000000}, int64_t{1795000000123456},
                         int64_t{951782400000000} /* 2000-02-29 */, int64_t{-1000000},
                         int64_t{4102444799999999} /* 2099-12-31 23:59:59.999999 */}) {
    INFO(micros);
    const std::string expected = absl::FormatTime(
        "%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(micros), absl::UTCTimeZone());
    CHECK(*TimestampOrNull(micros) == expected);
    CHECK(ParseTimestamp(TimestampOrNull(micros)) == micros);
  }
  CHECK_FALSE(TimestampOrNull(0).has_value());
  CHECK(ParseTimestamp("2026-11-18 11:06:40+00") == 1795000000000000);
  CHECK(ParseTimestamp("2026-11-18 11:06:40.5+00") == 1795000000500000);
}

TEST_CASE("a stored payment row reads back exactly, or fails naming the column") {
  PaymentState state;
  state.partition = 3;
  state.stream_id = "payment-stripe-tx1";
  state.amount_minor = 4990;
  state.status = PaymentStatus::kPaid;
  state.paid_confirmed = true;
  state.paid_at_us = 1795000000123456;
  const Row row = EncodePayment(state);
  auto decoded = DecodePayment(row);
  REQUIRE(decoded.ok());
  CHECK(EncodePayment(*decoded) == row);

  auto corrupt = [&](size_t column, std::optional<std::string> value) {
    Row changed = row;
    changed[column] = std::move(value);
    return DecodePayment(changed).status();
  };
  CHECK(corrupt(11, "49x0").message() == "amount_minor is not an integer: \"49x0\"");
  CHECK(corrupt(11, "49x0").code() == absl::StatusCode::kDataLoss);
  CHECK(corrupt(16, "yes").message() == "paid_confirmed is not a boolean: \"yes\"");
  CHECK(corrupt(14, "payed").message() == "status is not a payment status: \"payed\"");
  CHECK(corrupt(19, "yesterday").message() == "paid_at is not a timestamp: \"yesterday\"");
  CHECK(corrupt(11, std::nullopt).ok());  // NULL reads as 0, as written for 0 timestamps
  Row short_row(row.begin(), row.begin() + 10);
  CHECK(DecodePayment(short_row).status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tally::projections
