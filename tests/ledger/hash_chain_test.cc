// The hash chain against the worked example in docs/LOG_FORMAT.md. The expected values were
// computed by an independent implementation of the documented format (Python's hashlib and
// struct), so a change to the encoding that the document does not describe fails here.

#include <doctest/doctest.h>

#include "ledger/hash_chain.h"

namespace tally::ledger {
namespace {

RecordedEvent FirstExample() {
  RecordedEvent event;
  event.partition = 0;
  event.position = 1;
  event.stream_id = "payment-stripe-pi_1";
  event.stream_version = 1;
  event.type = "tally.payments.v1.PaymentCreated";
  event.payload = std::string("\x0a\x03t-1", 5);
  event.recorded_at_us = 1795000000000000;
  return event;
}

RecordedEvent SecondExample() {
  RecordedEvent event;
  event.partition = 0;
  event.position = 2;
  event.stream_id = "payment-stripe-pi_1";
  event.stream_version = 2;
  event.type = "tally.payments.v1.GatewayWebhookReceived";
  event.payload = std::string("\x0a\x06stripe", 8);
  event.metadata = std::string("\x18\x01", 2);
  event.idempotency_key = "stripe:evt_1";
  event.recorded_at_us = 1795000000000001;
  return event;
}

TEST_CASE("canonical encoding matches the documented bytes") {
  CHECK(HexEncode(CanonicalEncoding(FirstExample())) ==
        "0000000b54414c4c592d4c4f472d31000000000000000000000001000000137061796d656e742d737472"
        "6970652d70695f3100000000000000010000002074616c6c792e7061796d656e74732e76312e5061796d"
        "656e7443726561746564000000050a03742d3100000000000006608b015f3000");
}

TEST_CASE("the chain of the worked example") {
  const std::string first = ChainHash(GenesisHash(), FirstExample());
  CHECK(HexEncode(first) == "a7a7be2e0f5428a2d023207ce82631b1e7f535dd52e6793b6398385365087fe6");
  CHECK(HexEncode(ChainHash(first, SecondExample())) ==
        "63fcd1e233621c9b9bd3c614213345fcd6e1ba285c310b86182bc5b684bd0605");
}

TEST_CASE("every field is covered by the hash") {
  const std::string base = ChainHash(GenesisHash(), SecondExample());
  auto changed = [&](auto mutate) {
    RecordedEvent event = SecondExample();
    mutate(event);
    return ChainHash(GenesisHash(), event) != base;
  };
  CHECK(changed([](RecordedEvent& e) { e.partition = 1; }));
  CHECK(changed([](RecordedEvent& e) { e.position = 3; }));
  CHECK(changed([](RecordedEvent& e) { e.stream_id += "x"; }));
  CHECK(changed([](RecordedEvent& e) { e.stream_version = 3; }));
  CHECK(changed([](RecordedEvent& e) { e.type += "x"; }));
  CHECK(changed([](RecordedEvent& e) { e.payload[1] ^= 1; }));
  CHECK(changed([](RecordedEvent& e) { e.metadata.clear(); }));
  CHECK(changed([](RecordedEvent& e) { e.idempotency_key.clear(); }));
  CHECK(changed([](RecordedEvent& e) { e.recorded_at_us += 1; }));
  CHECK(ChainHash(std::string(32, '\1'), SecondExample()) != base);
  // Length prefixes keep field boundaries: moving a byte from one field to the next changes it.
  CHECK(changed([](RecordedEvent& e) {
    e.stream_id = "payment-stripe-pi_";
    e.type = "1" + e.type;
  }));
}

}  // namespace
}  // namespace tally::ledger
