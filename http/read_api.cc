#include "http/read_api.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "http/payment_view.h"
#include "http/query_params.h"
#include "ledger/event_json.h"
#include "ledger/event_registry.h"
#include "ledger/event_rows.h"
#include "projections/payment_row.h"

namespace tally::http {
namespace {

constexpr char kDefaultZone[] = "America/Sao_Paulo";
constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 500;
constexpr int kMaxHistory = 1000;
constexpr int kDefaultDays = 30;
constexpr int kMaxDays = 3660;

// The payments projection's status words (projections::StatusName), for the status filter.
const std::vector<std::string>& StatusNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (int s = static_cast<int>(projections::PaymentStatus::kUnknown);
         s <= static_cast<int>(projections::PaymentStatus::kAbandoned); ++s) {
      all.push_back(projections::StatusName(static_cast<projections::PaymentStatus>(s)));
    }
    return all;
  }();
  return names;
}

HttpResponse BadParameter(const std::string& message) {
  return JsonError(400, "invalid_parameter", message);
}

HttpResponse BadParameter(const absl::Status& status) {
  return BadParameter(std::string(status.message()));
}

// A confirmed sale, as revenue_daily counts one.
constexpr char kSaleCondition[] =
    "paid_confirmed AND status IN ('paid', 'refunded', 'charged_back')";
constexpr char kSaleAmount[] =
    "CASE WHEN paid_amount_minor <> 0 THEN paid_amount_minor ELSE amount_minor END";

struct Tenant {
  std::string id;
  int partition = 0;
  std::string zone_name = kDefaultZone;
  absl::TimeZone zone;
};

// The tenant's time zone name as revenue_daily keeps it (TenantCreated); "" when unknown.
std::string LoadZoneName(pqxx::transaction_base& txn, const std::string& tenant_id) {
  pqxx::result zone = txn.exec_params(
      "SELECT time_zone FROM revenue_daily_tenants WHERE tenant_id = $1", tenant_id);
  return zone.empty() || zone[0][0].is_null() ? "" : zone[0][0].as<std::string>();
}

Tenant MakeTenant(const std::string& tenant_id, int partition, const std::string& zone_name) {
  Tenant tenant;
  tenant.id = tenant_id;
  tenant.partition = partition;
  if (!zone_name.empty()) tenant.zone_name = zone_name;
  if (!absl::LoadTimeZone(tenant.zone_name, &tenant.zone)) {
    tenant.zone_name = kDefaultZone;
    (void)absl::LoadTimeZone(kDefaultZone, &tenant.zone);
  }
  return tenant;
}

// An RFC 3339 time, or a date meaning its start in `zone`; microseconds since the epoch.
absl::StatusOr<int64_t> ParseBound(const std::string& name, const std::string& value,
                                   const absl::TimeZone& zone) {
  absl::CivilDay day;
  if (value.size() == 10 && absl::ParseCivilTime(value, &day)) {
    return absl::ToUnixMicros(absl::FromCivil(day, zone));
  }
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, value, &time, &error)) {
    return absl::ToUnixMicros(time);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": not an RFC 3339 time or a YYYY-MM-DD date: \"", value, "\""));
}

// from/to dates (inclusive) of revenue and stats.
struct DayRange {
  absl::CivilDay from, to;
};

absl::StatusOr<DayRange> ParseDays(const QueryParams& query, const Tenant& tenant,
                                   const ledger::Clock& clock) {
  const absl::CivilDay today =
      absl::ToCivilDay(absl::FromUnixMicros(clock.NowMicros()), tenant.zone);
  DayRange range{today - (kDefaultDays - 1), today};
  for (const char* name : {"from", "to"}) {
    std::optional<std::string> value = query.Get(name);
    if (!value.has_value()) continue;
    absl::CivilDay day;
    if (value->size() != 10 || !absl::ParseCivilTime(*value, &day)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": not a YYYY-MM-DD date: \"", *value, "\""));
    }
    (std::string(name) == "from" ? range.from : range.to) = day;
  }
  if (!query.Get("from").has_value() && query.Get("to").has_value()) {
    range.from = range.to - (kDefaultDays - 1);
  }
  if (range.from > range.to) return absl::InvalidArgumentError("from: after to");
  if (range.to - range.from >= kMaxDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("from: more than ", kMaxDays, " days before to"));
  }
  return range;
}

