// Append requests that break a limit are refused before they reach the database.

#include <doctest/doctest.h>

#include "ledger/event_store.h"
#include "ledger/limits.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::ledger {
namespace {

AppendRequest ValidRequest() {
  payments::v1::PaymentCreated created;
  created.set_tenant_id("t1");
  created.mutable_amount()->set_amount_minor(1990);
  created.mutable_amount()->set_currency("BRL");
  AppendRequest request;
  request.tenant_key = "t1";
  request.stream_id = "payment-stripe-pi_1";
  request.events.push_back({"tally.payments.v1.PaymentCreated", created.SerializeAsString(), ""});
  return request;
}

TEST_CASE("a well-formed request passes") {
  CHECK(ValidateAppend(ValidRequest(), EventRegistry::Default()).ok());
}

TEST_CASE("each bad input is a clear InvalidArgument") {
  const EventRegistry registry = EventRegistry::Default();
  auto rejected = [&](auto mutate, absl::string_view fragment) {
    AppendRequest request = ValidRequest();
    mutate(request);
    absl::Status status = ValidateAppend(request, registry);
    INFO(status.ToString());
    return status.code() == absl::StatusCode::kInvalidArgument &&
           status.message().find(fragment) != absl::string_view::npos;
  };
  CHECK(rejected([](AppendRequest& r) { r.stream_id.clear(); }, "stream id is empty"));
  CHECK(rejected([](AppendRequest& r) { r.stream_id = std::string(kMaxStreamIdBytes + 1, 's'); },
                 "stream id is 201 bytes"));
  CHECK(rejected([](AppendRequest& r) { r.stream_id = "a\nb"; }, "control character"));
  CHECK(rejected(
      [](AppendRequest& r) { r.events[0].payload = std::string(kMaxPayloadBytes + 1, 'x'); },
      "limit is 1048576"));
  CHECK(rejected([](AppendRequest& r) { r.events[0].type = "tally.payments.v1.Nope"; },
                 "unknown event type"));
  CHECK(rejected([](AppendRequest& r) { r.events[0].type = "tally.payments.v1.Money"; },
                 "unknown event type"));
  CHECK(rejected([](AppendRequest& r) { r.events[0].payload = "\xff\xff\xff"; }, "does not parse"));
  CHECK(rejected([](AppendRequest& r) { r.events[0].metadata = "\xff\xff\xff"; },
                 "metadata does not parse"));
  CHECK(rejected([](AppendRequest& r) { r.expected = ExpectedVersion::Exact(-1); }, "is negative"));
  CHECK(rejected([](AppendRequest& r) { r.events.clear(); }, "needs events"));
  CHECK(rejected([](AppendRequest& r) { r.events.resize(kMaxEventsPerAppend + 1, r.events[0]); },
                 "limit is 1000"));
  CHECK(rejected([](AppendRequest& r) { r.idempotency_key = "a#1"; }, "without spaces or '#'"));
  CHECK(rejected([](AppendRequest& r) { r.idempotency_key = std::string(201, 'k'); },
                 "idempotency key is 201 bytes"));
}

TEST_CASE("partitions come from the tenant key and are stable") {
  CHECK(PartitionForKey("anything", 1) == 0);
  int counts[4] = {};
  for (int i = 0; i < 400; ++i) ++counts[PartitionForKey("tenant-" + std::to_string(i), 4)];
  for (int c : counts) CHECK(c > 50);
  CHECK(PartitionForKey("tenant-7", 4) == PartitionForKey("tenant-7", 4));
}

}  // namespace
}  // namespace tally::ledger
