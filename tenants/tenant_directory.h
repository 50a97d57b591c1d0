#pragma once
// Tenants and their gateway configuration, kept as events in `tenant-<id>` streams
// (TenantCreated, GatewayConfigured) — not in a projection, so webhook ingestion depends on
// the log alone (the failure of seeds/004 was ingestion depending on a schema).
//
// A tenant's webhook URL token is looked up by its SHA-256, kept in the idempotency key of its
// TenantCreated event ("tenant-token:<hex>"): the log's unique index both keeps tokens unique
// and finds the tenant of a token. The token itself is kept only sealed with the master key,
// so that charges can tell gateways the tenant's webhook URL. API keys work the same way
// (ApiKeyIssued, "api-key:<hex>"), and are never kept in the clear at all. Gateway secrets are
// sealed with the master key (SecretBox). Thread-safe (stateless; the EventStore is).
//
// Keys have a scope: "owner" keys belong to a tenant (its own data and charges); "auditor" keys
// read the log and the audit API and write nothing, either for one tenant (issued in the
// tenant's stream) or for every tenant (a system key); system keys ("admin": the admin API, and
// all-tenant "auditor") belong to no tenant and live in the `admin-keys` stream. Streams
// that belong to no tenant (`admin-keys`, `jobs`) are appended under the tenant key "system",
// which the event store partitions like any tenant key; tenant ids are "t_<hex>", so no tenant
// shares it.

#include <string>

#include "absl/status/statusor.h"
#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "ledger/event_store.h"
#include "tenants/secret_box.h"

namespace tally::tenants {

inline constexpr char kSystemTenantKey[] = "system";
inline constexpr char kAdminKeysStream[] = "admin-keys";
inline constexpr char kOwnerScope[] = "owner";
inline constexpr char kAdminScope[] = "admin";
inline constexpr char kAuditorScope[] = "auditor";

// The scopes of keys that belong to no tenant (issued in the admin-keys stream): admin, auditor.
bool IsSystemScope(const std::string& scope);

struct NewTenant {
  std::string tenant_id;
  std::string webhook_token;  // show once; stored only sealed
  std::string api_key;        // show once; an owner key, stored only as its SHA-256
};

// Appends TenantCreated and the tenant's first owner ApiKeyIssued.
absl::StatusOr<NewTenant> CreateTenant(ledger::EventStore& store, const SecretBox& box,
                                       const std::string& name, const std::string& time_zone);

// A new API key for `tenant_id` ("tly_" + 43 URL-safe characters), shown once. NotFound for an
// unknown tenant; InvalidArgument for a scope other than "owner" or "auditor".
absl::StatusOr<std::string> IssueApiKey(ledger::EventStore& store, const std::string& tenant_id,
                                        const std::string& scope);

struct IssuedApiKey {
  std::string api_key;  // show once; stored only as its SHA-256
  std::string key_id;   // names the key in event metadata (the actor)
};

// A new system key of `scope` ("admin", or "auditor" for an auditor of every tenant), belonging
// to no tenant. InvalidArgument for a scope
// that is not a system scope.
absl::StatusOr<IssuedApiKey> IssueSystemApiKey(ledger::EventStore& store, const std::string& scope);

struct ApiPrincipal {
  std::string tenant_id;  // "" for system keys
  std::string scope;
  std::string key_id;
};

// The tenant and scope of an API key (a system key has no tenant); NotFound for an unknown key.
absl::StatusOr<ApiPrincipal> ResolveApiKey(ledger::EventStore& store, const std::string& api_key);

struct GatewaySettings {
  std::string gateway;
  std::string webhook_secret;
  std::string api_key;
  std::string base_url;
};

// NotFound for an unknown tenant, InvalidArgument for a gateway `gateways` does not know.
absl::Status ConfigureGateway(ledger::EventStore& store, const SecretBox& box,
                              const gateways::GatewayRegistry& gateways,
                              const std::string& tenant_id, const GatewaySettings& settings);

struct ResolvedTenant {
  std::string tenant_id;
  gateways::GatewayCredentials credentials;
};

// The tenant of a webhook URL token and its credentials for `gateway`. NotFound for an unknown
// token; FailedPrecondition when the tenant has not configured the gateway; DataLoss when a
// secret does not open under `box`.
absl::StatusOr<ResolvedTenant> ResolveWebhookToken(ledger::EventStore& store, const SecretBox& box,
                                                   const std::string& token,
                                                   const std::string& gateway);

// What Tally needs to call a tenant's gateway: its account there (API key, base URL; the
// gateway's production URL when none was configured) and the tenant's webhook URL token.
struct GatewayAccountConfig {
  gateways::ApiAccount account;
  std::string webhook_token;
};

// NotFound for an unknown tenant; FailedPrecondition when the gateway is not configured or has
// no API key, or the tenant predates sealed webhook tokens; DataLoss when a secret does not
// open under `box`.
absl::StatusOr<GatewayAccountConfig> ResolveGatewayAccount(ledger::EventStore& store,
                                                           const SecretBox& box,
                                                           const std::string& tenant_id,
                                                           const std::string& gateway);

}  // namespace tally::tenants
