#pragma once
// PushinPay, simulated under /pushinpay: POST /api/pix/cashIn {"value" in centavos,
// "webhook_url"} and GET /api/transactions/{id}, with a Bearer token. Ids are UUIDs, compared
// without case. Its webhook is a form body that shows the id in upper case where the API used
// lower; PushinPay signs nothing, so the seller's secret, when configured, rides in the secret
// header.

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewPushinPay();

}  // namespace tally::sandbox
