#pragma once
// POST /webhooks/<gateway>/<tenant_token>: takes a gateway's notification into the log.
//
// The adapter parses and authenticates the raw request; Tally appends GatewayWebhookReceived
// (raw body and the relevant headers verbatim — never the secret header —, authenticity,
// normalized observation) to payment-<gateway>-<txid> and answers 200 only once the append is
// durable. A redelivery answers 200 and writes nothing (idempotency key: the gateway's event id,
// or the body's SHA-256 where it has none). Answers: 404 unknown gateway; 401 unknown token,
// gateway not configured or bad signature/secret (recorded in webhook_rejections, never in
// the ledger); 415 a content type the gateway does not send; 400 a body that does not parse;
// 503 database unavailable, so the gateway retries.
//
// Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <memory>
#include <string>

#include "gateways/secret_box.h"
#include "http/message.h"
#include "ledger/clock.h"
#include "ledger/connection_pool.h"
#include "ledger/event_store.h"

namespace tally::http {

class WebhookIngestion {
 public:
  WebhookIngestion(ledger::EventStore& store, gateways::SecretBox box, const ledger::Clock& clock,
                   const std::string& database_url);

  HttpResponse Handle(const HttpRequest& request, const std::string& gateway,
                      const std::string& token);

 private:
  void RecordRejection(const std::string& gateway, const std::string& tenant_id,
                       const std::string& reason, const HttpRequest& request,
                       const std::string& request_id);

  ledger::EventStore& store_;
  const gateways::SecretBox box_;
  const ledger::Clock& clock_;
  ledger::ConnectionPool rejections_;
};

// The router of `tally serve`: GET /healthz, POST /webhooks/<gateway>/<token>.
HttpResponse RouteRequest(const HttpRequest& request, WebhookIngestion* ingestion);

}  // namespace tally::http
