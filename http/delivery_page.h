#pragma once
// GET /delivery/<token>: the page a buyer opens from the delivery message.
//
// The token (reactors/delivery.h) is checked in constant time; a forged, truncated or unknown
// token is a 404 page, a refunded or charged-back payment a 410 page. A genuine one appends
// DeliveryAccessed to the payment's stream (the first access, then a count, up to
// kMaxRecordedAccesses: a link shared around cannot flood the log) and shows the product —
// its name, link and text as the bot configures them now. The answer is always a small HTML
// page: never a stack trace or an internal message (the field system showed buyers Python
// tracebacks); a database outage is a 503 page asking to try again.
//
// Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <string>

#include "http/message.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"

namespace tally::http {

inline constexpr int kMaxRecordedAccesses = 100;

class DeliveryPage {
 public:
  DeliveryPage(ledger::EventStore& store, const ledger::Clock& clock, std::string delivery_secret);

  void Handle(const HttpRequest& request, const std::string& token, Responder respond);

 private:
  HttpResponse Render(const HttpRequest& request, const std::string& token);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const std::string secret_;
};

}  // namespace tally::http
