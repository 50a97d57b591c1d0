#pragma once
// Builds recorded payment events for projection tests: each call appends the next position.

#include <string>
#include <vector>

#include "ledger/event.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::testing {

class PaymentEvents {
 public:
  explicit PaymentEvents(std::string stream_id, int64_t start_us = 1795000000000000)
      : stream_id_(std::move(stream_id)), now_us_(start_us) {}

  // Moves the recorded_at clock forward.
  PaymentEvents& After(int64_t seconds) {
    now_us_ += seconds * 1000000;
    return *this;
  }

  const ledger::RecordedEvent& Created(int64_t amount_minor, int64_t expires_in_s = 0,
                                       const std::string& tenant = "tenant-1",
                                       const std::string& bot = "bot-1");
  const ledger::RecordedEvent& Webhook(const std::string& gateway,
                                       payments::v1::ObservedStatus status,
                                       int64_t amount_minor = 0, bool signed_body = true,
                                       const std::string& gateway_word = "");
  const ledger::RecordedEvent& Poll(const std::string& gateway, payments::v1::ObservedStatus status,
                                    int64_t amount_minor = 0);
  const ledger::RecordedEvent& Event(const google::protobuf::Message& message);

  const std::vector<ledger::RecordedEvent>& events() const { return events_; }
  int64_t now_us() const { return now_us_; }

 private:
  const ledger::RecordedEvent& Push(std::string type, std::string payload);

  std::string stream_id_;
  int64_t now_us_;
  std::vector<ledger::RecordedEvent> events_;
  static inline int64_t next_position_ = 1;
};

}  // namespace tally::testing
