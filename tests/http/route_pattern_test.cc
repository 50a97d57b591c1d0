// Route patterns, the only form in which a path reaches a metrics label: secrets in paths
// (webhook and delivery tokens) and paths a client makes up never do.

#include <doctest/doctest.h>

#include "http/router.h"

namespace tally::http {
namespace {

TEST_CASE("route patterns name the route, never the path's tokens") {
  CHECK(RoutePattern("/webhooks/stripe/tok_9f8e7d") == "/webhooks/{gateway}/{token}");
  CHECK(RoutePattern("/webhooks/anything/tok") == "/webhooks/{gateway}/{token}");
  CHECK(RoutePattern("/delivery/dlv_secret") == "/delivery/{token}");
  CHECK(RoutePattern("/offers/o1") == "/offers/{token}");
  CHECK(RoutePattern("/renew/r1") == "/renew/{token}");
  CHECK(RoutePattern("/telegram/7101") == "/telegram/{bot_id}");
  CHECK(RoutePattern("/v1/payments") == "/v1/payments");
  CHECK(RoutePattern("/v1/payments/pay_123") == "/v1/payments/{payment_id}");
  CHECK(RoutePattern("/v1/admin/jobs/delivery/pause") == "/v1/admin/jobs/{job}/{action}");
  CHECK(RoutePattern("/healthz") == "/healthz");
  CHECK(RoutePattern("/metrics") == "/metrics");
  CHECK(RoutePattern("/") == "/");
}

TEST_CASE("paths no route serves are all other") {
  CHECK(RoutePattern("/webhooks/stripe") == "other");
  CHECK(RoutePattern("/webhooks/stripe/") == "other");
  CHECK(RoutePattern("/webhooks/stripe/tok/extra") == "other");
  CHECK(RoutePattern("/wp-admin/setup.php") == "other");
  CHECK(RoutePattern("/healthz/x") == "other");
  CHECK(RoutePattern("") == "other");
}

}  // namespace
}  // namespace tally::http
