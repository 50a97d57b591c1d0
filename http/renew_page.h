#pragma once
// GET /renew/<token>: the page a subscriber opens from the expiry warning or the end-of-period
// message (reactors/subscriptions.h) to pay one more period.
//
// The token names the subscription and the period it was sent for, checked in constant time
// (forged, truncated, unknown: a 404 page). A period already renewed, or a plan the seller has
// removed, is a 410 page. Otherwise the plan's charge is created through ChargeApi::Create at
// the gateway that took the subscription's last payment, for the plan's price, carrying
// `plan_id` (its payment renews the subscription once confirmed, or starts it again after it
// ended), under the Idempotency-Key `renew:<subscription>:<period end>` — opening the link
// again shows the same PIX code — and the page shows the PIX copy-and-paste code. Failures are
// pages, as on the offer page (http/offer_page.h): never an internal message.
//
// Handle blocks on the database and the gateway: call it from a worker thread. Thread-safe.

#include <string>

#include "http/charge_api.h"
#include "http/message.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"

namespace tally::http {

class RenewPage {
 public:
  RenewPage(ledger::EventStore& store, ChargeApi& charges, std::string renew_secret);

  void Handle(const HttpRequest& request, const std::string& token, Responder respond);

 private:
  HttpResponse Render(const HttpRequest& request, const std::string& token);

  ledger::EventStore& store_;
  ChargeApi& charges_;
  const std::string secret_;
};

}  // namespace tally::http
