#pragma once
// Atomopay, simulated under /atomopay: POST /api/public/v1/transactions?api_token= {"amount" in
// centavos, "external_reference", "postback_url", "payment_method":"pix"}, GET
// /api/public/v1/transactions/{hash}?api_token= and GET
// /api/public/v1/transactions?external_reference=&api_token= ({"data":[transaction…]}). A charge
// has a numeric id and a hash; status requests and the control API find it by either. Atomopay
// signs nothing: its JSON webhook carries the seller's secret, when configured, in the secret
// header.

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewAtomopay();

}  // namespace tally::sandbox
