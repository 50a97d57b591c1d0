// The admin jobs API through real `tally serve` processes (issue 10, seed 003's admin jobs):
// only admin keys (an owner key is 403, none or an unknown one 401); every job the reactors
// process runs is listed with its leader, lag and backlog; a trigger of the reconciliation
// poller polls a pending payment now instead of at its scheduled time; and a paused delivery
// reactor delivers nothing — not even after its process restarts — until it is resumed, when
// every payment is delivered exactly once.

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateways/payload_fields.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tenants/tenant_directory.h"
#include "tests/reactors/serve_harness.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kBotToken[] = "7501:AAHjobsapitest";
constexpr char kBotId[] = "7501";

struct AdminKey {
  std::string key;
  std::string id;
};

// `tally admin keys create`: "api key <key>" and "key id <id> (scope admin)".
AdminKey CreateAdminKey(ServeHarness& h) {
  CommandResult created = h.Tally("admin keys create");
  REQUIRE_MESSAGE(created.exit_code == 0, created.output);
  AdminKey key;
  for (absl::string_view line : absl::StrSplit(created.output, '\n')) {
    if (absl::ConsumePrefix(&line, "api key ")) key.key = std::string(line);
    if (absl::ConsumePrefix(&line, "key id ")) key.id = std::string(line.substr(0, line.find(' ')));
  }
  REQUIRE(absl::StartsWith(key.key, "tly_"));
  REQUIRE(absl::StartsWith(key.id, "key_"));
  return key;
}

http::ClientResponse Call(ServeHarness& h, const std::string& method, const std::string& path,
                          const std::string& key) {
  http::HttpClient client;
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
  auto r = client.Send({method, h.HttpUrl() + path, std::move(headers), "", 30000ms});
  REQUIRE_MESSAGE(r.ok(), method, " ", path, ": ", r.status().ToString());
  return *r;
}

gateways::PayloadFields Json(const http::ClientResponse& r) {
  INFO(r.status, " ", r.body);
  auto fields = gateways::PayloadFields::ParseJson(r.body);
  REQUIRE(fields.ok());
  return *std::move(fields);
}

// The list, job name -> its path in the answer ("jobs.3").
std::map<std::string, std::string> JobPaths(const gateways::PayloadFields& list) {
  std::map<std::string, std::string> out;
  for (int64_t i = 0; i < list.ArraySize("jobs"); ++i) {
    out[list.Text(absl::StrCat("jobs.", i, ".name"))] = absl::StrCat("jobs.", i);
  }
  return out;
}

