// revenue_daily: per tenant, bot, gateway, local day (the tenant's zone, America/Sao_Paulo by
// default), currency, origin and product: paid count and minor units, refunded count and minor
// units, net. The origin tells sales apart by what made them: "upsell" or "downsell" for a charge
// made from an offer link (its PaymentCreated's offer_kind), "direct" for any other. Only confirmed
// payments count (a signed webhook or a status poll said paid). Each payment's contribution is
// kept beside its state, so whatever order its events arrive in (a paid webhook may come before
// PaymentCreated says what the sale was), the daily rows change by exactly the difference.
//
// Version 2 added the origin (a key column of revenue_daily and a column of the fold's state),
// version 3 the product (the same; and the payment state it keeps gained columns): a binary
// folding v3 waits while an older version serves, until `tally projections rebuild
// revenue_daily`.

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "ledger/database.h"
#include "projections/payment_fold.h"
#include "projections/payment_row.h"
#include "projections/projection.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tally/tenants/v1/tenant_events.pb.h"

namespace tally::projections {
namespace {

constexpr const char* kDefaultZone = "America/Sao_Paulo";

const TableSpec& DailyTable() {
  static const TableSpec kSpec{"revenue_daily",
                               {{"tenant_id", "text"},
                                {"bot_id", "text"},
                                {"gateway", "text"},
                                {"day", "date"},
                                {"currency", "text"},
                                {"origin", "text"},
                                {"product_id", "text"},
                                {"paid_count", "bigint"},
                                {"paid_minor", "bigint"},
                                {"refunded_count", "bigint"},
                                {"refunded_minor", "bigint"}},
                               7,
                               "",
                               true,
                               "*, paid_minor - refunded_minor AS net_minor",
                               {"(tenant_id, day)"}};  // GET /v1/revenue, /v1/stats
  return kSpec;
}

// Fold state per payment: its PaymentState (encoded) and what it contributes now.
const TableSpec& ContributionTable() {
  static const TableSpec kSpec{"revenue_daily_payments",
                               {{"partition_id", "int"},
                                {"stream_id", "text"},
                                {"state", "text"},
                                {"tenant_id", "text"},
                                {"bot_id", "text"},
                                {"gateway", "text"},
                                {"currency", "text"},
                                {"paid_day", "date"},
                                {"paid_minor", "bigint"},
                                {"refund_day", "date"},
                                {"refunded_minor", "bigint"},
                                {"origin", "text"},
                                {"product_id", "text"}},
                               2,
                               "",
                               false};
  return kSpec;
}

// Each tenant's zone; its view (revenue_daily_tenants) tells the read API the tenant's zone.
const TableSpec& TenantZoneTable() {
  static const TableSpec kSpec{
      "revenue_daily_tenants", {{"tenant_id", "text"}, {"time_zone", "text"}}, 1, "", true};
  return kSpec;
}

// Length-prefixed encoding of a Row in one text value: "<len>:<bytes>" per column, "-:" for
// NULL. Unambiguous whatever the values contain.
std::string PackRow(const Row& row) {
  std::string out;
  for (const auto& value : row) {
    if (!value.has_value()) {
      out.append("-:");
    } else {
      absl::StrAppend(&out, value->size(), ":", *value);
    }
  }
  return out;
}

// DataLoss when `packed` is not what PackRow writes.
absl::StatusOr<Row> UnpackRow(const std::string& packed) {
  Row row;
  size_t i = 0;
  while (i < packed.size()) {
    const size_t colon = packed.find(':', i);
    if (colon == std::string::npos) {
      return absl::DataLossError(absl::StrCat("packed row: no length at byte ", i));
    }
    const std::string length = packed.substr(i, colon - i);
    if (length == "-") {
      row.push_back(std::nullopt);
      i = colon + 1;
      continue;
    }
    size_t n = 0;
    if (!absl::SimpleAtoi(length, &n) || n > packed.size() - colon - 1) {
      return absl::DataLossError(
          absl::StrCat("packed row: bad length \"", length, "\" at byte ", i));
    }
    row.push_back(packed.substr(colon + 1, n));
    i = colon + 1 + n;
  }
  return row;
}

constexpr char kDirect[] = "direct";

struct Contribution {
  std::string tenant_id, bot_id, gateway, currency;
  std::string origin = kDirect;
  std::string product_id;  // "" for a sale of no product (a plan, or made outside Tally)
  std::string paid_day;    // "" when nothing is paid
  int64_t paid_minor = 0;
  std::string refund_day;  // "" when nothing is refunded
  int64_t refunded_minor = 0;
  bool operator==(const Contribution&) const = default;
};

struct DailyTotals {
  Row key;  // tenant_id, bot_id, gateway, day, currency, origin, product_id
  int64_t paid_count = 0, paid_minor = 0, refunded_count = 0, refunded_minor = 0;
  bool Zero() const {
    return paid_count == 0 && paid_minor == 0 && refunded_count == 0 && refunded_minor == 0;
  }
};

class RevenueFold final : public ProjectionFold {
 public:
  absl::Status Load(pqxx::transaction_base& txn, const std::string& suffix,
                    const std::vector<ledger::RecordedEvent>& batch) override {
    const std::vector<Row> payment_keys = PaymentStreamKeys(batch);
    auto rows =
        LoadRows(txn, ContributionTable(), TableName(ContributionTable(), suffix), payment_keys);
    if (!rows.ok()) return rows.status();
    for (auto& [key, row] : *rows) {
      absl::StatusOr<Entry> entry = DecodeEntry(row);
      if (!entry.ok()) {
        return absl::DataLossError(absl::StrCat(TableName(ContributionTable(), suffix), " row (",
                                                row[0].value_or(""), ", ", row[1].value_or(""),
                                                "): ", entry.status().message()));
      }
      entries_[Key(entry->state.partition, entry->state.stream_id)] = *std::move(entry);
    }
    // Any event may name a tenant (PaymentCreated, webhooks), so the fold needs every zone;
    // there is one row per tenant, few enough to read each batch.
    const std::string zones = TableName(TenantZoneTable(), suffix);
    try {
      for (const auto& row : txn.exec(absl::StrCat("SELECT tenant_id, time_zone FROM ", zones))) {
        zones_[row[0].as<std::string>()] = row[1].as<std::string>();
      }
    } catch (const std::exception& e) {
      return ledger::StatusFromException(e, absl::StrCat("loading rows of ", zones));
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const ledger::RecordedEvent& event) override {
    if (absl::StartsWith(event.stream_id, "tenant-")) return ApplyTenant(event);
    if (!IsPaymentStream(event.stream_id)) return absl::OkStatus();
    const std::string key = Key(event.partition, event.stream_id);
    Entry& entry = entries_[key];
    auto anomalies = ApplyPaymentEvent(entry.state, event);
    if (!anomalies.ok()) return anomalies.status();
    Contribution now = ContributionOf(entry.state);
    if (!(now == entry.contribution)) {
      AddDelta(entry.contribution, -1);
      AddDelta(now, +1);
      entry.contribution = std::move(now);
    }
    dirty_.insert(key);
    return absl::OkStatus();
  }

  absl::Status Store(pqxx::transaction_base& txn, const std::string& suffix) override {
    std::vector<Row> contributions;
    for (const auto& key : dirty_) contributions.push_back(EncodeEntry(entries_[key]));
    absl::Status status =
        UpsertRows(txn, ContributionTable(), TableName(ContributionTable(), suffix), contributions);
    if (!status.ok()) return status;
    std::vector<Row> tenants;
    for (const auto& tenant : dirty_tenants_) tenants.push_back({tenant, zones_[tenant]});
    status = UpsertRows(txn, TenantZoneTable(), TableName(TenantZoneTable(), suffix), tenants);
    if (!status.ok()) return status;
    std::vector<Row> deltas;
    std::vector<Row> keys;
    for (const auto& [key, totals] : deltas_) {
      if (totals.Zero()) continue;
      Row row = totals.key;
      keys.push_back(row);
      row.push_back(std::to_string(totals.paid_count));
      row.push_back(std::to_string(totals.paid_minor));
      row.push_back(std::to_string(totals.refunded_count));
      row.push_back(std::to_string(totals.refunded_minor));
      deltas.push_back(std::move(row));
    }
    const std::string daily = TableName(DailyTable(), suffix);
    status = AddRows(txn, DailyTable(), daily, deltas,
                     {"paid_count", "paid_minor", "refunded_count", "refunded_minor"});
    if (!status.ok() || keys.empty()) return status;
    // A day whose totals went back to zero has no row, as a rebuild would produce.
    auto totals = LoadRows(txn, DailyTable(), daily, keys);
    if (!totals.ok()) return totals.status();
    std::vector<Row> emptied;
    for (auto& [k, row] : *totals) {
      if (row[7] == "0" && row[8] == "0" && row[9] == "0" && row[10] == "0") {
        emptied.push_back(row);
      }
    }
    return DeleteRows(txn, DailyTable(), daily, emptied);
  }

  std::vector<std::vector<Row>> AllRows() override {
    absl::flat_hash_map<std::string, DailyTotals> totals;
    std::vector<Row> contributions;
    contributions.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) {
      contributions.push_back(EncodeEntry(entry));
      Accumulate(totals, entry.contribution, +1);
    }
    std::vector<Row> daily;
    for (const auto& [key, t] : totals) {
      if (t.Zero()) continue;
      Row row = t.key;
      row.push_back(std::to_string(t.paid_count));
      row.push_back(std::to_string(t.paid_minor));
      row.push_back(std::to_string(t.refunded_count));
      row.push_back(std::to_string(t.refunded_minor));
      daily.push_back(std::move(row));
    }
    std::vector<Row> tenants;
    for (const auto& [tenant, zone] : zones_) tenants.push_back({tenant, zone});
    return {std::move(daily), std::move(contributions), std::move(tenants)};
  }

