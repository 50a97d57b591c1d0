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

}  // namespace
}  // namespace tally::projections