std::string Quote(const std::string& s) { return ledger::JsonQuote(s); }

// The cursor: the listing order's values of the last payment of a page.
struct Cursor {
  std::string first_seen;  // RFC 3339
  int partition = 0;
  std::string stream_id;
};

std::string EncodeCursor(const pqxx::field& first_seen_text, const pqxx::field& partition,
                         const pqxx::field& stream) {
  const int64_t micros =
      projections::ParseTimestamp(std::optional<std::string>(first_seen_text.c_str()));
  return absl::WebSafeBase64Escape(
      absl::StrCat("c1\n", micros, "\n", partition.c_str(), "\n", stream.c_str()));
}

absl::StatusOr<Cursor> DecodeCursor(const std::string& text) {
  std::string raw;
  const auto bad = absl::InvalidArgumentError("cursor: not a cursor this API gave");
  if (!absl::WebSafeBase64Unescape(text, &raw)) return bad;
  std::vector<std::string> parts = absl::StrSplit(raw, absl::MaxSplits('\n', 3));
  int64_t micros = 0;
  Cursor cursor;
  if (parts.size() != 4 || parts[0] != "c1" || !absl::SimpleAtoi(parts[1], &micros) ||
      micros <= 0 || !absl::SimpleAtoi(parts[2], &cursor.partition) || cursor.partition < 0 ||
      parts[3].empty()) {
    return bad;
  }
  cursor.first_seen = ledger::FormatMicros(micros);
  cursor.stream_id = parts[3];
  return cursor;
}

// A WHERE clause over one tenant's rows ($1 is the tenant) and its parameters.
struct Filter {
  explicit Filter(const std::string& tenant) : params{tenant} {}
  // Appends " AND <before>$N<after>", $N bound to `value`.
  void And(const std::string& before, const std::string& value, const std::string& after = "") {
    params.push_back(value);
    absl::StrAppend(&where, " AND ", before, "$", params.size(), after);
  }
  std::string where = "tenant_id = $1";
  std::vector<std::string> params;
};

class Reader {
 public:
  Reader(pqxx::transaction_base& txn, const Tenant& tenant, const QueryParams& query,
         const ledger::Clock& clock)
      : txn_(txn), tenant_(tenant), query_(query), clock_(clock) {}

  HttpResponse ListPayments() {
    if (absl::Status s = query_.Only({"status", "gateway", "bot_id", "product_id", "created_from",
                                      "created_to", "paid_from", "paid_to", "limit", "cursor"});
        !s.ok()) {
      return BadParameter(std::string(s.message()));
    }
    Filter filter(tenant_.id);
    if (absl::Status s = FilterStatus(filter, StatusNames()); !s.ok()) return BadParameter(s);
    FilterEquals(filter, {"gateway", "bot_id", "product_id"});
    if (absl::Status s = FilterTimes(filter, {{"created_from", "first_seen_at >= "},
                                              {"created_to", "first_seen_at < "},
                                              {"paid_from", "paid_at >= "},
                                              {"paid_to", "paid_at < "}});
        !s.ok()) {
      return BadParameter(s);
    }
    return Page("payments", kPaymentViewColumns, "payments", "first_seen_at", std::move(filter),
                PaymentViewJson);
  }

  HttpResponse ListLeads() {
    if (absl::Status s = query_.Only({"bot_id", "started_from", "started_to", "limit", "cursor"});
        !s.ok()) {
      return BadParameter(std::string(s.message()));
    }
    Filter filter(tenant_.id);
    FilterEquals(filter, {"bot_id"});
    if (absl::Status s = FilterTimes(filter, {{"started_from", "first_started_at >= "},
                                              {"started_to", "first_started_at < "}});
        !s.ok()) {
      return BadParameter(s);
    }
    return Page("leads",
                "bot_id, telegram_user_id, first_name, username, start_payload, "
                "first_started_at, last_started_at, starts",
                "leads", "first_started_at", std::move(filter), [](const pqxx::row& r) {
                  return absl::StrCat(
                      "{\"bot_id\":", JsonText(r[0]), ",\"telegram_user_id\":", r[1].c_str(),
                      ",\"first_name\":", JsonText(r[2]), ",\"username\":", JsonText(r[3]),
                      ",\"start_payload\":", JsonText(r[4]),
                      ",\"first_started_at\":", JsonTime(r[5]),
                      ",\"last_started_at\":", JsonTime(r[6]), ",\"starts\":", r[7].c_str(), "}");
                });
  }