 private:
  struct Entry {
    PaymentState state;  // its origin and product_id key the daily rows
    Contribution contribution;
  };

  static std::string Key(int partition, const std::string& stream_id) {
    return absl::StrCat(partition, "\x1f", stream_id);
  }

  static absl::StatusOr<int64_t> ToInt(const std::optional<std::string>& v,
                                       absl::string_view column) {
    int64_t out = 0;
    if (v.has_value() && !absl::SimpleAtoi(*v, &out)) {
      return absl::DataLossError(absl::StrCat(column, " is not an integer: \"", *v, "\""));
    }
    return out;
  }

  // A row of the contribution table back into the fold's entry.
  static absl::StatusOr<Entry> DecodeEntry(const Row& row) {
    absl::StatusOr<Row> packed = UnpackRow(row[2].value_or(""));
    if (!packed.ok()) return packed.status();
    absl::StatusOr<PaymentState> state = DecodePayment(*packed);
    if (!state.ok()) return absl::DataLossError(absl::StrCat("state: ", state.status().message()));
    absl::StatusOr<int64_t> paid_minor = ToInt(row[8], "paid_minor");
    if (!paid_minor.ok()) return paid_minor.status();
    absl::StatusOr<int64_t> refunded_minor = ToInt(row[10], "refunded_minor");
    if (!refunded_minor.ok()) return refunded_minor.status();
    Entry entry;
    entry.state = *std::move(state);
    entry.contribution = {
        row[3].value_or(""),       row[4].value_or(""),  row[5].value_or(""), row[6].value_or(""),
        row[11].value_or(kDirect), row[12].value_or(""), row[7].value_or(""), *paid_minor,
        row[9].value_or(""),       *refunded_minor};
    return entry;
  }