CommandResult JobsCli(ServeHarness& h, const AdminKey& key, const std::string& args) {
  return RunCommand(absl::StrCat("TALLY_API_KEY=", key.key, " ", TallyBinary(), " jobs ", args,
                                 " --url ", h.HttpUrl()));
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

const ledger::RecordedEvent* First(const std::vector<ledger::RecordedEvent>& events,
                                   const std::string& type) {
  for (const auto& e : events) {
    if (e.type == type) return &e;
  }
  return nullptr;
}

TEST_CASE("jobs API: admin keys only, every job with its leader and backlog, a trigger polls now") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  h.StartHttp();
  h.StartReactors();
  const AdminKey admin = CreateAdminKey(h);
  auto owner = tenants::IssueApiKey(h.store(), h.tenant_id(), "owner");
  REQUIRE(owner.ok());

  CHECK(Call(h, "GET", "/v1/admin/jobs", "").status == 401);
  CHECK(Call(h, "GET", "/v1/admin/jobs", "tly_not_a_key").status == 401);
  http::ClientResponse forbidden = Call(h, "GET", "/v1/admin/jobs", *owner);
  CHECK(forbidden.status == 403);
  CHECK(Json(forbidden).Text("error.code") == "forbidden");
  CHECK(Call(h, "POST", "/v1/admin/jobs/delivery/pause", *owner).status == 403);
  CHECK(Call(h, "POST", "/v1/admin/jobs/reconciliation/trigger", "").status == 401);

  // Every job is led by the reactors process once it has started them all.
  const std::string leader = absl::StrCat("tally serve pid ", h.reactors_process().pid(), " ");
  std::string unled;
  const bool led = WaitUntil(
      [&] {
        gateways::PayloadFields list = Json(Call(h, "GET", "/v1/admin/jobs", admin.key));
        unled.clear();
        for (const auto& [name, at] : JobPaths(list)) {
          if (!absl::StartsWith(list.Text(at + ".partitions.0.leader.application_name"), leader)) {
            unled += name + " ";
          }
        }
        return unled.empty();
      },
      30s);
  CHECK_MESSAGE(led, "not led by ", leader, ": ", unled);
  gateways::PayloadFields list = Json(Call(h, "GET", "/v1/admin/jobs", admin.key));
  std::map<std::string, std::string> jobs = JobPaths(list);
  // Reactors, senders, timer kinds and pollers, as the host wires them; every reactor that
  // keeps a checkpoint is one.
  for (const std::string name :
       {"delivery", "outbox", "timers", "reconciliation_queue", "outbox:delivery",
        "outbox:meta_purchase", "timer:upsell", "reconciliation", "charge_reconciler"}) {
    CHECK_MESSAGE(jobs.count(name) == 1, name);
  }
  for (const auto& s : h.Status()) {
    if (!absl::StartsWith(s.reactor, "outbox:"))
      CHECK_MESSAGE(jobs.count(s.reactor) == 1, s.reactor);
  }
  CHECK(list.Text(jobs["delivery"] + ".type") == "reactor");
  CHECK(list.Text(jobs["outbox:delivery"] + ".type") == "outbox");
  CHECK(list.Text(jobs["timer:upsell"] + ".type") == "timer");
  CHECK(list.Text(jobs["reconciliation"] + ".type") == "poller");
  CHECK(list.Text(jobs["delivery"] + ".state") == "running");

  // A pending PushinPay charge: the poller's backlog, first due a minute after its creation
  // (PushinPay's interval per transaction).
  http::ClientResponse created = h.CreateCharge({"pushinpay", kBotId, "tg:8801"}, "");
  REQUIRE_MESSAGE(created.status == 201, created.body);
  const std::string stream = "payment-pushinpay-" + Json(created).Text("gateway_transaction_id");
  gateways::PayloadFields poller = Json(Call(h, "GET", "/v1/admin/jobs/reconciliation", admin.key));
  CHECK(WaitUntil(
      [&] {
        poller = Json(Call(h, "GET", "/v1/admin/jobs/reconciliation", admin.key));
        return poller.Text("backlog") == "1" && poller.Text("lag") == "0";
      },
      30s));
  CHECK_FALSE(poller.Text("next_due_at").empty());
  CHECK(First(h.Streams()[stream], "tally.payments.v1.GatewayStatusPolled") == nullptr);

  // Triggered: polled now, not a minute after its creation.
  http::ClientResponse triggered =
      Call(h, "POST", "/v1/admin/jobs/reconciliation/trigger", admin.key);
  REQUIRE(triggered.status == 200);
  CHECK(Json(triggered).Text("changed") == "true");
  CHECK(Json(triggered).Text("job.last_triggered_by") == admin.id);
  const ledger::RecordedEvent* polled = nullptr;
  std::vector<ledger::RecordedEvent> events;
  CHECK(WaitUntil(
      [&] {
        events = h.Streams()[stream];
        polled = First(events, "tally.payments.v1.GatewayStatusPolled");
        return polled != nullptr;
      },
      30s));
  REQUIRE(polled != nullptr);
  const ledger::RecordedEvent* payment = First(events, "tally.payments.v1.PaymentCreated");
  REQUIRE(payment != nullptr);
  CHECK(polled->recorded_at_us - payment->recorded_at_us < 45'000'000);
  // Polled once for the trigger: the next poll waits for PushinPay's minute.
  CHECK(CountOf(events, "tally.payments.v1.GatewayStatusPolled") == 1);

  // Names, percent-encoded or not; unknown jobs and wrong methods.
  http::ClientResponse unknown = Call(h, "GET", "/v1/admin/jobs/nope", admin.key);
  CHECK(unknown.status == 404);
  CHECK(Json(unknown).Text("error.code") == "job_not_found");
  http::ClientResponse encoded = Call(h, "GET", "/v1/admin/jobs/outbox%3Adelivery", admin.key);
  CHECK(encoded.status == 200);
  CHECK(Json(encoded).Text("name") == "outbox:delivery");
  CHECK(Call(h, "POST", "/v1/admin/jobs", admin.key).status == 405);
  CHECK(Call(h, "GET", "/v1/admin/jobs/delivery/pause", admin.key).status == 405);
  CHECK(Call(h, "POST", "/v1/admin/jobs/delivery/stop", admin.key).status == 404);

  // The CLI reads the same API; bad input is one line and exit 2.
  CommandResult listed = JobsCli(h, admin, "list");
  CHECK_MESSAGE(listed.exit_code == 0, listed.output);
  CHECK(absl::StrContains(listed.output, "timer:upsell"));
  CHECK(absl::StrContains(listed.output, leader));
  CommandResult no_job = JobsCli(h, admin, "pause nope");
  CHECK(no_job.exit_code == 2);
  CHECK(absl::StrContains(no_job.output, "job_not_found"));
  CHECK(std::count(no_job.output.begin(), no_job.output.end(), '\n') == 1);
  CommandResult as_owner = RunCommand(
      absl::StrCat("TALLY_API_KEY=", *owner, " ", TallyBinary(), " jobs list --url ", h.HttpUrl()));
  CHECK(as_owner.exit_code == 2);
  CHECK(absl::StrContains(as_owner.output, "403"));
  h.StopReactors();
  h.StopHttp();
}