  HttpResponse ListSubscriptions() {
    if (absl::Status s = query_.Only({"status", "bot_id", "plan_id", "limit", "cursor"}); !s.ok()) {
      return BadParameter(std::string(s.message()));
    }
    Filter filter(tenant_.id);
    if (absl::Status s = FilterStatus(filter, {"active", "expired", "revoked"}); !s.ok()) {
      return BadParameter(s);
    }
    FilterEquals(filter, {"bot_id", "plan_id"});
    return Page("subscriptions",
                "subscription_id, bot_id, plan_id, customer_id, status, cancelled, started_at, "
                "ends_at, renewals, last_payment_id",
                "subscriptions", "started_at", std::move(filter), [](const pqxx::row& r) {
                  return absl::StrCat(
                      "{\"subscription_id\":", JsonText(r[0]), ",\"bot_id\":", JsonText(r[1]),
                      ",\"plan_id\":", JsonText(r[2]), ",\"customer_id\":", JsonText(r[3]),
                      ",\"status\":", JsonText(r[4]), ",\"cancelled\":", JsonFlag(r[5]),
                      ",\"started_at\":", JsonTime(r[6]), ",\"ends_at\":", JsonTime(r[7]),
                      ",\"renewals\":", r[8].c_str(), ",\"last_payment_id\":", JsonText(r[9]), "}");
                });
  }