  absl::Status ApplyTenant(const ledger::RecordedEvent& event) {
    const std::string tenant = event.stream_id.substr(7);
    std::string zone;
    if (event.type == "tally.tenants.v1.TenantCreated") {
      tenants::v1::TenantCreated created;
      if (!created.ParseFromString(event.payload)) {
        return absl::DataLossError(absl::StrCat("position ", event.position, ": payload of ",
                                                event.type, " does not parse"));
      }
      zone = created.time_zone();
    } else if (event.type == "tally.tenants.v1.TenantTimeZoneSet") {
      tenants::v1::TenantTimeZoneSet set;
      if (!set.ParseFromString(event.payload)) {
        return absl::DataLossError(absl::StrCat("position ", event.position, ": payload of ",
                                                event.type, " does not parse"));
      }
      zone = set.time_zone();
    } else {
      return absl::OkStatus();
    }
    zones_[tenant] = zone.empty() ? kDefaultZone : zone;
    dirty_tenants_.insert(tenant);
    return absl::OkStatus();
  }

  const absl::TimeZone& ZoneOf(const std::string& tenant) {
    auto it = zones_.find(tenant);
    const std::string name = it == zones_.end() ? kDefaultZone : it->second;
    auto loaded = loaded_zones_.find(name);
    if (loaded == loaded_zones_.end()) {
      absl::TimeZone zone;
      if (!absl::LoadTimeZone(name, &zone)) (void)absl::LoadTimeZone(kDefaultZone, &zone);
      loaded = loaded_zones_.emplace(name, zone).first;
    }
    return loaded->second;
  }

