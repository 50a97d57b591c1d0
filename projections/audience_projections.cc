// leads and subscriptions: one row per lead-<bot>-<user> stream (who pressed /start, when, from
// which link) and per subscription-<id> stream (its plan, subscriber, period and state), for the
// read API's GET /v1/leads, GET /v1/subscriptions and the conversion in GET /v1/stats.
//
// Both are "one row per stream" folds: the row is the whole state, so a live fold loads the rows
// of the streams a batch touches, applies the batch and stores them back; a rebuild applies
// everything and copies the rows. A payload that does not parse stops the fold (DataLoss).

#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "projections/payment_row.h"
#include "projections/projection.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tally/subscriptions/v1/subscription_events.pb.h"

namespace tally::projections {
namespace {

// Reads a stored row back; the first value that does not parse sets status().
class Reader {
 public:
  Reader(const TableSpec& spec, const Row& row) : spec_(spec), row_(row) {
    if (row.size() != spec.columns.size()) {
      status_ = absl::DataLossError(absl::StrCat("a ", spec.base, " row has ", row.size(),
                                                 " columns, not ", spec.columns.size()));
    }
  }
  std::string Str(size_t i) const { return ok() ? row_[i].value_or("") : ""; }
  int64_t Int(size_t i) {
    int64_t out = 0;
    if (ok() && row_[i].has_value() && !absl::SimpleAtoi(*row_[i], &out)) Fail(i);
    return out;
  }
  bool Flag(size_t i) {
    if (!ok() || !row_[i].has_value()) return false;
    if (*row_[i] == "t" || *row_[i] == "true") return true;
    if (*row_[i] != "f" && *row_[i] != "false") Fail(i);
    return false;
  }
  int64_t Time(size_t i) {
    if (!ok() || !row_[i].has_value()) return 0;
    const int64_t micros = ParseTimestamp(row_[i]);
    if (micros == 0) Fail(i);
    return micros;
  }
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

 private:
  void Fail(size_t i) {
    status_ = absl::DataLossError(absl::StrCat(spec_.base, ".", spec_.columns[i].name,
                                               " does not parse: \"", row_[i].value_or(""), "\""));
  }
  const TableSpec& spec_;
  const Row& row_;
  absl::Status status_;
};

template <typename Message>
absl::StatusOr<Message> Parse(const ledger::RecordedEvent& event) {
  Message message;
  if (!message.ParseFromString(event.payload)) {
    return absl::DataLossError(
        absl::StrCat("position ", event.position, ": payload of ", event.type, " does not parse"));
  }
  return message;
}

// A fold keeping one row per stream of `Traits::kPrefix`, keyed (partition_id, stream_id).
// Traits: Table(), Encode(const State&) -> Row, Decode(const Row&) -> StatusOr<State>,
// Apply(State&, const RecordedEvent&) -> Status (false-y changes are still stored).
template <typename Traits>
class StreamRowFold final : public ProjectionFold {
 public:
  using State = typename Traits::State;

