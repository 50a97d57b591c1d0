#include "http/router.h"

#include <array>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "http/dashboard_page.h"
#include "metrics/metrics.h"

namespace tally::http {
namespace {

// Every route's pattern; "{name}" stands for one non-empty path segment.
constexpr std::array<std::string_view, 30> kRoutePatterns = {
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/webhooks/{gateway}/{token}",
    "/telegram/{bot_id}",
    "/delivery/{token}",
    "/offers/{token}",
    "/renew/{token}",
    "/v1/payments",
    "/v1/payments/{payment_id}",
    "/v1/revenue",
    "/v1/stats",
    "/v1/leads",
    "/v1/subscriptions",
    "/v1/audit/streams/{stream}",
    "/v1/audit/events",
    "/v1/audit/verify",
    "/v1/audit/as-of",
    "/v1/admin/jobs",
    "/v1/admin/jobs/{job}",
    "/v1/admin/jobs/{job}/{action}",
    "/v1/admin/projections",
    "/v1/admin/projections/{name}",
    "/v1/admin/projections/{name}/{action}",
    "/v1/admin/parked",
    "/v1/admin/parked/retry",
    "/v1/health",
    "/v1/live",
    "/dashboard/{file}",
};

// (This absl's string_view is its own type, not std::string_view.)
bool Matches(std::string_view pattern, std::string_view path) {
  std::vector<absl::string_view> want =
      absl::StrSplit(absl::string_view(pattern.data(), pattern.size()), '/');
  std::vector<absl::string_view> have =
      absl::StrSplit(absl::string_view(path.data(), path.size()), '/');
  if (want.size() != have.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (absl::StartsWith(want[i], "{")) {
      if (have[i].empty()) return false;
    } else if (want[i] != have[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view RoutePattern(std::string_view path) {
  for (std::string_view pattern : kRoutePatterns) {
    if (Matches(pattern, path)) return pattern;
  }
  return "other";
}

void RecordHttpRequest(std::string_view method, std::string_view path, int status,
                       std::chrono::steady_clock::duration elapsed) {
  metrics::RecordHttpRequest(RoutePattern(path), method, status,
                             std::chrono::duration<double>(elapsed).count());
}

void RouteRequest(const HttpRequest& request, const Endpoints& endpoints, Responder respond) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD") {
      return respond(JsonError(405, "method_not_allowed", "use GET"));
    }
    return respond({200, "application/json", "{\"status\":\"ok\"}"});
  }
  if (path == "/readyz" && endpoints.readiness != nullptr) {
    if (request.method != "GET" && request.method != "HEAD") {
      return respond(JsonError(405, "method_not_allowed", "use GET"));
    }
    return respond(endpoints.readiness->Check());
  }
  if (path == "/metrics" && endpoints.metrics != nullptr) {
    return respond(endpoints.metrics->Handle(request));
  }
  if (absl::StartsWith(path, "/webhooks/") && endpoints.webhooks != nullptr) {
    std::vector<std::string> parts = absl::StrSplit(path.substr(10), '/');
    if (parts.size() == 2 && !parts[0].empty() && !parts[1].empty()) {
      return endpoints.webhooks->Handle(request, parts[0], parts[1], std::move(respond));
    }
  }
  if (absl::StartsWith(path, "/v1/") && endpoints.rate_limiter != nullptr) {
    if (std::optional<HttpResponse> limited = endpoints.rate_limiter->Admit(request)) {
      return respond(*std::move(limited));
    }
  }
  if (endpoints.reads != nullptr && request.method != "POST" &&
      (path == "/v1/payments" || absl::StartsWith(path, "/v1/payments/") || path == "/v1/revenue" ||
       path == "/v1/stats" || path == "/v1/leads" || path == "/v1/subscriptions")) {
    return endpoints.reads->Handle(request, path, std::move(respond));
  }
  if (path == "/v1/payments" && endpoints.charges != nullptr) {
    return endpoints.charges->Handle(request, std::move(respond));
  }
  if (absl::StartsWith(path, "/telegram/") && endpoints.telegram != nullptr) {
    const std::string bot_id = path.substr(10);
    if (!bot_id.empty() && bot_id.find('/') == std::string::npos) {
      return endpoints.telegram->Handle(request, bot_id, std::move(respond));
    }
  }
  if (absl::StartsWith(path, "/delivery/") && endpoints.delivery != nullptr) {
    return endpoints.delivery->Handle(request, path.substr(10), std::move(respond));
  }
  if (absl::StartsWith(path, "/offers/") && endpoints.offers != nullptr) {
    return endpoints.offers->Handle(request, path.substr(8), std::move(respond));
  }
  if (absl::StartsWith(path, "/renew/") && endpoints.renewals != nullptr) {
    return endpoints.renewals->Handle(request, path.substr(7), std::move(respond));
  }
  if ((path == "/v1/admin/jobs" || absl::StartsWith(path, "/v1/admin/jobs/")) &&
      endpoints.jobs != nullptr) {
    return endpoints.jobs->Handle(request, path, std::move(respond));
  }
  if (path == "/v1/health" && endpoints.health != nullptr) {
    return endpoints.health->Handle(request, std::move(respond));
  }
  if (path == "/" || absl::StartsWith(path, "/dashboard/")) {
    return respond(ServeDashboard(request, path));
  }
  if ((path == "/v1/admin/projections" || absl::StartsWith(path, "/v1/admin/projections/")) &&
      endpoints.projections != nullptr) {
    return endpoints.projections->Handle(request, path, std::move(respond));
  }
  if ((path == "/v1/admin/parked" || absl::StartsWith(path, "/v1/admin/parked/")) &&
      endpoints.parked != nullptr) {
    return endpoints.parked->Handle(request, path, std::move(respond));
  }
  if (absl::StartsWith(path, "/v1/audit/") && endpoints.audit != nullptr) {
    return endpoints.audit->Handle(request, path, std::move(respond));
  }
  respond(JsonError(404, "not_found", "no route for " + path));
}

bool TryRouteWithoutBlocking(const HttpRequest& request, const Endpoints& endpoints,
                             Responder& respond) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/healthz" || path == "/" || absl::StartsWith(path, "/dashboard/")) {
    RouteRequest(request, endpoints, std::move(respond));
    return true;
  }
  if (!absl::StartsWith(path, "/webhooks/") || endpoints.webhooks == nullptr) return false;
  std::vector<std::string> parts = absl::StrSplit(path.substr(10), '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  return endpoints.webhooks->TryHandleWithoutBlocking(request, parts[0], parts[1], respond);
}

}  // namespace tally::http
