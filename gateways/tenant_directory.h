#pragma once
// Tenants and their gateway configuration, kept as events in `tenant-<id>` streams
// (TenantCreated, GatewayConfigured) — not in a projection, so webhook ingestion depends on
// the log alone (the failure of seeds/004 was ingestion depending on a schema).
//
// A tenant's webhook URL token is shown once at creation and stored only as a SHA-256, in the
// idempotency key of its TenantCreated event ("tenant-token:<hex>"): the log's unique index
// both keeps tokens unique and finds the tenant of a token. Gateway secrets are sealed with the
// master key (SecretBox). Thread-safe (stateless; the EventStore is).

#include <string>

#include "absl/status/statusor.h"
#include "gateways/adapter.h"
#include "gateways/secret_box.h"
#include "ledger/event_store.h"

namespace tally::gateways {

struct NewTenant {
  std::string tenant_id;
  std::string webhook_token;  // show once; never stored
};

absl::StatusOr<NewTenant> CreateTenant(ledger::EventStore& store, const std::string& name,
                                       const std::string& time_zone);

struct GatewaySettings {
  std::string gateway;
  std::string webhook_secret;
  std::string api_key;
  std::string base_url;
};

// NotFound for an unknown tenant, InvalidArgument for an unknown gateway.
absl::Status ConfigureGateway(ledger::EventStore& store, const SecretBox& box,
                              const std::string& tenant_id, const GatewaySettings& settings);

struct ResolvedTenant {
  std::string tenant_id;
  GatewayCredentials credentials;
};

// The tenant of a webhook URL token and its credentials for `gateway`. NotFound for an unknown
// token; FailedPrecondition when the tenant has not configured the gateway; DataLoss when a
// secret does not open under `box`.
absl::StatusOr<ResolvedTenant> ResolveWebhookToken(ledger::EventStore& store, const SecretBox& box,
                                                   const std::string& token,
                                                   const std::string& gateway);

}  // namespace tally::gateways
