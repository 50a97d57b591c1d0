#pragma once
// The gateways Tally can take payments through, by name. Built once where the process is wired
// (StandardGateways(), in app/ and tests) and passed by reference to whatever needs a gateway:
// webhook ingestion, charges, configuration commands, projections and reconciliation. Nothing
// outside gateways/ compares a gateway's name with a literal: it asks the registry for the
// Gateway and reads its traits.
//
// Adding a gateway:
//   1. gateways/<name>.{h,cc}: a class deriving from Gateway (gateway.h) that holds everything
//      about it (webhook authenticity and parsing, status words, charge and poll calls,
//      content types, currencies, poll policy);
//   2. one line in StandardGateways() (registry.cc);
//   3. one simulator in sandbox/ speaking its wire shapes, so the end-to-end tests reach it.
//
// Immutable after construction, so thread-safe; Gateway pointers live as long as the registry.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateways/gateway.h"

namespace tally::gateways {

class GatewayRegistry {
 public:
  explicit GatewayRegistry(std::vector<std::unique_ptr<const Gateway>> gateways);
  GatewayRegistry(GatewayRegistry&&) = default;
  GatewayRegistry& operator=(GatewayRegistry&&) = default;
  GatewayRegistry(const GatewayRegistry&) = delete;
  GatewayRegistry& operator=(const GatewayRegistry&) = delete;

  // The gateway named `name` (lowercase), or null.
  const Gateway* Find(absl::string_view name) const;

  // Every gateway's name, in registration order.
  std::vector<std::string> Names() const;

  // `gateway`'s word mapped onto Tally's status; UNSPECIFIED for an unknown gateway or word.
  payments::v1::ObservedStatus NormalizeStatus(absl::string_view gateway,
                                               absl::string_view word) const;

 private:
  std::vector<std::unique_ptr<const Gateway>> gateways_;
};

// PushinPay, Paradise, Atomopay, Mercado Pago and Stripe.
GatewayRegistry StandardGateways();

}  // namespace tally::gateways
