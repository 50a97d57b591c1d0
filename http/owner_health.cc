#include "http/owner_health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ledger/event_json.h"
#include "projections/catalog.h"
#include "reactors/job_status.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

OwnerHealth::OwnerHealth(ledger::EventStore& store, const ledger::Clock& clock,
                         std::string database_url, std::vector<reactors::JobSpec> jobs,
                         int partitions)
    : database_url_(std::move(database_url)),
      jobs_(std::move(jobs)),
      partitions_(partitions),
      projections_(projections::AllProjections()),
      auth_(store, clock) {}

void OwnerHealth::Handle(const HttpRequest& request, Responder respond) {
  if (request.method != "GET") return respond(JsonError(405, "method_not_allowed", "use GET"));
  ApiKeyAuthenticator::Result auth =
      auth_.Authenticate(request, {tenants::kOwnerScope, tenants::kAdminScope});
  if (!auth.principal.has_value()) return respond(std::move(auth.refusal));
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!computed_ || now - computed_at_ >= std::chrono::seconds(1)) {
    last_ = Compute();
    computed_at_ = now;
    computed_ = true;
  }
  respond(last_);
}

HttpResponse OwnerHealth::Compute() {
  auto projections = projections::ReadStatus(database_url_, projections_);
  if (!projections.ok()) return JsonError(503, "database_unavailable", "try again");
  int64_t projection_lag = 0;
  double projection_lag_seconds = 0;
  std::vector<std::string> stopped;
  for (const auto& projection : *projections) {
    for (const auto& p : projection.partitions) {
      projection_lag = std::max(projection_lag, p.head - p.checkpoint);
      projection_lag_seconds = std::max(projection_lag_seconds, p.lag_seconds);
      const std::string name = ledger::JsonQuote(projection.name);
      if (!p.error.empty() && std::find(stopped.begin(), stopped.end(), name) == stopped.end()) {
        stopped.push_back(name);
      }
    }
  }
  auto jobs = reactors::ReadJobStatus(database_url_, jobs_, {}, partitions_);
  if (!jobs.ok()) return JsonError(503, "database_unavailable", "try again");
  int64_t reactor_lag = 0;
  int64_t parked = 0;
  for (const auto& job : *jobs) {
    for (const auto& p : job.partitions) reactor_lag = std::max(reactor_lag, p.lag);
    parked += job.parked;
  }
  std::string stopped_json;
  for (size_t i = 0; i < stopped.size(); ++i) {
    absl::StrAppend(&stopped_json, i == 0 ? "" : ",", stopped[i]);
  }
  return {
      200, "application/json",
      absl::StrCat(R"({"projection_lag":)", projection_lag, R"(,"projection_lag_seconds":)",
                   absl::StrFormat("%.3f", projection_lag_seconds), R"(,"projections_stopped":[)",
                   stopped_json, R"(],"reactor_lag":)", reactor_lag, R"(,"parked":)", parked, "}")};
}

}  // namespace tally::http
