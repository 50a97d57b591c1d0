#pragma once
// The routes of `tally serve`: GET /healthz, GET /readyz (http/readiness.h), GET /metrics
// (http/metrics_endpoint.h), POST
// /webhooks/<gateway>/<token>, POST /v1/payments, POST /telegram/<bot_id>, GET /delivery/<token>,
// GET /offers/<token>, GET /renew/<token>, /v1/admin/jobs[/<name>[/pause|resume|trigger]],
// GET /v1/payments[/<id>], /v1/revenue, /v1/stats, /v1/leads, /v1/subscriptions
// (http/read_api.h), /v1/audit/... (http/audit_api.h), /v1/admin/projections[/...]
// (http/projections_api.h), /v1/admin/parked[/retry] (http/parked_api.h), GET /v1/health
// (http/owner_health.h), the dashboard (GET /, GET /dashboard/<file>; http/dashboard_page.h). The
// live feed, GET /v1/live, is the server's WebSocket route (http/live_feed.h), not a request routed
// here. An endpoint left null answers 404 like an unknown path. Unknown paths: 404 not_found with a
// JSON error.

#include "http/audit_api.h"
#include "http/charge_api.h"
#include "http/delivery_page.h"
#include "http/jobs_api.h"
#include "http/message.h"
#include "http/metrics_endpoint.h"
#include "http/offer_page.h"
#include "http/owner_health.h"
#include "http/parked_api.h"
#include "http/projections_api.h"
#include "http/rate_limiter.h"
#include "http/read_api.h"
#include "http/readiness.h"
#include "http/renew_page.h"
#include "http/server.h"
#include "http/telegram_ingestion.h"
#include "http/webhook_ingestion.h"

namespace tally::http {

struct Endpoints {
  WebhookIngestion* webhooks = nullptr;
  ChargeApi* charges = nullptr;
  TelegramIngestion* telegram = nullptr;
  DeliveryPage* delivery = nullptr;
  OfferPage* offers = nullptr;
  RenewPage* renewals = nullptr;
  JobsApi* jobs = nullptr;
  Readiness* readiness = nullptr;
  AuditApi* audit = nullptr;
  ProjectionsApi* projections = nullptr;
  ReadApi* reads = nullptr;
  ParkedApi* parked = nullptr;
  // Applied to every /v1/ request that carries a bearer token, before its endpoint.
  RateLimiter* rate_limiter = nullptr;
  OwnerHealth* health = nullptr;
  MetricsEndpoint* metrics = nullptr;
};

void RouteRequest(const HttpRequest& request, const Endpoints& endpoints, Responder respond);

// The server's non-blocking fast path (see NonBlockingHandler): webhooks whose tenant is cached,
// /healthz and the dashboard's files are answered from the I/O thread; false for everything else.
bool TryRouteWithoutBlocking(const HttpRequest& request, const Endpoints& endpoints,
                             Responder& respond);

// The route pattern `path` is served under, for metrics labels ("/webhooks/{gateway}/{token}"):
// never the path itself, which carries secrets (webhook tokens, delivery tokens) and is the
// client's to choose; "other" for a path no route serves. Patterns of the routes to come in the
// read, audit and dashboard APIs are listed too. A new route adds its pattern to the table in
// router.cc.
std::string_view RoutePattern(std::string_view path);

// ServerOptions::on_answered for `tally serve`: the request in
// tally_http_request_duration_seconds (metrics/metrics.h) under its RoutePattern.
void RecordHttpRequest(std::string_view method, std::string_view path, int status,
                       std::chrono::steady_clock::duration elapsed);

}  // namespace tally::http
