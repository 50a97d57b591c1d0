// The audit API (http/audit_api.h) through a real `tally serve` on real PostgreSQL, with two
// tenants that share a partition: auditor keys only (no key 401, owner and admin keys 403), and
// auditor keys write nothing (POST /v1/payments and the admin jobs API are 403); a tenant-bound
// auditor reads its tenant's streams, events and state as of a time, and another tenant's
// stream or tenant is 404 like one that does not exist; an all-tenant auditor reads both; the
// events feed pages to the end; verify runs as a job and reports every partition's head.

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "app/lifecycle_generator.h"
#include "gateways/payload_fields.h"
#include "http/client.h"
#include "ledger/event_json.h"
#include "ledger/hash_chain.h"
#include "tenants/tenant_directory.h"
#include "tests/support/generated_log.h"
#include "tests/support/pg.h"
#include "tests/support/serve_process.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kMasterKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr int kPartitions = 2;

struct World {
  std::unique_ptr<ledger::ScratchDatabase> db = NewDatabase(kPartitions);
  std::unique_ptr<ledger::EventStore> store = OpenStore(db->url());
  std::map<std::string, std::string> tenant_of;  // stream -> tenant
  std::string a, b;                              // two tenants sharing a partition
  std::string a_payment, b_payment;
  std::unique_ptr<ServeProcess> serve;

  World() {
    app::LifecycleGenerator generator(5, 6);
    tenant_of = testing::AppendGeneratedLog(*store, generator, 80);
    for (int i = 0; i < 6 && b.empty(); ++i) {
      for (int j = i + 1; j < 6 && b.empty(); ++j) {
        const std::string x = absl::StrCat("tenant-", i), y = absl::StrCat("tenant-", j);
        if (ledger::PartitionForKey(x, kPartitions) == ledger::PartitionForKey(y, kPartitions)) {
          a = x;
          b = y;
        }
      }
    }
    REQUIRE(!b.empty());
    for (const auto& [stream, tenant] : tenant_of) {
      if (!absl::StartsWith(stream, "payment-")) continue;
      if (tenant == a && a_payment.empty()) a_payment = stream;
      if (tenant == b && b_payment.empty()) b_payment = stream;
    }
    REQUIRE(!a_payment.empty());
    REQUIRE(!b_payment.empty());
    serve = ServeProcess::Start(
        {db->url(), kMasterKey, {"--roles", "http", "--listen", "127.0.0.1:0"}});
  }

  http::ClientResponse Call(const std::string& method, const std::string& target,
                            const std::string& key, const std::string& body = "") {
    http::HttpClient client;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto r = client.Send({method, absl::StrCat("http://127.0.0.1:", serve->port(), target),
                          std::move(headers), body, 30000ms});
    REQUIRE_MESSAGE(r.ok(), method, " ", target, ": ", r.status().ToString());
    return *r;
  }
};

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

std::string ErrorCode(const http::ClientResponse& r) { return Json(r).Text("error.code"); }

// The stream_id of every NDJSON line.
std::vector<std::string> StreamsOf(const std::string& ndjson) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(ndjson, '\n', absl::SkipEmpty())) {
    auto fields = gateways::PayloadFields::ParseJson(std::string(line));
    REQUIRE(fields.ok());
    out.push_back(fields->Text("stream_id"));
  }
  return out;
}

