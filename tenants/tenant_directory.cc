#include "tenants/tenant_directory.h"

#include <openssl/rand.h>

#include <optional>
#include "absl/strings/escaping.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateways/webhook_crypto.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/tenants/v1/tenant_events.pb.h"

namespace tally::tenants {
using gateways::Sha256Hex;

namespace {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

std::string TokenKey(const std::string& token) {
  return absl::StrCat("tenant-token:", Sha256Hex(token));
}

std::string ApiKeyKey(const std::string& key) { return absl::StrCat("api-key:", Sha256Hex(key)); }

constexpr char kTenantStreamPrefix[] = "tenant-";

std::string AdminMetadata() {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  metadata.set_actor("tally-cli");
  return metadata.SerializeAsString();
}

// What a tenant's stream says: its creation, and the latest configuration of one gateway. An
// event that does not parse is DataLoss naming its position: a corrupt stream must not read
// as "not configured" or as an empty token.
struct TenantStreamState {
  tenants::v1::TenantCreated created;
  std::optional<tenants::v1::GatewayConfigured> gateway;
};

absl::StatusOr<TenantStreamState> FoldTenantStream(const std::vector<ledger::RecordedEvent>& events,
                                                   const std::string& gateway) {
  TenantStreamState state;
  for (const auto& event : events) {
    if (event.type == "tally.tenants.v1.TenantCreated") {
      if (!state.created.ParseFromString(event.payload)) {
        return absl::DataLossError(
            absl::StrCat("TenantCreated at position ", event.position, " does not parse"));
      }
    } else if (event.type == "tally.tenants.v1.GatewayConfigured") {
      tenants::v1::GatewayConfigured configured;
      if (!configured.ParseFromString(event.payload)) {
        return absl::DataLossError(
            absl::StrCat("GatewayConfigured at position ", event.position, " does not parse"));
      }
      if (configured.gateway() == gateway) state.gateway = std::move(configured);
    }
  }
  return state;
}

}  // namespace

bool IsSystemScope(const std::string& scope) {
  return scope == kAdminScope || scope == kAuditorScope;
}

absl::StatusOr<NewTenant> CreateTenant(ledger::EventStore& store, const SecretBox& box,
                                       const std::string& name, const std::string& time_zone) {
  NewTenant tenant;
  tenant.tenant_id = absl::StrCat("t_", absl::BytesToHexString(RandomBytes(8)));
  tenant.webhook_token = absl::WebSafeBase64Escape(RandomBytes(32));
  tenants::v1::TenantCreated created;
  created.set_tenant_id(tenant.tenant_id);
  created.set_name(name);
  created.set_time_zone(time_zone);
  created.set_webhook_token_sha256(Sha256Hex(tenant.webhook_token));
  auto sealed = box.Seal(tenant.webhook_token);
  if (!sealed.ok()) return sealed.status();
  created.set_webhook_token_sealed(*sealed);
  auto result = store.Append(
      {tenant.tenant_id,
       kTenantStreamPrefix + tenant.tenant_id,
       ledger::ExpectedVersion::NoStream(),
       {{"tally.tenants.v1.TenantCreated", created.SerializeAsString(), AdminMetadata()}},
       TokenKey(tenant.webhook_token)});
  if (!result.ok()) return result.status();
  auto key = IssueApiKey(store, tenant.tenant_id, "owner");
  if (!key.ok()) return key.status();
  tenant.api_key = *key;
  return tenant;
}

absl::StatusOr<std::string> IssueApiKey(ledger::EventStore& store, const std::string& tenant_id,
                                        const std::string& scope) {
  if (scope != kOwnerScope && scope != kAuditorScope) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown API key scope \"", scope, "\" (scopes: owner, auditor)"));
  }
  auto stream = store.ReadStream(tenant_id, kTenantStreamPrefix + tenant_id);
  if (!stream.ok()) return stream.status();
  if (stream->empty()) return absl::NotFoundError(absl::StrCat("no tenant ", tenant_id));
  const std::string key = absl::StrCat("tly_", absl::WebSafeBase64Escape(RandomBytes(32)));
  tenants::v1::ApiKeyIssued issued;
  issued.set_key_id(absl::StrCat("key_", absl::BytesToHexString(RandomBytes(6))));
  issued.set_scope(scope);
  issued.set_key_sha256(Sha256Hex(key));
  auto result = store.Append(
      {tenant_id,
       kTenantStreamPrefix + tenant_id,
       ledger::ExpectedVersion::Any(),
       {{"tally.tenants.v1.ApiKeyIssued", issued.SerializeAsString(), AdminMetadata()}},
       ApiKeyKey(key)});
  if (!result.ok()) return result.status();
  return key;
}

absl::StatusOr<IssuedApiKey> IssueSystemApiKey(ledger::EventStore& store,
                                               const std::string& scope) {
  if (!IsSystemScope(scope)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown system API key scope \"", scope, "\" (scopes: admin, auditor)"));
  }
  IssuedApiKey key;
  key.api_key = absl::StrCat("tly_", absl::WebSafeBase64Escape(RandomBytes(32)));
  key.key_id = absl::StrCat("key_", absl::BytesToHexString(RandomBytes(6)));
  tenants::v1::ApiKeyIssued issued;
  issued.set_key_id(key.key_id);
  issued.set_scope(scope);
  issued.set_key_sha256(Sha256Hex(key.api_key));
  auto result = store.Append(
      {kSystemTenantKey,
       kAdminKeysStream,
       ledger::ExpectedVersion::Any(),
       {{"tally.tenants.v1.ApiKeyIssued", issued.SerializeAsString(), AdminMetadata()}},
       ApiKeyKey(key.api_key)});
  if (!result.ok()) return result.status();
  return key;
}

