#pragma once
// The sellers' dashboard: GET / (index.html) and GET /dashboard/<file> (its script and style),
// from http/dashboard/, compiled into the binary (http/dashboard/embed.cmake): nothing is fetched
// at run time, from a CDN or anywhere else. The page signs in with an owner key (kept in the
// tab's sessionStorage), reads the owner read API (GET /v1/payments, /v1/revenue, /v1/stats,
// /v1/health) and follows the live feed (GET /v1/live, http/live_feed.h).
//
// Answers carry a Content-Security-Policy that admits only this origin's scripts, styles and
// connections, so a payment field rendered into the page can never run as script. Non-blocking
// (no database): safe on an I/O thread. Thread-safe.

#include <string>
#include <vector>

#include "http/message.h"

namespace tally::http {

struct DashboardAsset {
  const char* name;  // "index.html", "dashboard.js", "dashboard.css"
  const char* content;
};

// Generated from http/dashboard/*.
const std::vector<DashboardAsset>& DashboardAssets();

// The answer for `path` ("/" or "/dashboard/<file>"); 404 for an unknown file, 405 unless GET or
// HEAD.
HttpResponse ServeDashboard(const HttpRequest& request, const std::string& path);

}  // namespace tally::http
