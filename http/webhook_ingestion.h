#pragma once
// POST /webhooks/<gateway>/<tenant_token>: takes a gateway's notification into the log.
//
// The decisions are pure (http/webhook_decisions.h): the gateway (gateways/registry.h) parses
// and authenticates the raw request; Tally appends GatewayWebhookReceived
// (raw body and the relevant headers verbatim — never the secret header —, authenticity,
// normalized observation) to payment-<gateway>-<txid> and answers 200 only once the append is
// durable. A redelivery answers 200 and writes nothing (idempotency key: the gateway's event id,
// or the body's SHA-256 where it has none). Answers: 404 unknown gateway; 401 unknown token,
// gateway not configured or bad signature/secret (recorded in webhook_rejections, never in
// the ledger); 415 a content type the gateway does not send; 400 a body that does not parse;
// 503 database unavailable, so the gateway retries.
//
// Handle blocks on the database: call it from a worker thread. Thread-safe. A tenant's
// credentials are cached for 5 s after use.

#include <memory>
#include <optional>
#include <string>
#include "gateways/registry.h"
#include "http/message.h"
#include "http/server.h"
#include "http/ttl_cache.h"
#include "ledger/clock.h"
#include "ledger/connection_pool.h"
#include "ledger/event_store.h"
#include "tenants/secret_box.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

class WebhookIngestion {
 public:
  WebhookIngestion(ledger::EventStore& store, tenants::SecretBox box,
                   const gateways::GatewayRegistry& gateways, const ledger::Clock& clock,
                   const std::string& database_url);

  // Answers through `respond`, once; after queueing the append it returns without waiting.
  void Handle(const HttpRequest& request, const std::string& gateway, const std::string& token,
              Responder respond);

  // The same without ever blocking, for a server I/O thread: handles the request only when
  // the tenant's credentials are cached and nothing needs the database before the append
  // (a bad signature, to be recorded, is left alone). Returns false, without answering or
  // consuming `respond`, when the request must go to Handle on a worker.
  bool TryHandleWithoutBlocking(const HttpRequest& request, const std::string& gateway,
                                const std::string& token, Responder& respond);

 private:
  void RecordRejection(const std::string& gateway, const std::string& tenant_id,
                       const std::string& reason, const HttpRequest& request,
                       const std::string& request_id);

  // Handle and TryHandleWithoutBlocking; false only when !may_block and the request needs to
  // block.
  bool Ingest(const HttpRequest& request, const std::string& gateway, const std::string& token,
              Responder& respond, bool may_block);
  std::optional<tenants::ResolvedTenant> CachedTenant(const std::string& token,
                                                      const std::string& gateway);

  // Tenant credentials by (token, gateway), kept for a few seconds so that a burst of webhooks
  // costs one append each, not two more reads; a reconfigured gateway applies within that time.
  absl::StatusOr<tenants::ResolvedTenant> Resolve(const std::string& token,
                                                  const std::string& gateway);

  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::GatewayRegistry& gateways_;
  const ledger::Clock& clock_;
  TtlCache<tenants::ResolvedTenant> tenants_{5 * 1000000};
  ledger::ConnectionPool rejections_;
};

}  // namespace tally::http