  HttpResponse ShowPayment(const std::string& id, const ledger::EventRegistry& registry) {
    if (absl::Status s = query_.Only({}); !s.ok()) return BadParameter(std::string(s.message()));
    pqxx::result rows =
        id.rfind("payment-", 0) == 0
            ? txn_.exec_params(
                  absl::StrCat(
                      "SELECT ", kPaymentViewColumns,
                      ", partition_id, stream_id FROM payments WHERE partition_id = $1 AND "
                      "stream_id = $2 AND tenant_id = $3"),
                  tenant_.partition, id, tenant_.id)
            : txn_.exec_params(
                  absl::StrCat("SELECT ", kPaymentViewColumns,
                               ", partition_id, stream_id FROM payments WHERE tenant_id = $1 AND "
                               "payment_id = $2 ORDER BY first_seen_at LIMIT 1"),
                  tenant_.id, id);
    if (rows.empty()) {
      return JsonError(404, "payment_not_found", "no payment " + id + " of this tenant");
    }
    const pqxx::row& row = rows[0];
    std::string body = absl::StrCat("{\"payment\":", PaymentViewJson(row), ",\"history\":[");
    pqxx::result events =
        txn_.exec_params(absl::StrCat("SELECT ", ledger::kEventColumns,
                                      " FROM events WHERE partition_id = $1 AND stream_id = $2 "
                                      "ORDER BY stream_version LIMIT ",
                                      kMaxHistory),
                         row[26].as<int>(), row[27].as<std::string>());
    for (size_t i = 0; i < events.size(); ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",",
                      ledger::EventToJson(ledger::RecordedEventFromRow(events[i]), registry));
    }
    body += "]}";
    return {200, "application/json", std::move(body)};
  }

  HttpResponse Revenue() {
    if (absl::Status s = query_.Only({"from", "to", "group_by"}); !s.ok()) {
      return BadParameter(std::string(s.message()));
    }
    absl::StatusOr<DayRange> range = ParseDays(query_, tenant_, clock_);
    if (!range.ok()) return BadParameter(std::string(range.status().message()));
    static const std::map<std::string, std::pair<std::string, std::string>> kDimensions = {
        {"day", {"day", "day::text"}},
        {"bot", {"bot_id", "bot_id"}},
        {"gateway", {"gateway", "gateway"}},
        {"product", {"product_id", "product_id"}},
        {"origin", {"origin", "origin"}}};
    std::vector<std::string> group_by = {"day"};
    if (auto value = query_.Get("group_by")) group_by = absl::StrSplit(*value, ',');
    std::vector<std::string> names, columns;
    for (const std::string& d : group_by) {
      auto it = kDimensions.find(d);
      if (it == kDimensions.end()) {
        return BadParameter(absl::StrCat("group_by: unknown dimension \"", d,
                                         "\" (day, bot, gateway, product, origin)"));
      }
      if (std::find(names.begin(), names.end(), it->second.first) != names.end()) {
        return BadParameter(absl::StrCat("group_by: \"", d, "\" given twice"));
      }
      names.push_back(it->second.first);
      columns.push_back(it->second.second);
    }
    const std::string dims = absl::StrJoin(columns, ", ");
    pqxx::result rows = txn_.exec_params(
        absl::StrCat("SELECT ", dims,
                     ", currency, sum(paid_count), sum(paid_minor), sum(refunded_count), "
                     "sum(refunded_minor) FROM revenue_daily WHERE tenant_id = $1 AND day "
                     "BETWEEN $2::date AND $3::date GROUP BY ",
                     dims, ", currency ORDER BY ", dims, ", currency"),
        tenant_.id, absl::FormatCivilTime(range->from), absl::FormatCivilTime(range->to));
    std::map<std::string, std::array<int64_t, 4>> totals;
    std::string groups;
    for (const pqxx::row& row : rows) {
      std::string group = "{";
      for (size_t i = 0; i < names.size(); ++i) {
        absl::StrAppend(&group, i == 0 ? "" : ",", Quote(names[i]), ":",
                        JsonText(row[static_cast<pqxx::row::size_type>(i)]));
      }
      const auto c = static_cast<pqxx::row::size_type>(names.size());
      const std::string currency = row[c].as<std::string>();
      std::array<int64_t, 4> sums = {row[c + 1].as<int64_t>(), row[c + 2].as<int64_t>(),
                                     row[c + 3].as<int64_t>(), row[c + 4].as<int64_t>()};
      absl::StrAppend(&group, ",", Sums(currency, sums), "}");
      std::array<int64_t, 4>& total = totals[currency];
      for (int i = 0; i < 4; ++i) total[i] += sums[i];
      absl::StrAppend(&groups, groups.empty() ? "" : ",", group);
    }
    std::string totals_json;
    for (const auto& [currency, sums] : totals) {
      absl::StrAppend(&totals_json, totals_json.empty() ? "" : ",", "{", Sums(currency, sums), "}");
    }
    std::vector<std::string> quoted;
    for (const std::string& g : group_by) quoted.push_back(Quote(g));
    return {200, "application/json",
            absl::StrCat("{", RangeJson(*range), ",\"group_by\":[", absl::StrJoin(quoted, ","),
                         "],\"groups\":[", groups, "],\"totals\":[", totals_json, "]}")};
  }

  HttpResponse Stats() {
    if (absl::Status s = query_.Only({"from", "to"}); !s.ok()) {
      return BadParameter(std::string(s.message()));
    }
    absl::StatusOr<DayRange> range = ParseDays(query_, tenant_, clock_);
    if (!range.ok()) return BadParameter(std::string(range.status().message()));
    const std::string from = absl::FormatCivilTime(range->from);
    const std::string to = absl::FormatCivilTime(range->to);
    struct CurrencyStats {
      int64_t sales = 0, revenue = 0, refunded = 0, upsell = 0, downsell = 0, buyers = 0;
      std::map<std::string, std::pair<int64_t, int64_t>> by_gateway;
      std::array<std::pair<int64_t, int64_t>, 24> by_hour{};
    };
    std::map<std::string, CurrencyStats> stats;
    for (const pqxx::row& row : txn_.exec_params(
             "SELECT currency, gateway, origin, sum(paid_count), sum(paid_minor), "
             "sum(refunded_minor) FROM revenue_daily WHERE tenant_id = $1 AND day BETWEEN "
             "$2::date AND $3::date GROUP BY currency, gateway, origin",
             tenant_.id, from, to)) {
      CurrencyStats& s = stats[row[0].as<std::string>()];
      const int64_t sales = row[3].as<int64_t>(), paid = row[4].as<int64_t>();
      s.sales += sales;
      s.revenue += paid;
      s.refunded += row[5].as<int64_t>();
      const std::string origin = row[2].as<std::string>();
      if (origin == "upsell") s.upsell += paid;
      if (origin == "downsell") s.downsell += paid;
      auto& gateway = s.by_gateway[row[1].as<std::string>()];
      gateway.first += sales;
      gateway.second += paid;
    }
    // The paid-time window of those days, for what revenue_daily does not keep.
    const std::string start =
        ledger::FormatMicros(absl::ToUnixMicros(absl::FromCivil(range->from, tenant_.zone)));
    const std::string end =
        ledger::FormatMicros(absl::ToUnixMicros(absl::FromCivil(range->to + 1, tenant_.zone)));
    for (const pqxx::row& row : txn_.exec_params(
             absl::StrCat("SELECT currency, extract(hour FROM paid_at AT TIME ZONE $4)::int, "
                          "count(*), sum(",
                          kSaleAmount, ") FROM payments WHERE tenant_id = $1 AND ", kSaleCondition,
                          " AND paid_at >= $2::timestamptz AND paid_at < $3::timestamptz "
                          "GROUP BY 1, 2"),
             tenant_.id, start, end, tenant_.zone_name)) {
      const int hour = row[1].as<int>();
      if (hour < 0 || hour > 23) continue;
      auto& slot = stats[row[0].as<std::string>()].by_hour[hour];
      slot.first += row[2].as<int64_t>();
      slot.second += row[3].as<int64_t>();
    }
    for (const pqxx::row& row : txn_.exec_params(
             absl::StrCat("SELECT currency, count(DISTINCT customer_id) FROM payments WHERE "
                          "tenant_id = $1 AND ",
                          kSaleCondition,
                          " AND paid_at >= $2::timestamptz AND paid_at < $3::timestamptz "
                          "GROUP BY 1"),
             tenant_.id, start, end)) {
      stats[row[0].as<std::string>()].buyers = row[1].as<int64_t>();
    }
    // Conversion: distinct paying customers (any currency) over the leads that first pressed
    // /start in the same days.
    const int64_t leads =
        txn_.exec_params1(
                "SELECT count(*) FROM leads WHERE tenant_id = $1 AND first_started_at "
                ">= $2::timestamptz AND first_started_at < $3::timestamptz",
                tenant_.id, start, end)[0]
            .as<int64_t>();
    const int64_t buyers =
        txn_.exec_params1(absl::StrCat("SELECT count(DISTINCT customer_id) FROM payments WHERE "
                                       "tenant_id = $1 AND ",
                                       kSaleCondition,
                                       " AND paid_at >= $2::timestamptz AND paid_at < "
                                       "$3::timestamptz"),
                          tenant_.id, start, end)[0]
            .as<int64_t>();
    const std::string conversion =
        leads == 0 ? "null" : absl::StrFormat("%.4f", static_cast<double>(buyers) / leads);
    auto render = [](const std::string& currency, const CurrencyStats& s) {
      std::string out = absl::StrCat(
          "\"currency\":", Quote(currency), ",\"sales\":", s.sales,
          ",\"revenue_minor\":", s.revenue, ",\"refunded_minor\":", s.refunded,
          ",\"net_minor\":", s.revenue - s.refunded,
          ",\"average_ticket_minor\":", s.sales == 0 ? 0 : (s.revenue + s.sales / 2) / s.sales,
          ",\"upsell_revenue_minor\":", s.upsell, ",\"downsell_revenue_minor\":", s.downsell,
          ",\"paying_buyers\":", s.buyers, ",\"by_gateway\":[");
      bool first = true;
      for (const auto& [gateway, g] : s.by_gateway) {
        absl::StrAppend(&out, first ? "" : ",", "{\"gateway\":", Quote(gateway),
                        ",\"sales\":", g.first, ",\"revenue_minor\":", g.second, "}");
        first = false;
      }
      out += "],\"by_hour\":[";
      for (int h = 0; h < 24; ++h) {
        absl::StrAppend(&out, h == 0 ? "" : ",", "{\"hour\":", h, ",\"sales\":", s.by_hour[h].first,
                        ",\"revenue_minor\":", s.by_hour[h].second, "}");
      }
      return out + "]";
    };
    // The main currency: most sales, then the alphabet. BRL when there is none.
    std::string main = "BRL";
    int64_t most = -1;
    for (const auto& [currency, s] : stats) {
      if (s.sales > most) {
        most = s.sales;
        main = currency;
      }
    }
    std::string currencies;
    for (const auto& [currency, s] : stats) {
      absl::StrAppend(&currencies, currencies.empty() ? "" : ",", "{", render(currency, s), "}");
    }
    return {
        200, "application/json",
        absl::StrCat("{", RangeJson(*range), ",", render(main, stats[main]), ",\"leads\":", leads,
                     ",\"conversion\":", conversion, ",\"currencies\":[", currencies, "]}")};
  }

 private:
  // `status`: a comma list of words among `allowed`.
  absl::Status FilterStatus(Filter& filter, const std::vector<std::string>& allowed) const {
    auto status = query_.Get("status");
    if (!status.has_value()) return absl::OkStatus();
    for (absl::string_view word : absl::StrSplit(*status, ',')) {
      if (std::find(allowed.begin(), allowed.end(), word) == allowed.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "status: unknown status \"", word, "\" (one of ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    filter.And("status = ANY(string_to_array(", *status, ", ','))");
    return absl::OkStatus();
  }

  // Each parameter named like its column, when given: column = value.
  void FilterEquals(Filter& filter, const std::vector<std::string>& columns) const {
    for (const std::string& column : columns) {
      if (auto value = query_.Get(column)) filter.And(column + " = ", *value);
    }
  }

  // Time bounds: (parameter, "<column> <op> ") pairs; values as ParseBound reads them.
  absl::Status FilterTimes(Filter& filter,
                           const std::vector<std::pair<std::string, std::string>>& bounds) const {
    for (const auto& [name, clause] : bounds) {
      if (auto value = query_.Get(name)) {
        absl::StatusOr<int64_t> bound = ParseBound(name, *value, tenant_.zone);
        if (!bound.ok()) return bound.status();
        filter.And(clause, ledger::FormatMicros(*bound), "::timestamptz");
      }
    }
    return absl::OkStatus();
  }

  // One page of `view` rows of the tenant, newest `order_column` first, then partition and
  // stream (unique): {"<key>":[...],"next_cursor":...}.
  HttpResponse Page(const std::string& key, const std::string& columns, const std::string& view,
                    const std::string& order_column, Filter filter,
                    const std::function<std::string(const pqxx::row&)>& render) {
    int limit = kDefaultLimit;
    if (auto value = query_.Get("limit")) {
      if (!absl::SimpleAtoi(*value, &limit) || limit < 1 || limit > kMaxLimit) {
        return BadParameter(absl::StrCat("limit: not a whole number from 1 to ", kMaxLimit));
      }
    }
    if (auto value = query_.Get("cursor")) {
      absl::StatusOr<Cursor> cursor = DecodeCursor(*value);
      if (!cursor.ok()) return BadParameter(std::string(cursor.status().message()));
      std::vector<std::string>& params = filter.params;
      params.push_back(cursor->first_seen);
      params.push_back(std::to_string(cursor->partition));
      params.push_back(cursor->stream_id);
      const size_t n = params.size();
      absl::StrAppend(&filter.where, " AND (", order_column, ", partition_id, stream_id) < ($",
                      n - 2, "::timestamptz, $", n - 1, "::int, $", n, ")");
    }
    const std::string sql = absl::StrCat(
        "SELECT ", columns, ", ", order_column,
        "::text AS order_at, partition_id AS order_partition, stream_id AS order_stream FROM ",
        view, " WHERE ", filter.where, " ORDER BY ", order_column,
        " DESC, partition_id DESC, stream_id DESC LIMIT ", limit + 1);
    pqxx::result rows = txn_.exec_params(sql, pqxx::prepare::make_dynamic_params(filter.params));
    std::string body = absl::StrCat("{\"", key, "\":[");
    const int shown = std::min<int>(limit, rows.size());
    for (int i = 0; i < shown; ++i) absl::StrAppend(&body, i == 0 ? "" : ",", render(rows[i]));
    body += "],\"next_cursor\":";
    if (static_cast<int>(rows.size()) > limit) {
      const pqxx::row& last = rows[shown - 1];
      const auto n = static_cast<pqxx::row::size_type>(last.size());
      absl::StrAppend(&body, Quote(EncodeCursor(last[n - 3], last[n - 2], last[n - 1])));
    } else {
      body += "null";
    }
    body += "}";
    return {200, "application/json", std::move(body)};
  }

  std::string RangeJson(const DayRange& range) const {
    return absl::StrCat("\"from\":", Quote(absl::FormatCivilTime(range.from)),
                        ",\"to\":", Quote(absl::FormatCivilTime(range.to)),
                        ",\"time_zone\":", Quote(tenant_.zone_name));
  }

  static std::string Sums(const std::string& currency, const std::array<int64_t, 4>& s) {
    return absl::StrCat("\"currency\":", Quote(currency), ",\"paid_count\":", s[0],
                        ",\"paid_minor\":", s[1], ",\"refunded_count\":", s[2],
                        ",\"refunded_minor\":", s[3], ",\"net_minor\":", s[1] - s[3]);
  }

  pqxx::transaction_base& txn_;
  const Tenant& tenant_;
  const QueryParams& query_;
  const ledger::Clock& clock_;
};

}  // namespace

