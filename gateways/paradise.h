#pragma once
// Paradise: see paradise.cc for its webhook, status and API shapes. Immutable; thread-safe.

#include "gateways/gateway.h"

namespace tally::gateways {

class Paradise final : public Gateway {
 public:
  Paradise();
  const GatewayTraits& traits() const override { return traits_; }
  absl::StatusOr<ParsedWebhook> ParseWebhook(const WebhookRequest& request,
                                             const GatewayCredentials& credentials) const override;
  absl::StatusOr<CreatedCharge> CreateCharge(const ApiAccount& account,
                                             const ChargeRequest& request,
                                             const Transport& transport) const override;
  absl::StatusOr<CreatedCharge> FindChargeByReference(const ApiAccount& account,
                                                      const std::string& payment_id,
                                                      const Transport& transport) const override;
  PolledStatus PollStatus(const ApiAccount& account, const std::string& transaction_id,
                          const std::string& transaction_hash,
                          const Transport& transport) const override;

 private:
  GatewayTraits traits_;
};

}  // namespace tally::gateways
