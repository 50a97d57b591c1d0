#pragma once
// State as of a time: what a projection said at time T, for auditors (`tally audit as-of`,
// GET /v1/audit/as-of).
//
// Per partition, the cut is the last position whose event was recorded at or before T
// (events.recorded_at, set by the appender); the log is folded from position 1 up to each cut
// with the projection's own fold (ProjectionFold: Apply every event, then AllRows), exactly as a
// rebuild folds it, so the rows are those the live tables held once they had folded up to the
// cut. Events appended later do not change the cuts, so the answer for a T in the past never
// changes. The log is read in bulk (COPY binary); the fold is held in memory, as in a rebuild.
//
// With a tenant, only the tenant's partition is read and only rows whose tenant_id is the
// tenant's are kept. Thread-safe (no shared state); blocks on the database.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "projections/projection.h"
#include "projections/table.h"

namespace tally::projections {

// The views as-of serves: "payments" (the payments table) and "revenue" (revenue_daily).
inline constexpr char kAsOfViews[] = "payments, revenue";

struct AsOfCut {
  int partition = 0;
  int64_t position = 0;        // 0: nothing was recorded in the partition by then
  int64_t recorded_at_us = 0;  // of the event at `position` (0 when position is 0)
};

struct AsOfState {
  std::string view;
  int64_t time_us = 0;
  std::string tenant_id;  // "" for every tenant
  std::vector<AsOfCut> cuts;
  TableSpec table;
  std::vector<Row> rows;  // in key order
  int64_t events_folded = 0;
};

// RFC 3339 with a zone ("2026-11-22T10:00:00Z", "2026-11-22T07:00:00.5-03:00") to microseconds
// since the epoch; InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseAsOfTime(const std::string& text);

// InvalidArgument for a view other than kAsOfViews; the database's errors otherwise.
absl::StatusOr<AsOfState> FoldAsOf(const std::string& database_url, const std::string& view,
                                   int64_t time_us, const std::string& tenant_id);

// {"view","time","tenant_id" (null for every tenant),"events_folded",
//  "cuts":[{"partition","position","recorded_at"}],"rows":[{<column>: <value>, ...}]}:
// integers as numbers, booleans as true/false, NULL as null, timestamps RFC 3339 UTC strings,
// dates "YYYY-MM-DD", text as strings. Revenue rows carry net_minor (paid - refunded) like the
// revenue_daily view.
std::string AsOfJson(const AsOfState& state);

}  // namespace tally::projections