ReadApi::ReadApi(ledger::EventStore& store, const ledger::Clock& clock, ReadDatabase& database)
    : store_(store),
      clock_(clock),
      database_(database),
      auth_(store, clock),
      registry_(ledger::EventRegistry::Default()) {}

void ReadApi::Handle(const HttpRequest& request, const std::string& path, Responder respond) {
  if (request.method != "GET" && request.method != "HEAD") {
    return respond(JsonError(405, "method_not_allowed", "use GET"));
  }
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(request, {"owner", "auditor"});
  if (!auth.principal.has_value()) return respond(std::move(auth.refusal));
  const std::string tenant_id = auth.principal->tenant_id;
  if (tenant_id.empty()) {
    return respond(JsonError(403, "forbidden",
                             "this endpoint reads one tenant's books: use an owner key or an "
                             "auditor key of that tenant"));
  }
  absl::StatusOr<QueryParams> query = QueryParams::Parse(request.target);
  if (!query.ok()) return respond(BadParameter(std::string(query.status().message())));
  const int partition = store_.PartitionFor(tenant_id);
  respond(database_.Read([&](pqxx::transaction_base& txn) -> HttpResponse {
    std::optional<std::string> zone_name = zones_.Get(tenant_id, clock_.NowMicros());
    if (!zone_name.has_value()) {
      zone_name = LoadZoneName(txn, tenant_id);
      zones_.Put(tenant_id, *zone_name, clock_.NowMicros());
    }
    const Tenant tenant = MakeTenant(tenant_id, partition, *zone_name);
    Reader reader(txn, tenant, *query, clock_);
    if (path == "/v1/payments") return reader.ListPayments();
    if (path.rfind("/v1/payments/", 0) == 0) {
      std::optional<std::string> id = PercentDecode(path.substr(13), false);
      if (!id.has_value() || id->empty() || id->size() > 200 ||
          id->find('/') != std::string::npos) {
        return JsonError(404, "payment_not_found", "no such payment");
      }
      return reader.ShowPayment(*id, registry_);
    }
    if (path == "/v1/leads") return reader.ListLeads();
    if (path == "/v1/subscriptions") return reader.ListSubscriptions();
    if (path == "/v1/revenue") return reader.Revenue();
    if (path == "/v1/stats") return reader.Stats();
    return JsonError(404, "not_found", "no route for " + path);
  }));
}

}  // namespace tally::http