absl::StatusOr<ApiPrincipal> ResolveApiKey(ledger::EventStore& store, const std::string& api_key) {
  auto issued_event = store.FindByIdempotencyKey(ApiKeyKey(api_key));
  if (!issued_event.ok()) return issued_event.status();
  if (!issued_event->has_value() || (*issued_event)->type != "tally.tenants.v1.ApiKeyIssued") {
    return absl::NotFoundError("unknown API key");
  }
  tenants::v1::ApiKeyIssued issued;
  if (!issued.ParseFromString((*issued_event)->payload)) {
    return absl::DataLossError("ApiKeyIssued does not parse");
  }
  ApiPrincipal principal;
  const std::string& stream = (*issued_event)->stream_id;
  if (stream == kAdminKeysStream) {
    if (!IsSystemScope(issued.scope())) return absl::NotFoundError("unknown API key");
  } else {
    // Only owner and auditor keys are issued in a tenant's stream: no other scope is taken from
    // one (an "admin" written there would not make an admin).
    if (!absl::StartsWith(stream, kTenantStreamPrefix) ||
        (issued.scope() != kOwnerScope && issued.scope() != kAuditorScope)) {
      return absl::NotFoundError("unknown API key");
    }
    principal.tenant_id = stream.substr(sizeof(kTenantStreamPrefix) - 1);
  }
  principal.scope = issued.scope();
  principal.key_id = issued.key_id();
  return principal;
}

absl::Status ConfigureGateway(ledger::EventStore& store, const SecretBox& box,
                              const gateways::GatewayRegistry& gateways,
                              const std::string& tenant_id, const GatewaySettings& settings) {
  if (gateways.Find(settings.gateway) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown gateway \"", settings.gateway, "\" (",
                                                   absl::StrJoin(gateways.Names(), ", "), ")"));
  }
  auto stream = store.ReadStream(tenant_id, "tenant-" + tenant_id);
  if (!stream.ok()) return stream.status();
  if (stream->empty()) return absl::NotFoundError(absl::StrCat("no tenant ", tenant_id));
  tenants::v1::GatewayConfigured configured;
  configured.set_gateway(settings.gateway);
  configured.set_base_url(settings.base_url);
  if (!settings.webhook_secret.empty()) {
    auto sealed = box.Seal(settings.webhook_secret);
    if (!sealed.ok()) return sealed.status();
    configured.set_webhook_secret_sealed(*sealed);
  }
  if (!settings.api_key.empty()) {
    auto sealed = box.Seal(settings.api_key);
    if (!sealed.ok()) return sealed.status();
    configured.set_api_key_sealed(*sealed);
  }
  auto result = store.Append(
      {tenant_id,
       "tenant-" + tenant_id,
       ledger::ExpectedVersion::Any(),
       {{"tally.tenants.v1.GatewayConfigured", configured.SerializeAsString(), AdminMetadata()}},
       ""});
  return result.status();
}

absl::StatusOr<ResolvedTenant> ResolveWebhookToken(ledger::EventStore& store, const SecretBox& box,
                                                   const std::string& token,
                                                   const std::string& gateway) {
  auto created = store.FindByIdempotencyKey(TokenKey(token));
  if (!created.ok()) return created.status();
  if (!created->has_value()) return absl::NotFoundError("unknown webhook token");
  ResolvedTenant resolved;
  resolved.tenant_id = (*created)->stream_id.substr(sizeof(kTenantStreamPrefix) - 1);
  auto stream = store.ReadStream(resolved.tenant_id, (*created)->stream_id);
  if (!stream.ok()) return stream.status();
  auto folded = FoldTenantStream(*stream, gateway);
  if (!folded.ok()) return folded.status();
  const std::optional<tenants::v1::GatewayConfigured>& latest = folded->gateway;
  if (!latest.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("gateway ", gateway, " is not configured for this tenant"));
  }
  if (!latest->webhook_secret_sealed().empty()) {
    auto secret = box.Open(latest->webhook_secret_sealed());
    if (!secret.ok()) return secret.status();
    resolved.credentials.webhook_secret = *secret;
  }
  return resolved;
}

absl::StatusOr<GatewayAccountConfig> ResolveGatewayAccount(ledger::EventStore& store,
                                                           const SecretBox& box,
                                                           const std::string& tenant_id,
                                                           const std::string& gateway) {
  auto stream = store.ReadStream(tenant_id, kTenantStreamPrefix + tenant_id);
  if (!stream.ok()) return stream.status();
  if (stream->empty()) return absl::NotFoundError(absl::StrCat("no tenant ", tenant_id));
  auto folded = FoldTenantStream(*stream, gateway);
  if (!folded.ok()) return folded.status();
  const std::optional<tenants::v1::GatewayConfigured>& latest = folded->gateway;
  const tenants::v1::TenantCreated& created = folded->created;
  if (!latest.has_value() || latest->api_key_sealed().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("gateway ", gateway, " has no API key configured for this tenant"));
  }
  if (created.webhook_token_sealed().empty()) {
    return absl::FailedPreconditionError(
        "this tenant predates sealed webhook tokens: create a new tenant");
  }
  GatewayAccountConfig config;
  auto api_key = box.Open(latest->api_key_sealed());
  if (!api_key.ok()) return api_key.status();
  auto token = box.Open(created.webhook_token_sealed());
  if (!token.ok()) return token.status();
  config.account.api_key = *api_key;
  config.account.base_url = latest->base_url();
  config.webhook_token = *token;
  return config;
}

}  // namespace tally::tenants
