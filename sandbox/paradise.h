#pragma once
// Paradise, simulated under /paradise: POST /api/v1/transaction.php {"amount" in centavos,
// "reference", "description", "postback_url"} and GET
// /api/v1/query.php?action=get_transaction&id=, with the key in X-API-Key. A paid charge is
// "approved". Paradise signs nothing: its JSON webhook carries the seller's secret, when
// configured, in the secret header.

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewParadise();

}  // namespace tally::sandbox
