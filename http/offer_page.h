#pragma once
// GET /offers/<token>: the page a buyer opens from an upsell or downsell message
// (reactors/upsells.h).
//
// The token is checked in constant time (forged, truncated, unknown: a 404 page). An offer the
// timer cancelled, removed since, past its link's 7 days, after an upsell's parent was
// refunded or a downsell's parent paid, is a 410 page (checked at every opening). A genuine
// offer creates its charge through ChargeApi::Create,
// at the parent's gateway, for the offer's product and price, carrying parent_payment_id,
// offer_id and offer_kind, under the Idempotency-Key `offer:<payment_id>:<offer_id>` — opening
// the link again shows the same PIX code, never a second charge — and shows the PIX
// copy-and-paste code. A refusal that trying again will not change (409/422) is a 410 page and
// an error in the log; any other failure a page asking to try again; never an internal
// message.
//
// Handle blocks on the database and the gateway: call it from a worker thread. Thread-safe.

#include <string>

#include "http/charge_api.h"
#include "http/message.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"

namespace tally::http {

class OfferPage {
 public:
  OfferPage(ledger::EventStore& store, const ledger::Clock& clock, ChargeApi& charges,
            std::string offer_secret);

  void Handle(const HttpRequest& request, const std::string& token, Responder respond);

 private:
  HttpResponse Render(const HttpRequest& request, const std::string& token);

  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  ChargeApi& charges_;
  const std::string secret_;
};

}  // namespace tally::http
