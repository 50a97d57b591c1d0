#include "http/metrics_endpoint.h"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "ledger/database.h"

namespace tally::http {
namespace {

// Per projection and reactor and partition: events behind the head, and the age of the first
// of them (an index probe on events' primary key); 0 and 0 when caught up.
constexpr const char* kLags =
    "SELECT l.kind, l.name, l.partition_id, GREATEST(h.position - l.position, 0), "
    "COALESCE(GREATEST(EXTRACT(EPOCH FROM now() - e.recorded_at), 0), 0)::float8 "
    "FROM (SELECT 'projection' AS kind, name, partition_id, position FROM projection_checkpoints "
    "      UNION ALL "
    "      SELECT 'reactor', name, partition_id, position FROM reactor_checkpoints) l "
    "JOIN ledger_heads h USING (partition_id) "
    "LEFT JOIN events e ON e.partition_id = l.partition_id AND e.position = l.position + 1 "
    "ORDER BY 1, 2, 3";

// Parked items per queue and partition, zeros included for every queue that has items.
constexpr const char* kParked =
    "SELECT 'outbox:' || reactor, partition_id, count(*) FILTER (WHERE state = 'parked') "
    "FROM outbox GROUP BY reactor, partition_id "
    "UNION ALL "
    "SELECT 'charge_intents', partition_id, count(*) FILTER (WHERE state = 'unresolved') "
    "FROM charge_intents GROUP BY partition_id "
    "ORDER BY 1, 2";

metrics::StateSnapshot ReadState(const std::string& database_url) {
  metrics::StateSnapshot state;
  auto connection = ledger::Connect(database_url, ledger::Session::kService);
  if (!connection.ok()) {
    spdlog::warn("metrics: lag and parked gauges not read: {}",
                 std::string(connection.status().message()));
    return state;
  }
  try {
    pqxx::read_transaction txn(**connection);
    for (const auto& row : txn.exec(kLags)) {
      metrics::LagSample sample{row[1].as<std::string>(), row[2].as<int>(), row[3].as<int64_t>(),
                                row[4].as<double>()};
      (row[0].as<std::string>() == "projection" ? state.projections : state.reactors)
          .push_back(std::move(sample));
    }
    for (const auto& row : txn.exec(kParked)) {
      state.parked.push_back({row[0].as<std::string>(), row[1].as<int>(), row[2].as<int64_t>()});
    }
    state.ok = true;
  } catch (const std::exception& e) {
    spdlog::warn("metrics: lag and parked gauges not read: {}",
                 std::string(ledger::StatusFromException(e, "reading lag").message()));
    return metrics::StateSnapshot{};
  }
  return state;
}

}  // namespace

MetricsEndpoint::MetricsEndpoint(MetricsEndpointOptions options) : options_(std::move(options)) {}

HttpResponse MetricsEndpoint::Handle(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    return JsonError(405, "method_not_allowed", "use GET");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!read_ || now - read_at_ >= options_.refresh) {
    state_ = ReadState(options_.database_url);
    read_at_ = now;
    read_ = true;
  }
  return {200, metrics::kContentType, metrics::Exposition(state_)};
}

}  // namespace tally::http
