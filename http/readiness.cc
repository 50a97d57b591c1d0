#include "http/readiness.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/database.h"

namespace tally::http {
namespace {

// Per projection and partition: how far its checkpoint is behind the partition's head.
constexpr const char* kLags =
    "SELECT c.name, c.partition_id, h.position - c.position AS lag, c.error IS NOT NULL "
    "FROM projection_checkpoints c JOIN ledger_heads h USING (partition_id) "
    "ORDER BY c.error IS NOT NULL DESC, lag DESC";

}  // namespace

Readiness::Readiness(ReadinessOptions options) : options_(std::move(options)) {}

HttpResponse Readiness::Check() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!computed_ || now - computed_at_ >= std::chrono::seconds(1)) {
    last_ = Compute();
    computed_at_ = now;
    computed_ = true;
  }
  return last_;
}

HttpResponse Readiness::Compute() {
  if (absl::Status schema = ledger::CheckSchema(options_.database_url, options_.migrations);
      !schema.ok()) {
    if (schema.code() == absl::StatusCode::kFailedPrecondition) {
      return JsonError(503, "schema_not_current", std::string(schema.message()));
    }
    return JsonError(503, "database_unavailable", "the database does not answer");
  }
  int64_t worst = 0;
  try {
    auto connection = ledger::Connect(options_.database_url, ledger::Session::kService);
    if (!connection.ok()) {
      return JsonError(503, "database_unavailable", "the database does not answer");
    }
    pqxx::read_transaction txn(**connection);
    for (const auto& row : txn.exec(kLags)) {
      const std::string name = row[0].as<std::string>();
      const int partition = row[1].as<int>();
      const int64_t lag = row[2].as<int64_t>();
      if (row[3].as<bool>()) {
        return JsonError(503, "projection_stopped",
                         absl::StrCat("projection ", name, " stopped on partition ", partition,
                                      " (tally projections status)"));
      }
      if (lag > options_.max_projection_lag) {
        return JsonError(
            503, "projections_lagging",
            absl::StrCat("projection ", name, " is ", lag, " events behind on partition ",
                         partition, " (at most ", options_.max_projection_lag, ")"));
      }
      worst = std::max(worst, lag);
    }
  } catch (const std::exception&) {
    return JsonError(503, "database_unavailable", "the database does not answer");
  }
  return {200, "application/json",
          absl::StrCat(R"({"status":"ready","projection_lag":)", worst, "}")};
}

}  // namespace tally::http