TEST_CASE("a paused delivery reactor delivers nothing, even after a restart, then once on resume") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  h.StartHttp();
  const AdminKey admin = CreateAdminKey(h);
  CommandResult paused = JobsCli(h, admin, "pause delivery --reason 'deploy'");
  REQUIRE_MESSAGE(paused.exit_code == 0, paused.output);
  CHECK(absl::StrContains(paused.output, "now paused"));
  h.StartReactors();

  constexpr int64_t kFirstChat = 8900;
  std::vector<ChargeSpec> charges;
  for (int i = 0; i < 3; ++i) {
    charges.push_back({"stripe", kBotId, absl::StrCat("tg:", kFirstChat + i)});
  }
  auto charged = h.ChargeAndPay(charges);
  REQUIRE(charged.errors.empty());
  h.WaitWebhooksAcknowledged(charged.payments);

  // Every other reactor folds the whole log while the delivery reactor keeps its checkpoint
  // before the first paid webhook, and nothing is delivered.
  auto check_nothing_delivered = [&](const std::string& when) {
    CAPTURE(when);
    std::optional<gateways::PayloadFields> answer;
    std::string behind;
    const bool others_done = WaitUntil(
        [&] {
          answer = Json(Call(h, "GET", "/v1/admin/jobs", admin.key));
          behind.clear();
          for (const auto& [name, at] : JobPaths(*answer)) {
            if (answer->Text(at + ".type") == "reactor" && name != "delivery" &&
                answer->Text(at + ".lag") != "0") {
              behind += name + " ";
            }
          }
          return behind.empty();
        },
        60s);
    CHECK_MESSAGE(others_done, "behind: ", behind);
    const gateways::PayloadFields& list = *answer;
    const std::string delivery = JobPaths(list)["delivery"];
    CHECK(list.Text(delivery + ".state") == "paused");
    CHECK(list.Text(delivery + ".state_changed_by") == admin.id);
    CHECK(list.Text(delivery + ".reason") == "deploy");
    int64_t checkpoint = -1;
    REQUIRE(absl::SimpleAtoi(list.Text(delivery + ".partitions.0.checkpoint"), &checkpoint));
    auto streams = h.Streams();
    for (const Payment& p : charged.payments) {
      const ledger::RecordedEvent* webhook =
          First(streams[p.stream_id], "tally.payments.v1.GatewayWebhookReceived");
      REQUIRE(webhook != nullptr);
      CHECK(checkpoint < webhook->position);
      CHECK(CountOf(streams[p.stream_id], "tally.payments.v1.DeliveryIssued") == 0);
    }
    CHECK(h.TelegramMessagesPerChat().empty());
  };
  check_nothing_delivered("paused");

  // A restart reads the pause before it runs anything; a sale meanwhile waits too.
  h.StopReactors();
  auto more = h.ChargeAndPay({{"stripe", kBotId, absl::StrCat("tg:", kFirstChat + 3)}});
  REQUIRE(more.errors.empty());
  h.WaitWebhooksAcknowledged(more.payments);
  charged.payments.push_back(more.payments[0]);
  h.StartReactors();
  check_nothing_delivered("after a restart");

  CommandResult resumed = JobsCli(h, admin, "resume delivery");
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.output);
  CHECK(absl::StrContains(resumed.output, "now running"));
  h.WaitQuiet(60s, [&] {
    for (const auto& s : h.Status()) {
      if (s.reactor == "outbox:delivery" && s.done == 4) return true;
    }
    return false;
  });
  auto streams = h.Streams();
  const std::map<int64_t, int> messages = h.TelegramMessagesPerChat();
  for (int i = 0; i < 4; ++i) {
    const Payment& p = charged.payments[i];
    CAPTURE(p.stream_id);
    CHECK(CountOf(streams[p.stream_id], "tally.payments.v1.DeliveryIssued") == 1);
    CHECK(CountOf(streams[p.stream_id], "tally.payments.v1.DeliveryMessageSent") == 1);
    auto received = messages.find(kFirstChat + i);
    CHECK((received == messages.end() ? 0 : received->second) == 1);
  }
  // The pause and the resume are in the log, the admin key as their actor.
  const auto& commands = streams["jobs"];
  REQUIRE(commands.size() == 2);
  CHECK(commands[0].type == "tally.jobs.v1.JobPaused");
  CHECK(commands[1].type == "tally.jobs.v1.JobResumed");
  ledger::v1::Metadata metadata;
  REQUIRE(metadata.ParseFromString(commands[1].metadata));
  CHECK(metadata.actor() == admin.id);
  CHECK(metadata.source() == ledger::v1::SOURCE_ADMIN);
  h.StopReactors();
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
