// Appends against a real PostgreSQL: expected versions, idempotency, bad input, positions, and
// how the group-commit appender forms its batches.

#include <doctest/doctest.h>

#include <barrier>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ledger/auditor.h"
#include "ledger/limits.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tests/support/pg.h"

namespace tally::ledger {
namespace {

using testing::AllEvents;
using testing::MarkerOf;
using testing::PaymentCreatedEvent;
using testing::Request;

TEST_CASE("append and read back a stream") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto first = store->Append(Request("t1", "payment-stripe-pi_1", ExpectedVersion::NoStream(),
                                     {PaymentCreatedEvent("a"), PaymentCreatedEvent("b")}));
  REQUIRE(first.ok());
  CHECK(first->positions == std::vector<int64_t>{1, 2});
  CHECK(first->last_version == 2);
  CHECK_FALSE(first->duplicate);
  auto second = store->Append(
      Request("t1", "payment-stripe-pi_1", ExpectedVersion::Exact(2), {PaymentCreatedEvent("c")}));
  REQUIRE(second.ok());
  CHECK(second->positions == std::vector<int64_t>{3});

  auto events = store->ReadStream("t1", "payment-stripe-pi_1");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  CHECK(testing::MarkerOf((*events)[0]) == "a");
  CHECK(testing::MarkerOf((*events)[2]) == "c");
  CHECK((*events)[2].stream_version == 3);
  CHECK((*events)[1].prev_hash == (*events)[0].hash);
  CHECK(store->ReadStream("t1", "payment-stripe-none")->empty());
}

TEST_CASE("a stale expected version is a conflict and writes nothing") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  REQUIRE(store->Append(Request("t1", "s", ExpectedVersion::NoStream(), {PaymentCreatedEvent("a")}))
              .ok());
  auto again =
      store->Append(Request("t1", "s", ExpectedVersion::NoStream(), {PaymentCreatedEvent("b")}));
  CHECK(again.status().code() == absl::StatusCode::kAborted);
  auto stale =
      store->Append(Request("t1", "s", ExpectedVersion::Exact(0), {PaymentCreatedEvent("c")}));
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  CHECK(std::string(stale.status().message()).find("expected 0, stream is at 1") !=
        std::string::npos);
  auto ahead =
      store->Append(Request("t1", "s", ExpectedVersion::Exact(5), {PaymentCreatedEvent("d")}));
  CHECK(ahead.status().code() == absl::StatusCode::kAborted);
  CHECK(AllEvents(db->url()).size() == 1);
}

TEST_CASE("bad input is refused with a clear status and nothing is written") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto refused = [&](AppendRequest request) {
    auto result = store->Append(std::move(request));
    return result.status().code() == absl::StatusCode::kInvalidArgument;
  };
  CHECK(refused(Request("t", "", ExpectedVersion::Any(), {PaymentCreatedEvent("a")})));
  CHECK(refused(
      Request("t", std::string(201, 's'), ExpectedVersion::Any(), {PaymentCreatedEvent("a")})));
  EventData big = PaymentCreatedEvent("a");
  big.payload.append((1 << 20) + 1 - big.payload.size(), '\0');
  CHECK(refused(Request("t", "s", ExpectedVersion::Any(), {big})));
  EventData unknown = PaymentCreatedEvent("a");
  unknown.type = "tally.payments.v1.NotAnEvent";
  CHECK(refused(Request("t", "s", ExpectedVersion::Any(), {unknown})));
  CHECK(refused(Request("t", "s", ExpectedVersion::Exact(-1), {PaymentCreatedEvent("a")})));
  CHECK(AllEvents(db->url()).empty());
}

TEST_CASE("a repeated idempotency key returns the original positions") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  auto first = store->Append(
      Request("t", "s", ExpectedVersion::Any(),
              {PaymentCreatedEvent("a"), PaymentCreatedEvent("b"), PaymentCreatedEvent("c")},
              "webhook:evt_1"));
  REQUIRE(first.ok());
  REQUIRE(
      store->Append(Request("t", "s", ExpectedVersion::Any(), {PaymentCreatedEvent("x")})).ok());
  // A retry, even one that would now conflict, answers with what the key wrote.
  auto retry = store->Append(
      Request("t", "s", ExpectedVersion::NoStream(), {PaymentCreatedEvent("a")}, "webhook:evt_1"));
  REQUIRE(retry.ok());
  CHECK(retry->duplicate);
  CHECK(retry->positions == first->positions);
  CHECK(retry->last_version == 3);
  CHECK(AllEvents(db->url()).size() == 4);
}

