#include "gateways/tenant_directory.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/tenants/v1/tenant_events.pb.h"

namespace tally::gateways {
namespace {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

std::string TokenKey(const std::string& token) {
  return absl::StrCat("tenant-token:", Sha256Hex(token));
}

std::string AdminMetadata() {
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_ADMIN);
  metadata.set_actor("tally-cli");
  return metadata.SerializeAsString();
}

}  // namespace

absl::StatusOr<NewTenant> CreateTenant(ledger::EventStore& store, const std::string& name,
                                       const std::string& time_zone) {
  NewTenant tenant;
  tenant.tenant_id = absl::StrCat("t_", absl::BytesToHexString(RandomBytes(8)));
  tenant.webhook_token = absl::WebSafeBase64Escape(RandomBytes(32));
  tenants::v1::TenantCreated created;
  created.set_tenant_id(tenant.tenant_id);
  created.set_name(name);
  created.set_time_zone(time_zone);
  created.set_webhook_token_sha256(Sha256Hex(tenant.webhook_token));
  auto result = store.Append(
      {tenant.tenant_id,
       "tenant-" + tenant.tenant_id,
       ledger::ExpectedVersion::NoStream(),
       {{"tally.tenants.v1.TenantCreated", created.SerializeAsString(), AdminMetadata()}},
       TokenKey(tenant.webhook_token)});
  if (!result.ok()) return result.status();
  return tenant;
}

absl::Status ConfigureGateway(ledger::EventStore& store, const SecretBox& box,
                              const std::string& tenant_id, const GatewaySettings& settings) {
  if (FindAdapter(settings.gateway) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown gateway \"", settings.gateway,
                     "\" (pushinpay, paradise, atomopay, mercadopago, stripe)"));
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
  resolved.tenant_id = (*created)->stream_id.substr(7);  // "tenant-<id>"
  auto stream = store.ReadStream(resolved.tenant_id, (*created)->stream_id);
  if (!stream.ok()) return stream.status();
  std::optional<tenants::v1::GatewayConfigured> latest;
  for (const auto& event : *stream) {
    if (event.type != "tally.tenants.v1.GatewayConfigured") continue;
    tenants::v1::GatewayConfigured configured;
    if (configured.ParseFromString(event.payload) && configured.gateway() == gateway) {
      latest = configured;
    }
  }
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

}  // namespace tally::gateways