  absl::Status Load(pqxx::transaction_base& txn, const std::string& suffix,
                    const std::vector<ledger::RecordedEvent>& batch) override {
    std::vector<Row> keys;
    absl::flat_hash_set<std::string> seen;
    for (const auto& event : batch) {
      if (!absl::StartsWith(event.stream_id, Traits::kPrefix)) continue;
      if (seen.insert(Key(event.partition, event.stream_id)).second) {
        keys.push_back({std::to_string(event.partition), event.stream_id});
      }
    }
    auto rows = LoadRows(txn, Traits::Table(), TableName(Traits::Table(), suffix), keys);
    if (!rows.ok()) return rows.status();
    for (auto& [key, row] : *rows) {
      absl::StatusOr<State> state = Traits::Decode(row);
      if (!state.ok()) return state.status();
      states_[Key(state->partition, state->stream_id)] = *std::move(state);
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const ledger::RecordedEvent& event) override {
    if (!absl::StartsWith(event.stream_id, Traits::kPrefix)) return absl::OkStatus();
    const std::string key = Key(event.partition, event.stream_id);
    State& state = states_[key];
    state.partition = event.partition;
    state.stream_id = event.stream_id;
    absl::StatusOr<bool> changed = Traits::Apply(state, event);
    if (!changed.ok()) return changed.status();
    if (*changed) dirty_.insert(key);
    return absl::OkStatus();
  }

  absl::Status Store(pqxx::transaction_base& txn, const std::string& suffix) override {
    std::vector<Row> rows;
    for (const auto& key : dirty_) {
      const State& state = states_[key];
      if (Traits::Complete(state)) rows.push_back(Traits::Encode(state));
    }
    return UpsertRows(txn, Traits::Table(), TableName(Traits::Table(), suffix), rows);
  }

  std::vector<std::vector<Row>> AllRows() override {
    std::vector<Row> rows;
    for (const auto& [key, state] : states_) {
      if (Traits::Complete(state)) rows.push_back(Traits::Encode(state));
    }
    return {std::move(rows)};
  }

 private:
  static std::string Key(int partition, const std::string& stream) {
    return absl::StrCat(partition, "\x1f", stream);
  }
  absl::flat_hash_map<std::string, State> states_;
  absl::flat_hash_set<std::string> dirty_;
};

struct LeadTraits {
  static constexpr const char* kPrefix = "lead-";
  struct State {
    int partition = 0;
    std::string stream_id, tenant_id, bot_id, first_name, username, start_payload;
    int64_t telegram_user_id = 0, first_started_at_us = 0, last_started_at_us = 0, starts = 0;
  };
  static const TableSpec& Table() {
    static const TableSpec kSpec{"leads",
                                 {{"partition_id", "int"},
                                  {"stream_id", "text"},
                                  {"tenant_id", "text"},
                                  {"bot_id", "text"},
                                  {"telegram_user_id", "bigint"},
                                  {"first_name", "text"},
                                  {"username", "text"},
                                  {"start_payload", "text"},
                                  {"first_started_at", "timestamptz"},
                                  {"last_started_at", "timestamptz"},
                                  {"starts", "int"}},
                                 2,
                                 "",
                                 true,
                                 "*",
                                 {"(tenant_id, first_started_at DESC, partition_id DESC, "
                                  "stream_id DESC)"}};
    return kSpec;
  }
  static bool Complete(const State& s) { return s.starts > 0; }
  static Row Encode(const State& s) {
    return {std::to_string(s.partition),
            s.stream_id,
            s.tenant_id,
            s.bot_id,
            std::to_string(s.telegram_user_id),
            TextOrNull(s.first_name),
            TextOrNull(s.username),
            TextOrNull(s.start_payload),
            TimestampOrNull(s.first_started_at_us),
            TimestampOrNull(s.last_started_at_us),
            std::to_string(s.starts)};
  }
  static absl::StatusOr<State> Decode(const Row& row) {
    Reader in(Table(), row);
    State s;
    s.partition = static_cast<int>(in.Int(0));
    s.stream_id = in.Str(1);
    s.tenant_id = in.Str(2);
    s.bot_id = in.Str(3);
    s.telegram_user_id = in.Int(4);
    s.first_name = in.Str(5);
    s.username = in.Str(6);
    s.start_payload = in.Str(7);
    s.first_started_at_us = in.Time(8);
    s.last_started_at_us = in.Time(9);
    s.starts = in.Int(10);
    if (!in.ok()) return in.status();
    return s;
  }
  static absl::StatusOr<bool> Apply(State& s, const ledger::RecordedEvent& event) {
    if (event.type != "tally.leads.v1.LeadStarted") return false;
    auto started = Parse<leads::v1::LeadStarted>(event);
    if (!started.ok()) return started.status();
    if (s.starts == 0) {
      s.tenant_id = started->tenant_id();
      s.bot_id = started->bot_id();
      s.telegram_user_id = started->telegram_user_id();
      s.start_payload = started->start_payload();
      s.first_started_at_us = event.recorded_at_us;
    }
    s.first_name = started->first_name();
    s.username = started->username();
    s.last_started_at_us = event.recorded_at_us;
    ++s.starts;
    return true;
  }
};

struct SubscriptionTraits {
  static constexpr const char* kPrefix = "subscription-";
  struct State {
    int partition = 0;
    std::string stream_id, subscription_id, tenant_id, bot_id, plan_id, customer_id, status,
        last_payment_id;
    int64_t chat_id = 0, started_at_us = 0, ends_at_us = 0, renewals = 0;
    bool cancelled = false;
  };
  static const TableSpec& Table() {
    static const TableSpec kSpec{"subscriptions",
                                 {{"partition_id", "int"},
                                  {"stream_id", "text"},
                                  {"subscription_id", "text"},
                                  {"tenant_id", "text"},
                                  {"bot_id", "text"},
                                  {"plan_id", "text"},
                                  {"customer_id", "text"},
                                  {"chat_id", "bigint"},
                                  {"status", "text"},
                                  {"started_at", "timestamptz"},
                                  {"ends_at", "timestamptz"},
                                  {"renewals", "int"},
                                  {"cancelled", "boolean"},
                                  {"last_payment_id", "text"}},
                                 2,
                                 "",
                                 true,
                                 "*",
                                 {"(tenant_id, started_at DESC, partition_id DESC, "
                                  "stream_id DESC)"}};
    return kSpec;
  }
  static bool Complete(const State& s) { return !s.status.empty(); }
  static Row Encode(const State& s) {
    return {std::to_string(s.partition),
            s.stream_id,
            s.subscription_id,
            s.tenant_id,
            s.bot_id,
            s.plan_id,
            TextOrNull(s.customer_id),
            std::to_string(s.chat_id),
            s.status,
            TimestampOrNull(s.started_at_us),
            TimestampOrNull(s.ends_at_us),
            std::to_string(s.renewals),
            Bool(s.cancelled),
            TextOrNull(s.last_payment_id)};
  }
  static absl::StatusOr<State> Decode(const Row& row) {
    Reader in(Table(), row);
    State s;
    s.partition = static_cast<int>(in.Int(0));
    s.stream_id = in.Str(1);
    s.subscription_id = in.Str(2);
    s.tenant_id = in.Str(3);
    s.bot_id = in.Str(4);
    s.plan_id = in.Str(5);
    s.customer_id = in.Str(6);
    s.chat_id = in.Int(7);
    s.status = in.Str(8);
    s.started_at_us = in.Time(9);
    s.ends_at_us = in.Time(10);
    s.renewals = in.Int(11);
    s.cancelled = in.Flag(12);
    s.last_payment_id = in.Str(13);
    if (!in.ok()) return in.status();
    return s;
  }
  static absl::StatusOr<bool> Apply(State& s, const ledger::RecordedEvent& event) {
    namespace pb = subscriptions::v1;
    const std::string& type = event.type;
    if (type == "tally.subscriptions.v1.SubscriptionStarted") {
      auto m = Parse<pb::SubscriptionStarted>(event);
      if (!m.ok()) return m.status();
      s.subscription_id = m->subscription_id();
      s.tenant_id = m->tenant_id();
      s.bot_id = m->bot_id();
      s.plan_id = m->plan_id();
      s.customer_id = m->customer_id();
      s.chat_id = m->chat_id();
      if (s.started_at_us == 0) s.started_at_us = m->starts_at_us();
      s.ends_at_us = m->ends_at_us();
      s.last_payment_id = m->payment_id();
      s.status = "active";
      s.cancelled = false;
    } else if (type == "tally.subscriptions.v1.SubscriptionRenewed") {
      auto m = Parse<pb::SubscriptionRenewed>(event);
      if (!m.ok()) return m.status();
      s.ends_at_us = m->ends_at_us();
      s.last_payment_id = m->payment_id();
      ++s.renewals;
      s.status = "active";
    } else if (type == "tally.subscriptions.v1.SubscriptionExpired") {
      s.status = "expired";
    } else if (type == "tally.subscriptions.v1.SubscriptionRevoked") {
      s.status = "revoked";
    } else if (type == "tally.subscriptions.v1.SubscriptionCancelled") {
      s.cancelled = true;  // access lasts to the end of the period paid for
    } else {
      return false;
    }
    return true;
  }
};

template <typename Traits>
class StreamRowProjection final : public Projection {
 public:
  explicit StreamRowProjection(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  int version() const override { return 1; }
  std::vector<TableSpec> tables() const override { return {Traits::Table()}; }
  std::unique_ptr<ProjectionFold> NewFold() const override {
    return std::make_unique<StreamRowFold<Traits>>();
  }

 private:
  const std::string name_;
};

}  // namespace

std::unique_ptr<Projection> NewLeadsProjection() {
  return std::make_unique<StreamRowProjection<LeadTraits>>("leads");
}

std::unique_ptr<Projection> NewSubscriptionsProjection() {
  return std::make_unique<StreamRowProjection<SubscriptionTraits>>("subscriptions");
}

}  // namespace tally::projections