TEST_CASE("the same idempotency key from 8 threads at once: one write, eight identical answers") {
  auto db = testing::NewDatabase();
  auto store = testing::OpenStore(db->url());
  std::barrier start(8);
  std::vector<absl::StatusOr<AppendResult>> answers(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      answers[i] = store->Append(Request("t", "payment-pushinpay-abc", ExpectedVersion::Any(),
                                         {PaymentCreatedEvent(absl::StrCat("caller-", i))},
                                         "pushinpay:abc:paid"));
    });
  }
  for (auto& t : threads) t.join();
  int originals = 0;
  for (const auto& answer : answers) {
    REQUIRE(answer.ok());
    CHECK(answer->positions == answers[0]->positions);
    if (!answer->duplicate) ++originals;
  }
  CHECK(originals == 1);
  CHECK(AllEvents(db->url()).size() == 1);
}

TEST_CASE("the same key twice within one batch is written once") {
  auto db = testing::NewDatabase();
  constexpr size_t kCallers = 4;
  // The writer waits until every caller has queued, so all of them are planned as one batch;
  // otherwise the later ones could be answered from the log by a later batch, and the check
  // within a batch would go untested.
  AppenderOptions options;
  options.hold = [](size_t queued) { return queued < kCallers; };
  std::mutex mu;
  std::vector<BatchStats> batches;
  options.on_batch = [&](const BatchStats& batch) {
    std::lock_guard lock(mu);
    batches.push_back(batch);
  };
  auto store = testing::OpenStore(db->url(), options);
  std::vector<absl::StatusOr<AppendResult>> answers(kCallers);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      answers[i] =
          store->Append(Request("t", "s", ExpectedVersion::Any(),
                                {PaymentCreatedEvent(absl::StrCat("caller-", i))}, "same-key"));
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].requests == kCallers);
  int originals = 0;
  for (const auto& answer : answers) {
    REQUIRE(answer.ok());
    CHECK(answer->positions == answers[0]->positions);
    if (!answer->duplicate) ++originals;
  }
  CHECK(originals == 1);
  CHECK(AllEvents(db->url()).size() == 1);
}

// A valid PaymentCreated of nearly kMaxPayloadBytes: its payment id is `marker` padded out.
EventData NearlyMiBEvent(const std::string& marker) {
  EventData event = PaymentCreatedEvent(marker);
  payments::v1::PaymentCreated created;
  REQUIRE(created.ParseFromString(event.payload));
  created.set_payment_id(marker + std::string(kMaxPayloadBytes - 1024, 'a' + marker.size() % 26));
  event.payload = created.SerializeAsString();
  REQUIRE(event.payload.size() <= kMaxPayloadBytes);
  return event;
}

size_t RequestBytes(const AppendRequest& request) {
  size_t bytes = 0;
  for (const auto& event : request.events) bytes += event.payload.size() + event.metadata.size();
  return bytes;
}

// Records every batch the appender takes from its queue.
struct BatchLog {
  std::mutex mu;
  std::vector<BatchStats> batches;
  std::atomic<bool> any{false};

  void Watch(AppenderOptions& options) {
    options.on_batch = [this](const BatchStats& batch) {
      std::lock_guard lock(mu);
      batches.push_back(batch);
      any = true;
    };
  }
};

TEST_CASE("concurrent appends of 1 MiB events: batches stay within the byte bound, none lost") {
  auto db = testing::NewDatabase();
  constexpr int kWriters = 24;
  constexpr int kRounds = 2;
  BatchLog log;
  AppenderOptions options;
  log.Watch(options);
  // The first batch waits until every writer has queued: ~24 MiB would be waiting, well over
  // the bound. After it, the writers race the writer thread freely.
  options.hold = [&log](size_t queued) { return !log.any && queued < kWriters; };
  auto store = testing::OpenStore(db->url(), options);

  std::mutex mu;
  std::map<std::string, AppendResult> acks;  // by marker
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int r = 0; r < kRounds; ++r) {
        const std::string marker = absl::StrCat("w", w, "-r", r);
        auto result = store->Append(Request(absl::StrCat("tenant-", w), absl::StrCat("s-", w),
                                            ExpectedVersion::Exact(r), {NearlyMiBEvent(marker)},
                                            absl::StrCat("key-", marker)));
        std::lock_guard lock(mu);
        REQUIRE_MESSAGE(result.ok(), result.status().ToString());
        CHECK_FALSE(result->duplicate);
        acks[marker] = *result;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  constexpr size_t kAppends = kWriters * kRounds;
  REQUIRE(acks.size() == kAppends);

  // Every acknowledged append is in the log once, intact, at the position it was told.
  std::set<int64_t> positions;
  for (const auto& [marker, ack] : acks) {
    REQUIRE(ack.positions.size() == 1);
    positions.insert(ack.positions[0]);
  }
  CHECK(positions.size() == kAppends);
  CHECK(*positions.begin() == 1);
  CHECK(*positions.rbegin() == static_cast<int64_t>(kAppends));
  auto events = AllEvents(db->url());
  REQUIRE(events.size() == kAppends);
  for (const auto& event : events) {
    const std::string marker = MarkerOf(event);
    REQUIRE(acks.contains(marker));
    CHECK(acks[marker].positions[0] == event.position);
    CHECK(event.payload == NearlyMiBEvent(marker).payload);
  }
  auto verification = VerifyLog(db->url());
  REQUIRE(verification.ok());
  for (const auto& partition : *verification) CHECK(partition.ok);

  // Every batch within the bound and every append in exactly one batch.
  size_t expected_bytes = 0;
  for (const auto& [marker, ack] : acks) {
    expected_bytes +=
        RequestBytes(Request("t", "s", ExpectedVersion::Any(), {NearlyMiBEvent(marker)}));
  }
  size_t requests = 0;
  size_t bytes = 0;
  for (const auto& batch : log.batches) {
    CHECK(batch.bytes <= kMaxAppendBatchBytes);
    requests += batch.requests;
    bytes += batch.bytes;
  }
  CHECK(requests == kAppends);
  CHECK(bytes == expected_bytes);
  // Grouping still happens: the first batch, with every writer waiting, is filled up to the
  // bound (a bound that let one request through at a time would pass the checks above).
  CHECK(log.batches.front().requests == kMaxAppendBatchBytes / kMaxPayloadBytes);
}

