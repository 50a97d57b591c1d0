#include "gateways/registry.h"

#include "gateways/atomopay.h"
#include "gateways/mercadopago.h"
#include "gateways/paradise.h"
#include "gateways/pushinpay.h"
#include "gateways/stripe.h"

namespace tally::gateways {

GatewayRegistry::GatewayRegistry(std::vector<std::unique_ptr<const Gateway>> gateways)
    : gateways_(std::move(gateways)) {}

const Gateway* GatewayRegistry::Find(absl::string_view name) const {
  for (const auto& gateway : gateways_) {
    if (gateway->name() == name) return gateway.get();
  }
  return nullptr;
}

std::vector<std::string> GatewayRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& gateway : gateways_) names.push_back(gateway->name());
  return names;
}

payments::v1::ObservedStatus GatewayRegistry::NormalizeStatus(absl::string_view gateway,
                                                              absl::string_view word) const {
  const Gateway* found = Find(gateway);
  return found == nullptr ? payments::v1::OBSERVED_STATUS_UNSPECIFIED
                          : found->NormalizeStatus(word);
}

GatewayRegistry StandardGateways() {
  std::vector<std::unique_ptr<const Gateway>> gateways;
  gateways.push_back(std::make_unique<PushinPay>());
  gateways.push_back(std::make_unique<Paradise>());
  gateways.push_back(std::make_unique<Atomopay>());
  gateways.push_back(std::make_unique<MercadoPago>());
  gateways.push_back(std::make_unique<Stripe>());
  return GatewayRegistry(std::move(gateways));
}

}  // namespace tally::gateways
