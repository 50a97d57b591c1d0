// Concurrent appends with expected versions, watched by log followers: no acknowledged event
// lost or duplicated, every conflict reported, versions and positions gapless, and a follower
// that sees every event once, in order, even when transactions commit late.

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "ledger/auditor.h"
#include "ledger/log_follower.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

using testing::PaymentCreatedEvent;
using testing::Request;

constexpr int kThreads = 16;
constexpr int kStreams = 50;
constexpr int kAppendsPerThread = 60;

struct Ack {
  int partition;
  std::vector<int64_t> positions;
  std::vector<std::string> markers;
};

// Collects what a follower delivered, per partition; its checkpoint is the last event seen.
class Seen final : public BatchHandler {
 public:
  absl::StatusOr<int64_t> Resume(pqxx::transaction_base&) override {
    std::lock_guard lock(mu);
    return events.empty() ? 0 : events.back().position;
  }
  absl::StatusOr<BatchOutcome> Handle(pqxx::transaction_base&, const LogBatch& batch) override {
    std::lock_guard lock(mu);
    events.insert(events.end(), batch.events.begin(), batch.events.end());
    return BatchOutcome::Handled(batch.events.back().position);
  }

  std::mutex mu;
  std::vector<RecordedEvent> events;
};

void RunLoad(int partitions) {
  auto db = testing::NewDatabase(partitions);
  // Two stores stand in for two processes appending to the same partitions. One of them holds
  // some transactions open between taking the head lock and committing, so the other's
  // batches queue behind a late commit.
  std::mt19937 delay_random(42);
  std::mutex delay_mu;
  AppenderOptions slow;
  slow.before_commit = [&](int) {
    int micros;
    {
      std::lock_guard lock(delay_mu);
      micros = std::uniform_int_distribution<int>(0, 3000)(delay_random);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  };
  auto slow_store = testing::OpenStore(db->url(), slow);
  auto fast_store = testing::OpenStore(db->url());

  std::vector<std::unique_ptr<Seen>> seen;
  std::vector<std::unique_ptr<LogFollower>> followers;
  for (int p = 0; p < partitions; ++p) {
    seen.push_back(std::make_unique<Seen>());
    LogFollowerOptions options;
    options.database_url = db->url();
    options.name = "concurrency-test";
    options.partition = p;
    options.batch_size = 37;  // small batches: many reads while appends are in flight
    options.poll_interval = std::chrono::milliseconds(200);
    followers.push_back(std::make_unique<LogFollower>(options, *seen.back()));
    followers.back()->Start();
  }

  std::mutex mu;
  std::vector<Ack> acks;
  std::set<std::string> conflicted_markers;
  int conflicts = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      EventStore& store = (t % 2 == 0) ? *slow_store : *fast_store;
      for (int i = 0; i < kAppendsPerThread; ++i) {
        const int s = std::uniform_int_distribution<int>(0, kStreams - 1)(random);
        const std::string tenant = absl::StrCat("tenant-", s % 7);
        const std::string stream = absl::StrCat("payment-stripe-", s);
        auto current = store.ReadStream(tenant, stream);
        REQUIRE(current.ok());
        const int64_t version = current->empty() ? 0 : current->back().stream_version;
        const int n = 1 + (i % 3 == 0);
        std::vector<EventData> events;
        std::vector<std::string> markers;
        for (int e = 0; e < n; ++e) {
          markers.push_back(absl::StrCat("t", t, "-i", i, "-e", e));
          events.push_back(PaymentCreatedEvent(markers.back()));
        }
        auto result = store.Append(
            Request(tenant, stream,
                    version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(version),
                    std::move(events)));
        std::lock_guard lock(mu);
        if (result.ok()) {
          REQUIRE(result->positions.size() == markers.size());
          acks.push_back({result->partition, result->positions, markers});
        } else {
          REQUIRE_MESSAGE(result.status().code() == absl::StatusCode::kAborted,
                          result.status().ToString());
          ++conflicts;
          conflicted_markers.insert(markers.begin(), markers.end());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  MESSAGE(acks.size(), " appends acknowledged, ", conflicts, " conflicts reported");
  CHECK(conflicts > 0);  // the load really contended
  CHECK(acks.size() + conflicts == kThreads * kAppendsPerThread);

  const std::vector<RecordedEvent> log = testing::AllEvents(db->url());
  // Every acknowledged event exactly once, where the ack said; nothing of a conflict.
  absl::flat_hash_map<std::string, std::pair<int, int64_t>> where;
  for (const auto& event : log) {
    const std::string marker = testing::MarkerOf(event);
    REQUIRE_MESSAGE(where.emplace(marker, std::make_pair(event.partition, event.position)).second,
                    "duplicate event ", marker);
    CHECK_FALSE(conflicted_markers.contains(marker));
  }
  size_t acked_events = 0;
  for (const auto& ack : acks) {
    for (size_t e = 0; e < ack.markers.size(); ++e) {
      auto it = where.find(ack.markers[e]);
      REQUIRE_MESSAGE(it != where.end(), "acknowledged event lost: ", ack.markers[e]);
      CHECK(it->second == std::make_pair(ack.partition, ack.positions[e]));
      ++acked_events;
    }
  }
  CHECK(log.size() == acked_events);

  // Positions 1..N per partition; stream versions 1..n per stream.
  std::map<int, int64_t> last_position;
  std::map<std::pair<int, std::string>, int64_t> last_version;
  for (const auto& event : log) {
    CHECK(event.position == ++last_position[event.partition]);
    CHECK(event.stream_version == ++last_version[{event.partition, event.stream_id}]);
  }

  // Each follower saw its partition's events exactly once and in order.
  for (int p = 0; p < partitions; ++p) {
    const int64_t head = last_position[p];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (followers[p]->position() < head && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    followers[p]->Stop();
    CHECK(followers[p]->status().ok());
    std::lock_guard lock(seen[p]->mu);
    REQUIRE(static_cast<int64_t>(seen[p]->events.size()) == head);
    for (int64_t i = 0; i < head; ++i) {
      CHECK(seen[p]->events[i].position == i + 1);
      CHECK(seen[p]->events[i].partition == p);
    }
  }

  auto verification = VerifyLog(db->url());
  REQUIRE(verification.ok());
  for (const auto& p : *verification) CHECK_MESSAGE(p.ok, p.problem);
}

TEST_CASE("16 threads, 50 overlapping streams, expected versions: one partition") { RunLoad(1); }

TEST_CASE("16 threads, 50 overlapping streams, expected versions: four partitions") { RunLoad(4); }

}  // namespace
}  // namespace tally::ledger