TEST_CASE("a request larger than the byte bound is written alone") {
  auto db = testing::NewDatabase();
  BatchLog log;
  AppenderOptions options;
  log.Watch(options);
  options.hold = [&log](size_t queued) { return !log.any && queued < 3; };
  auto store = testing::OpenStore(db->url(), options);

  std::vector<EventData> huge_events;
  for (int e = 0; huge_events.size() * kMaxPayloadBytes <= kMaxAppendBatchBytes; ++e) {
    huge_events.push_back(NearlyMiBEvent(absl::StrCat("huge-", e)));
  }
  const size_t huge_count = huge_events.size();
  std::vector<AppendRequest> requests = {
      Request("t", "before", ExpectedVersion::NoStream(), {PaymentCreatedEvent("before")}),
      Request("t", "huge", ExpectedVersion::NoStream(), std::move(huge_events)),
      Request("t", "after", ExpectedVersion::NoStream(), {PaymentCreatedEvent("after")})};
  REQUIRE(RequestBytes(requests[1]) > kMaxAppendBatchBytes);
  std::vector<std::future<absl::StatusOr<AppendResult>>> answers;
  // Queued in this order from one thread, so the batches they form are known.
  for (auto& request : requests) {
    auto answer = std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
    answers.push_back(answer->get_future());
    store->AppendAsync(std::move(request), [answer](absl::StatusOr<AppendResult> result) {
      answer->set_value(std::move(result));
    });
  }
  std::vector<absl::StatusOr<AppendResult>> results;
  for (auto& answer : answers) results.push_back(answer.get());
  for (const auto& result : results) REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  CHECK(results[0]->positions == std::vector<int64_t>{1});
  CHECK(results[1]->positions.size() == huge_count);
  CHECK(results[1]->positions.front() == 2);
  CHECK(results[2]->positions.front() == results[1]->positions.back() + 1);

  REQUIRE(log.batches.size() == 3);
  for (const auto& batch : log.batches) CHECK(batch.requests == 1);
  CHECK(log.batches[1].bytes > kMaxAppendBatchBytes);
  CHECK(AllEvents(db->url()).size() == huge_count + 2);
}

TEST_CASE("appends survive reopening the store and keep the chain") {
  auto db = testing::NewDatabase(4);
  {
    auto store = testing::OpenStore(db->url());
    for (int i = 0; i < 20; ++i) {
      REQUIRE(store
                  ->Append(Request(absl::StrCat("tenant-", i), absl::StrCat("s-", i),
                                   ExpectedVersion::NoStream(), {PaymentCreatedEvent("a")}))
                  .ok());
    }
  }
  auto store = testing::OpenStore(db->url());
  CHECK(store->partition_count() == 4);
  REQUIRE(store
              ->Append(
                  Request("tenant-0", "s-0", ExpectedVersion::Exact(1), {PaymentCreatedEvent("b")}))
              .ok());
  auto verification = VerifyLog(db->url());
  REQUIRE(verification.ok());
  int64_t total = 0;
  for (const auto& p : *verification) {
    CHECK(p.ok);
    total += p.events;
  }
  CHECK(total == 21);
}

}  // namespace
}  // namespace tally::ledger
