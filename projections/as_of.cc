#include "projections/as_of.h"

#include <algorithm>

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ledger/database.h"
#include "ledger/event_json.h"
#include "ledger/event_store.h"
#include "ledger/log_scan.h"

namespace tally::projections {
namespace {

// The last event of a partition recorded at or before the time. Read from the head down the
// primary key, so the cost is the events recorded after the time (the fold reads those before).
// Not a binary search: recorded_at only never goes backwards within one appender, and several
// processes append to a partition.
constexpr char kCutSql[] =
    "SELECT position, (extract(epoch FROM recorded_at) * 1000000)::bigint FROM events "
    "WHERE partition_id = $1 AND recorded_at <= $2::timestamptz ORDER BY position DESC LIMIT 1";

absl::StatusOr<std::unique_ptr<Projection>> ProjectionOf(const std::string& view) {
  if (view == "payments") return NewPaymentsProjection();
  if (view == "revenue") return NewRevenueProjection();
  return absl::InvalidArgumentError(
      absl::StrCat("view: unknown view \"", view, "\" (", kAsOfViews, ")"));
}

absl::StatusOr<std::vector<AsOfCut>> FindCuts(const std::string& database_url, int64_t time_us,
                                              const std::string& tenant_id) {
  auto conn = ledger::Connect(database_url, ledger::Session::kService);
  if (!conn.ok()) return conn.status();
  try {
    pqxx::read_transaction txn(**conn);
    std::vector<int> partitions;
    for (const auto& row :
         txn.exec("SELECT partition_id FROM ledger_heads ORDER BY partition_id")) {
      partitions.push_back(row[0].as<int>());
    }
    if (partitions.empty()) {
      return absl::FailedPreconditionError("the log has no partitions: run tally migrate");
    }
    if (!tenant_id.empty()) {
      partitions = {ledger::PartitionForKey(tenant_id, static_cast<int>(partitions.size()))};
    }
    std::vector<AsOfCut> cuts;
    const std::string time = ledger::FormatMicros(time_us);
    for (int partition : partitions) {
      AsOfCut cut;
      cut.partition = partition;
      pqxx::result rows = txn.exec_params(kCutSql, partition, time);
      if (!rows.empty()) {
        cut.position = rows[0][0].as<int64_t>();
        cut.recorded_at_us = rows[0][1].as<int64_t>();
      }
      cuts.push_back(cut);
    }
    return cuts;
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "finding the as-of cut");
  }
}

bool KeyLess(size_t key_columns, const Row& a, const Row& b) {
  for (size_t i = 0; i < key_columns && i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) return a[i] < b[i];
  }
  return false;
}

std::string JsonValue(const Column& column, const std::optional<std::string>& value) {
  if (!value.has_value()) return "null";
  if (column.type == "bigint" || column.type == "int") {
    int64_t number = 0;
    if (absl::SimpleAtoi(*value, &number)) return std::to_string(number);
  }
  if (column.type == "boolean") return *value == "t" ? "true" : "false";
  return ledger::JsonQuote(*value);
}

}  // namespace

absl::StatusOr<int64_t> ParseAsOfTime(const std::string& text) {
  absl::Time time;
  std::string error;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time: \"", text, "\" is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)",
                     error.empty() ? "" : ": ", error));
  }
  return absl::ToUnixMicros(time);
}

absl::StatusOr<AsOfState> FoldAsOf(const std::string& database_url, const std::string& view,
                                   int64_t time_us, const std::string& tenant_id) {
  auto projection = ProjectionOf(view);
  if (!projection.ok()) return projection.status();
  AsOfState state;
  state.view = view;
  state.time_us = time_us;
  state.tenant_id = tenant_id;
  auto cuts = FindCuts(database_url, time_us, tenant_id);
  if (!cuts.ok()) return cuts.status();
  state.cuts = *std::move(cuts);

  std::vector<ledger::ScanRange> ranges;
  for (const AsOfCut& cut : state.cuts) {
    if (cut.position > 0) ranges.push_back({cut.partition, 0, cut.position});
  }
  std::unique_ptr<ProjectionFold> fold = (*projection)->NewFold();
  if (!ranges.empty()) {
    auto raw = ledger::ConnectRaw(database_url, ledger::Session::kService);
    if (!raw.ok()) return raw.status();
    absl::Status scanned =
        ledger::ScanLog(raw->get(), ranges, [&](ledger::RecordedEvent&& event) -> absl::Status {
          ++state.events_folded;
          absl::Status applied = fold->Apply(event);
          if (applied.ok()) return applied;
          return absl::Status(applied.code(),
                              absl::StrCat("partition ", event.partition, " position ",
                                           event.position, ": ", applied.message()));
        });
    if (!scanned.ok()) return scanned;
  }

  state.table = (*projection)->tables().front();
  std::vector<Row> rows = std::move(fold->AllRows().front());
  if (!tenant_id.empty()) {
    size_t tenant_column = 0;
    while (tenant_column < state.table.columns.size() &&
           state.table.columns[tenant_column].name != "tenant_id") {
      ++tenant_column;
    }
    std::erase_if(rows, [&](const Row& row) {
      return tenant_column >= row.size() || row[tenant_column] != tenant_id;
    });
  }
  const size_t key_columns = state.table.key_columns;
  std::sort(rows.begin(), rows.end(),
            [key_columns](const Row& a, const Row& b) { return KeyLess(key_columns, a, b); });
  state.rows = std::move(rows);
  return state;
}

std::string AsOfJson(const AsOfState& state) {
  std::string out = absl::StrCat(
      "{\"view\":", ledger::JsonQuote(state.view),
      ",\"time\":", ledger::JsonQuote(ledger::FormatMicros(state.time_us)),
      ",\"tenant_id\":", state.tenant_id.empty() ? "null" : ledger::JsonQuote(state.tenant_id),
      ",\"events_folded\":", state.events_folded, ",\"cuts\":[");
  for (size_t i = 0; i < state.cuts.size(); ++i) {
    const AsOfCut& cut = state.cuts[i];
    absl::StrAppend(
        &out, i == 0 ? "" : ",", "{\"partition\":", cut.partition, ",\"position\":", cut.position,
        ",\"recorded_at\":",
        cut.position == 0 ? "null" : ledger::JsonQuote(ledger::FormatMicros(cut.recorded_at_us)),
        "}");
  }
  out += "],\"rows\":[";
  const std::vector<Column>& columns = state.table.columns;
  const bool revenue = state.table.base == "revenue_daily";
  for (size_t r = 0; r < state.rows.size(); ++r) {
    const Row& row = state.rows[r];
    out += r == 0 ? "{" : ",{";
    int64_t paid = 0, refunded = 0;
    for (size_t c = 0; c < columns.size() && c < row.size(); ++c) {
      absl::StrAppend(&out, c == 0 ? "" : ",", ledger::JsonQuote(columns[c].name), ":",
                      JsonValue(columns[c], row[c]));
      if (columns[c].name == "paid_minor") (void)absl::SimpleAtoi(row[c].value_or("0"), &paid);
      if (columns[c].name == "refunded_minor") {
        (void)absl::SimpleAtoi(row[c].value_or("0"), &refunded);
      }
    }
    if (revenue) absl::StrAppend(&out, ",\"net_minor\":", paid - refunded);
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace tally::projections
