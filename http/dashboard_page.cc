#include "http/dashboard_page.h"

#include "absl/strings/match.h"

namespace tally::http {
namespace {

constexpr char kSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string ContentType(const std::string& name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

HttpResponse ServeDashboard(const HttpRequest& request, const std::string& path) {
  if (request.method != "GET" && request.method != "HEAD") {
    return JsonError(405, "method_not_allowed", "use GET");
  }
  std::string name;
  if (path == "/") {
    name = "index.html";
  } else if (absl::StartsWith(path, "/dashboard/")) {
    name = path.substr(11);
  }
  for (const DashboardAsset& asset : DashboardAssets()) {
    if (name != asset.name) continue;
    return {200,
            ContentType(name),
            asset.content,
            {{"Content-Security-Policy", kSecurityPolicy},
             {"Cache-Control", "no-cache"},
             {"X-Content-Type-Options", "nosniff"},
             {"Referrer-Policy", "no-referrer"}}};
  }
  return JsonError(404, "not_found", "no route for " + path);
}

}  // namespace tally::http