  std::string LocalDay(int64_t micros, const std::string& tenant) {
    const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMicros(micros), ZoneOf(tenant));
    return absl::FormatCivilTime(day);
  }

  Contribution ContributionOf(const PaymentState& s) {
    Contribution c;
    c.origin = s.origin;
    const bool paid = s.paid_confirmed &&
                      (s.status == PaymentStatus::kPaid || s.status == PaymentStatus::kRefunded ||
                       s.status == PaymentStatus::kChargedBack);
    if (!paid || s.paid_at_us == 0) return c;
    c.tenant_id = s.tenant_id;
    c.bot_id = s.bot_id;
    c.gateway = s.gateway;
    c.currency = s.currency;
    c.product_id = s.product_id;
    const int64_t amount = s.paid_amount_minor != 0 ? s.paid_amount_minor : s.amount_minor;
    c.paid_day = LocalDay(s.paid_at_us, s.tenant_id);
    c.paid_minor = amount;
    if ((s.status == PaymentStatus::kRefunded || s.status == PaymentStatus::kChargedBack) &&
        s.refunded_at_us != 0) {
      c.refund_day = LocalDay(s.refunded_at_us, s.tenant_id);
      c.refunded_minor = amount;
    }
    return c;
  }

  // The totals of `c`'s daily row for `day`, keyed by the packed row key.
  static DailyTotals& TotalsFor(absl::flat_hash_map<std::string, DailyTotals>& totals,
                                const Contribution& c, const std::string& day) {
    Row key = {c.tenant_id, c.bot_id, c.gateway, day, c.currency, c.origin, c.product_id};
    auto [it, inserted] = totals.try_emplace(PackRow(key));
    if (inserted) it->second.key = std::move(key);
    return it->second;
  }

  static void Accumulate(absl::flat_hash_map<std::string, DailyTotals>& totals,
                         const Contribution& c, int sign) {
    if (!c.paid_day.empty()) {
      DailyTotals& t = TotalsFor(totals, c, c.paid_day);
      t.paid_count += sign;
      t.paid_minor += sign * c.paid_minor;
    }
    if (!c.refund_day.empty()) {
      DailyTotals& t = TotalsFor(totals, c, c.refund_day);
      t.refunded_count += sign;
      t.refunded_minor += sign * c.refunded_minor;
    }
  }

  void AddDelta(const Contribution& c, int sign) { Accumulate(deltas_, c, sign); }

  static Row EncodeEntry(const Entry& e) {
    const Contribution& c = e.contribution;
    return {std::to_string(e.state.partition),
            e.state.stream_id,
            PackRow(EncodePayment(e.state)),
            c.tenant_id,
            c.bot_id,
            c.gateway,
            c.currency,
            TextOrNull(c.paid_day),
            std::to_string(c.paid_minor),
            TextOrNull(c.refund_day),
            std::to_string(c.refunded_minor),
            c.origin,
            c.product_id};
  }

  absl::flat_hash_map<std::string, Entry> entries_;
  absl::flat_hash_set<std::string> dirty_;
  absl::flat_hash_map<std::string, std::string> zones_;
  absl::flat_hash_set<std::string> dirty_tenants_;
  absl::flat_hash_map<std::string, absl::TimeZone> loaded_zones_;
  absl::flat_hash_map<std::string, DailyTotals> deltas_;
};

class RevenueProjection final : public Projection {
 public:
  std::string name() const override { return "revenue_daily"; }
  int version() const override { return 3; }
  std::vector<TableSpec> tables() const override {
    return {DailyTable(), ContributionTable(), TenantZoneTable()};
  }
  std::unique_ptr<ProjectionFold> NewFold() const override {
    return std::make_unique<RevenueFold>();
  }
};

}  // namespace

std::unique_ptr<Projection> NewRevenueProjection() { return std::make_unique<RevenueProjection>(); }

}  // namespace tally::projections
