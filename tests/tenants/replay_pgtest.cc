// `tally replay` on real PostgreSQL: a stream's NDJSON is its history, event by event; a tenant's
// is every event of its streams in log order and nothing of another tenant's, even one sharing
// its partition; --from/--to keep the events recorded in between (streams first met mid-way are
// still attributed to their tenant); bad input is exit 2.

#include "tenants/stream_tenants.h"

#include <doctest/doctest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "app/lifecycle_generator.h"
#include "ledger/event_json.h"
#include "tenants/tenant_directory.h"
#include "tests/support/generated_log.h"
#include "tests/support/pg.h"

namespace tally::tenants {
namespace {

std::string Lines(const std::vector<ledger::RecordedEvent>& events) {
  const ledger::EventRegistry registry = ledger::EventRegistry::Default();
  std::string out;
  for (const auto& e : events) absl::StrAppend(&out, ledger::EventToJson(e, registry), "\n");
  return out;
}

// stdout only: the command's stderr (progress, the count) is dropped.
testing::CommandResult Replay(const std::string& url, const std::string& args) {
  return testing::RunCommand(absl::StrCat("(", testing::TallyBinary(), " replay --database '", url,
                                          "' ", args, " 2>/dev/null)"));
}

TEST_CASE("tally replay: a stream's history, a tenant's events only, a time window") {
  constexpr int kPartitions = 2;
  auto db = testing::NewDatabase(kPartitions);
  auto store = testing::OpenStore(db->url());
  app::LifecycleGenerator generator(11, 6);
  std::map<std::string, std::string> tenant_of =  // stream -> tenant
      testing::AppendGeneratedLog(*store, generator, 120);
  // A system stream in some partition: no tenant's.
  REQUIRE(IssueSystemApiKey(*store, kAuditorScope).ok());

  // Two tenants that share a partition.
  std::string a, b;
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
  const std::vector<ledger::RecordedEvent> all = testing::AllEvents(db->url());
  std::vector<ledger::RecordedEvent> of_a;
  std::string a_payment;
  for (const auto& e : all) {
    if (tenant_of.count(e.stream_id) && tenant_of[e.stream_id] == a) {
      of_a.push_back(e);
      if (a_payment.empty() && e.stream_id.rfind("payment-", 0) == 0) a_payment = e.stream_id;
    }
  }
  REQUIRE(!a_payment.empty());

  SUBCASE("a stream's NDJSON is its history") {
    auto history = store->ReadStream(a, a_payment);
    REQUIRE(history.ok());
    REQUIRE(history->size() > 1);
    testing::CommandResult out = Replay(db->url(), "--stream " + a_payment);
    REQUIRE(out.exit_code == 0);
    CHECK(out.output == Lines(*history));
    CHECK(Replay(db->url(), "--stream payment-stripe-nosuch").output.empty());
  }

  SUBCASE("a tenant's NDJSON is its streams' events and no other tenant's") {
    testing::CommandResult out = Replay(db->url(), "--tenant " + a);
    REQUIRE(out.exit_code == 0);
    CHECK(out.output == Lines(of_a));
    for (absl::string_view line : absl::StrSplit(out.output, '\n', absl::SkipEmpty())) {
      CHECK(line.find("\"tenant_id\":\"" + b + "\"") == absl::string_view::npos);
    }
    CHECK(Replay(db->url(), "--tenant nobody").output.empty());
  }

  SUBCASE("--from and --to keep what was recorded in between") {
    const int64_t from_us = of_a[of_a.size() / 3].recorded_at_us;
    const int64_t to_us = of_a[2 * of_a.size() / 3].recorded_at_us;
    std::vector<ledger::RecordedEvent> window;
    for (const auto& e : of_a) {
      if (e.recorded_at_us >= from_us && e.recorded_at_us <= to_us) window.push_back(e);
    }
    REQUIRE(window.size() < of_a.size());
    testing::CommandResult out =
        Replay(db->url(), absl::StrCat("--tenant ", a, " --from ", ledger::FormatMicros(from_us),
                                       " --to ", ledger::FormatMicros(to_us)));
    REQUIRE(out.exit_code == 0);
    CHECK(out.output == Lines(window));
  }

  SUBCASE("bad input is exit 2") {
    CHECK(Replay(db->url(), "--tenant " + a + " --from yesterday").exit_code == 2);
    CHECK(Replay(db->url(), "").exit_code == 2);
  }
}

TEST_CASE("a stream's tenant: from its first event naming one, read back when met mid-way") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  app::LifecycleGenerator generator(3, 2);
  app::Lifecycle life = generator.Payment(1);
  REQUIRE(store
              ->Append(
                  {life.tenant_id, life.stream_id, ledger::ExpectedVersion::Any(), life.events, ""})
              .ok());
  REQUIRE(IssueSystemApiKey(*store, kAdminScope).ok());
  auto events = store->ReadStream(life.tenant_id, life.stream_id);
  REQUIRE(events.ok());
  CHECK(PayloadTenantId(events->front()) == life.tenant_id);
  int reads = 0;
  StreamTenants tenants([&](int partition, const std::string& stream) {
    ++reads;
    return store->ReadStreamInPartition(partition, stream);
  });
  // Met mid-way first: read back once, then known.
  CHECK(*tenants.Of(events->back()) == life.tenant_id);
  CHECK(*tenants.Of(events->front()) == life.tenant_id);
  CHECK(reads == 1);
  auto keys = store->ReadStream(kSystemTenantKey, kAdminKeysStream);
  REQUIRE(keys.ok());
  CHECK(*tenants.Of(keys->front()) == "");
}

}  // namespace
}  // namespace tally::tenants
