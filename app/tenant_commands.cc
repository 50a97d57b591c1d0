// tally tenants create, tally gateways set.

#include <cstdlib>
#include <iostream>

#include "app/commands.h"
#include "gateways/tenant_directory.h"
#include "ledger/event_store.h"

namespace tally::app {
namespace {

absl::StatusOr<std::unique_ptr<ledger::EventStore>> OpenStore(const std::string& url) {
  ledger::EventStoreOptions options;
  options.database_url = url;
  return ledger::EventStore::Open(std::move(options));
}

}  // namespace

int RunTenantsCreate(const std::string& database_url, const std::string& name,
                     const std::string& time_zone) {
  auto store = OpenStore(database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto tenant = gateways::CreateTenant(**store, name, time_zone);
  if (!tenant.ok()) return Fail(2, std::string(tenant.status().message()));
  std::cout << "tenant " << tenant->tenant_id << "\n"
            << "webhook token " << tenant->webhook_token << "\n"
            << "webhook URLs: /webhooks/<gateway>/" << tenant->webhook_token
            << "  (the token is not stored; keep it now)\n";
  return 0;
}

int RunGatewaysSet(const GatewaysSetOptions& options) {
  const char* master_key = std::getenv("TALLY_MASTER_KEY");
  if (master_key == nullptr) return Fail(2, "TALLY_MASTER_KEY is not set (64 hex digits)");
  auto box = gateways::SecretBox::FromHex(master_key);
  if (!box.ok()) return Fail(2, std::string(box.status().message()));
  auto store = OpenStore(options.database_url);
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  absl::Status status = gateways::ConfigureGateway(
      **store, *box, options.tenant,
      {options.gateway, options.secret, options.api_key, options.base_url});
  if (!status.ok()) return Fail(2, std::string(status.message()));
  std::cout << "gateway " << options.gateway << " configured for " << options.tenant
            << (options.secret.empty() ? "" : " (secret sealed)") << "\n";
  return 0;
}

}  // namespace tally::app
