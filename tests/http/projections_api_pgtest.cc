// The admin projections API (http/projections_api.h) through a real `tally serve` (http and
// projections roles) on real PostgreSQL: admin keys only (no key 401; both tenants' owner keys,
// a tenant-bound and an all-tenant auditor key 403); status of every projection per partition;
// a rebuild runs asynchronously with progress, refuses a second one while it runs, and leaves
// live tables equal to a fresh fold (verify).

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "app/lifecycle_generator.h"
#include "gateways/payload_fields.h"
#include "http/client.h"
#include "projections/projection.h"
#include "tenants/tenant_directory.h"
#include "tests/support/pg.h"
#include "tests/support/serve_process.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr int kPartitions = 2;

gateways::PayloadFields Json(const http::ClientResponse& r) {
  INFO(r.status, " ", r.body);
  auto fields = gateways::PayloadFields::ParseJson(r.body);
  REQUIRE(fields.ok());
  return *std::move(fields);
}

int64_t Int(const gateways::PayloadFields& fields, const std::string& path) {
  int64_t value = -1;
  CHECK_MESSAGE(absl::SimpleAtoi(fields.Text(path), &value), path);
  return value;
}

TEST_CASE("admin projections API: admin keys only, status, an asynchronous rebuild, verify") {
  auto db = NewDatabase(kPartitions);
  auto store = OpenStore(db->url());
  app::LifecycleGenerator generator(9, 2);
  for (auto& t : generator.Tenants()) {
    REQUIRE(store->Append({t.tenant_id, t.stream_id, ledger::ExpectedVersion::Any(), t.events, ""})
                .ok());
  }
  for (int n = 0; n < 300; ++n) {
    app::Lifecycle life = generator.Payment(n);
    REQUIRE(store
                ->Append({life.tenant_id, life.stream_id, ledger::ExpectedVersion::Any(),
                          life.events, ""})
                .ok());
  }
  auto serve = ServeProcess::Start(
      {db->url(), kMasterKey, {"--roles", "http,projections", "--listen", "127.0.0.1:0"}});
  auto call = [&](const std::string& method, const std::string& target, const std::string& key) {
    http::HttpClient client;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
    auto r = client.Send({method, absl::StrCat("http://127.0.0.1:", serve->port(), target),
                          std::move(headers), "", 60000ms});
    REQUIRE_MESSAGE(r.ok(), method, " ", target, ": ", r.status().ToString());
    return *r;
  };
  auto admin = tenants::IssueSystemApiKey(*store, tenants::kAdminScope);
  REQUIRE(admin.ok());
  const std::string& key = admin->api_key;

  std::vector<std::string> refused;
  for (const std::string tenant : {"tenant-0", "tenant-1"}) {
    refused.push_back(*tenants::IssueApiKey(*store, tenant, tenants::kOwnerScope));
    refused.push_back(*tenants::IssueApiKey(*store, tenant, tenants::kAuditorScope));
  }
  refused.push_back(tenants::IssueSystemApiKey(*store, tenants::kAuditorScope)->api_key);
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/admin/projections"},
      {"GET", "/v1/admin/projections/payments"},
      {"GET", "/v1/admin/projections/payments/rebuild"},
      {"POST", "/v1/admin/projections/payments/rebuild"},
      {"POST", "/v1/admin/projections/payments/verify"}};
  for (const auto& [method, target] : routes) {
    INFO(method, " ", target);
    CHECK(call(method, target, "").status == 401);
    for (const std::string& other : refused) {
      http::ClientResponse r = call(method, target, other);
      CHECK(r.status == 403);
      CHECK(Json(r).Text("error.code") == "forbidden");
    }
  }

  gateways::PayloadFields list = Json(call("GET", "/v1/admin/projections", key));
  REQUIRE(list.ArraySize("projections") == projections::AllProjections().size());
  CHECK(list.Text("projections.0.name") == "payments");
  CHECK(list.ArraySize("projections.0.partitions") == kPartitions);
  gateways::PayloadFields one = Json(call("GET", "/v1/admin/projections/revenue_daily", key));
  CHECK(one.Text("name") == "revenue_daily");
  CHECK(Int(one, "live_version") > 0);
  http::ClientResponse unknown = call("GET", "/v1/admin/projections/ledger", key);
  CHECK(unknown.status == 404);
  CHECK(Json(unknown).Text("error.code") == "projection_not_found");
  CHECK(call("GET", "/v1/admin/projections/payments/rebuild", key).status == 404);

  http::ClientResponse started = call("POST", "/v1/admin/projections/payments/rebuild", key);
  REQUIRE(started.status == 202);
  gateways::PayloadFields run = Json(started);
  CHECK(run.Text("projection") == "payments");
  CHECK(run.Text("state") == "running");
  std::string id = run.Text("run");
  // A second rebuild while this one runs is refused with the running one; once it is done a
  // new one may start (202).
  http::ClientResponse second = call("POST", "/v1/admin/projections/payments/rebuild", key);
  if (second.status == 409) {
    CHECK(Json(second).Text("error.code") == "rebuild_running");
    CHECK(Json(second).Text("run.run") == id);
  } else {
    CHECK(second.status == 202);
    id = Json(second).Text("run");
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  bool saw_progress = false;
  do {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
    run = Json(call("GET", "/v1/admin/projections/payments/rebuild", key));
    if (run.Text("state") == "running" && Int(run, "events_total") > 0) saw_progress = true;
  } while (run.Text("state") == "running");
  INFO("saw progress while running: ", saw_progress, "; error: ", run.Text("error"));
  REQUIRE(run.Text("state") == "done");
  CHECK(run.Text("run") == id);
  CHECK(Int(run, "report.events") > 0);
  CHECK(Int(run, "events_total") >= Int(run, "report.events"));
  CHECK(!run.Text("finished_at").empty());

  gateways::PayloadFields verified =
      Json(call("POST", "/v1/admin/projections/payments/verify", key));
  CHECK(verified.Text("equal") == "true");
  REQUIRE(verified.ArraySize("tables") == 2);
  CHECK(Int(verified, "tables.0.live_rows") == 300);
  CHECK(Int(verified, "tables.0.rebuilt_rows") == 300);
  CHECK(call("GET", "/v1/admin/projections/payments/verify", key).status == 405);
}

}  // namespace
}  // namespace tally::testing