TEST_CASE("audit API: auditor keys only, one tenant's or every tenant's, another's is 404") {
  World w;
  auto a_auditor = tenants::IssueApiKey(*w.store, w.a, tenants::kAuditorScope);
  REQUIRE(a_auditor.ok());
  auto all_auditor = tenants::IssueSystemApiKey(*w.store, tenants::kAuditorScope);
  REQUIRE(all_auditor.ok());
  auto a_owner = tenants::IssueApiKey(*w.store, w.a, tenants::kOwnerScope);
  REQUIRE(a_owner.ok());
  auto admin = tenants::IssueSystemApiKey(*w.store, tenants::kAdminScope);
  REQUIRE(admin.ok());
  const std::string& auditor = *a_auditor;
  const std::string& everyone = all_auditor->api_key;
  const std::string time =
      ledger::FormatMicros(std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());

  const std::vector<std::string> reads = {"/v1/audit/streams/" + w.a_payment,
                                          "/v1/audit/events?partition=0",
                                          "/v1/audit/as-of?time=" + time, "/v1/audit/verify"};
  SUBCASE("no key is 401, owner and admin keys are 403, auditor keys write nothing") {
    for (const std::string& target : reads) {
      INFO(target);
      CHECK(w.Call("GET", target, "").status == 401);
      CHECK(w.Call("GET", target, "tly_unknown").status == 401);
      http::ClientResponse owner = w.Call("GET", target, *a_owner);
      CHECK(owner.status == 403);
      CHECK(ErrorCode(owner) == "forbidden");
      CHECK(w.Call("GET", target, admin->api_key).status == 403);
    }
    CHECK(w.Call("POST", "/v1/audit/verify", *a_owner).status == 403);
    const std::string charge =
        R"({"gateway":"stripe","bot_id":"b","customer_id":"c","product_id":"p","amount_minor":990,"currency":"BRL"})";
    for (const std::string& key : {auditor, everyone}) {
      CHECK(w.Call("POST", "/v1/payments", key, charge).status == 403);
      CHECK(w.Call("POST", "/v1/admin/jobs/delivery/pause", key).status == 403);
      CHECK(w.Call("GET", "/v1/admin/jobs", key).status == 403);
    }
  }

  SUBCASE("streams: its own tenant's history; another tenant's is 404 like none") {
    auto history = w.store->ReadStream(w.a, w.a_payment);
    REQUIRE(history.ok());
    http::ClientResponse own = w.Call("GET", "/v1/audit/streams/" + w.a_payment, auditor);
    REQUIRE(own.status == 200);
    gateways::PayloadFields body = Json(own);
    CHECK(body.Text("stream_id") == w.a_payment);
    REQUIRE(body.ArraySize("events") == static_cast<int64_t>(history->size()));
    for (size_t i = 0; i < history->size(); ++i) {
      CHECK(body.Text(absl::StrCat("events.", i, ".hash")) ==
            ledger::HexEncode((*history)[i].hash));
      CHECK(body.Text(absl::StrCat("events.", i, ".event_type")) == (*history)[i].type);
    }
    http::ClientResponse other = w.Call("GET", "/v1/audit/streams/" + w.b_payment, auditor);
    http::ClientResponse none = w.Call("GET", "/v1/audit/streams/payment-stripe-nosuch", auditor);
    CHECK(other.status == 404);
    CHECK(none.status == 404);
    CHECK(ErrorCode(other) == "stream_not_found");
    CHECK(ErrorCode(none) == "stream_not_found");
    CHECK(w.Call("GET", "/v1/audit/streams/tenant-" + w.b, auditor).status == 404);
    CHECK(w.Call("GET", "/v1/audit/streams/admin-keys", auditor).status == 404);
    // Every tenant's auditor reads both.
    CHECK(w.Call("GET", "/v1/audit/streams/" + w.b_payment, everyone).status == 200);
    CHECK(w.Call("GET", "/v1/audit/streams/" + w.a_payment, everyone).status == 200);
  }

  SUBCASE("events: NDJSON of its tenant's events only, paged to the end") {
    const int partition = ledger::PartitionForKey(w.a, kPartitions);
    std::vector<std::string> expected;
    for (const auto& e : AllEvents(w.db->url())) {
      if (e.partition == partition && w.tenant_of.count(e.stream_id) &&
          w.tenant_of[e.stream_id] == w.a) {
        expected.push_back(e.stream_id);
      }
    }
    REQUIRE(!expected.empty());
    http::ClientResponse page = w.Call("GET", "/v1/audit/events?limit=10000", auditor);
    REQUIRE(page.status == 200);
    CHECK(page.Header("content-type") == "application/x-ndjson");
    CHECK(page.Header("tally-end") == "true");
    CHECK(StreamsOf(page.body) == expected);
    // Pages of 7 (some empty once another tenant's events are left out) add up to the same.
    std::vector<std::string> paged;
    std::string after = "0";
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 10000);
      http::ClientResponse p = w.Call(
          "GET",
          absl::StrCat("/v1/audit/events?partition=", partition, "&after=", after, "&limit=7"),
          auditor);
      REQUIRE(p.status == 200);
      for (auto& s : StreamsOf(p.body)) paged.push_back(s);
      after = p.Header("tally-next-after");
      if (p.Header("tally-end") == "true") break;
    }
    CHECK(paged == expected);
    // The all-tenant auditor sees the whole partition, B's events too.
    http::ClientResponse whole =
        w.Call("GET", absl::StrCat("/v1/audit/events?limit=10000&partition=", partition), everyone);
    REQUIRE(whole.status == 200);
    const std::vector<std::string> all = StreamsOf(whole.body);
    CHECK(all.size() > expected.size());
    CHECK(std::find(all.begin(), all.end(), w.b_payment) != all.end());
    // Bad parameters name themselves.
    http::ClientResponse no_partition = w.Call("GET", "/v1/audit/events", everyone);
    CHECK(no_partition.status == 400);
    CHECK(absl::StrContains(Json(no_partition).Text("error.message"), "partition"));
    for (const std::string& bad :
         {"limit=0", "limit=10001", "after=-1", "after=x", "partition=9"}) {
      http::ClientResponse r = w.Call("GET", "/v1/audit/events?" + bad, auditor);
      INFO(bad);
      CHECK(r.status == 400);
      CHECK(ErrorCode(r) == "invalid_parameter");
      CHECK(absl::StartsWith(Json(r).Text("error.message"), bad.substr(0, bad.find('='))));
    }
  }

  SUBCASE("as-of: its tenant's rows; another tenant is 404; a bad time is 400 naming time") {
    http::ClientResponse own = w.Call("GET", "/v1/audit/as-of?time=" + time, auditor);
    REQUIRE(own.status == 200);
    gateways::PayloadFields body = Json(own);
    CHECK(body.Text("tenant_id") == w.a);
    REQUIRE(body.ArraySize("rows") > 0);
    for (int64_t i = 0; i < body.ArraySize("rows"); ++i) {
      CHECK(body.Text(absl::StrCat("rows.", i, ".tenant_id")) == w.a);
    }
    CHECK(w.Call("GET", "/v1/audit/as-of?view=revenue&tenant=" + w.a + "&time=" + time, auditor)
              .status == 200);
    http::ClientResponse other =
        w.Call("GET", "/v1/audit/as-of?tenant=" + w.b + "&time=" + time, auditor);
    CHECK(other.status == 404);
    CHECK(ErrorCode(other) == "tenant_not_found");
    http::ClientResponse b_rows =
        w.Call("GET", "/v1/audit/as-of?tenant=" + w.b + "&time=" + time, everyone);
    REQUIRE(b_rows.status == 200);
    CHECK(Json(b_rows).Text("rows.0.tenant_id") == w.b);
    CHECK(w.Call("GET", "/v1/audit/as-of?tenant=nobody&time=" + time, everyone).status == 404);
    for (const std::string& bad : {"time=yesterday", "", "time=2026-02-30T00:00:00Z"}) {
      http::ClientResponse r = w.Call("GET", "/v1/audit/as-of?" + bad, auditor);
      INFO(bad);
      CHECK(r.status == 400);
      CHECK(absl::StartsWith(Json(r).Text("error.message"), "time"));
    }
    http::ClientResponse view = w.Call("GET", "/v1/audit/as-of?view=ledger&time=" + time, auditor);
    CHECK(view.status == 400);
    CHECK(absl::StartsWith(Json(view).Text("error.message"), "view"));
  }

  SUBCASE("verify: a job with progress, then every partition's head; one tenant sees its own") {
    http::ClientResponse started = w.Call("POST", "/v1/audit/verify", everyone);
    CHECK((started.status == 202 || started.status == 200));
    gateways::PayloadFields run = Json(started);
    const std::string id = run.Text("run");
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (run.Text("state") == "running") {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(50ms);
      run = Json(w.Call("GET", "/v1/audit/verify", everyone));
    }
    CHECK(run.Text("run") == id);
    REQUIRE(run.Text("state") == "done");
    std::vector<int64_t> heads(kPartitions, 0);
    for (const auto& e : AllEvents(w.db->url())) heads[e.partition] = e.position;
    REQUIRE(run.ArraySize("partitions") == kPartitions);
    CHECK(Int(run, "verified") == heads[0] + heads[1]);
    CHECK(Int(run, "total") == heads[0] + heads[1]);
    for (int p = 0; p < kPartitions; ++p) {
      const std::string at = absl::StrCat("partitions.", p, ".");
      CHECK(Int(run, at + "partition") == p);
      CHECK(Int(run, at + "head_position") == heads[p]);
      CHECK((run.Text(at + "ok") == "true"));
      CHECK(run.Text(at + "head_hash").size() == 64);
    }
    gateways::PayloadFields own = Json(w.Call("GET", "/v1/audit/verify", auditor));
    REQUIRE(own.ArraySize("partitions") == 1);
    CHECK(Int(own, "partitions.0.partition") == ledger::PartitionForKey(w.a, kPartitions));
  }
}

}  // namespace
}  // namespace tally::testing
