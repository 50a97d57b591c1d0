#pragma once
// The admin API for parked items: side effects (deliveries, Telegram and Meta sends, charge
// intents nobody could settle) that stopped after a terminal failure and wait for an operator —
// the same as `tally reactors parked` and `tally reactors retry` (reactors/operations.h). Keys of
// scope admin only: other keys 403, none or an unknown one 401.
//
//   GET  /v1/admin/parked[?reactor=<name>]
//     {"parked":[{"reactor","partition","stream_id","tenant_id","attempts","last_error"}],
//      "count":N,"truncated":bool}   (at most 1,000 listed; count is all of them)
//   POST /v1/admin/parked/retry   {"stream_id":"...","reactor":"...","reason":"..."}
//                                 or {"all":true,"reactor":"...","reason":"..."}
//     {"retried":N}: an OutboxRetryRequested event in each item's stream, the admin key as its
//     actor, so the retry is audited and survives restarts. 404 nothing_parked when nothing
//     matched; 400 invalid_json / invalid_request (stream_id or all, not both; reason ≤ 500
//     bytes).
//
// Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <string>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/server.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"

namespace tally::http {

class ParkedApi {
 public:
  ParkedApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url);

  // `path` starts with /v1/admin/parked.
  void Handle(const HttpRequest& request, const std::string& path, Responder respond);

 private:
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  const std::string database_url_;
  ApiKeyAuthenticator auth_;
};

}  // namespace tally::http
