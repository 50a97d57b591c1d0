#pragma once
// Paradise, simulated under /paradise: POST /api/v1/transaction.php {"amount" in centavos,
// "reference", "description", "postback_url"}, GET /api/v1/query.php?action=get_transaction&id=
// and GET /api/v1/query.php?action=get_transaction_by_reference&reference= (the latest
// transaction carrying it, shaped as get_transaction answers, or 404), with the key in
// X-API-Key. A paid charge is "approved". Paradise signs nothing: its JSON webhook carries the
// seller's secret, when configured, in the secret header.

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewParadise();

}  // namespace tally::sandbox
