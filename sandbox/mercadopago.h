#pragma once
// Mercado Pago, simulated under /mercadopago: POST /v1/payments {"transaction_amount" in reais,
// "external_reference", "description", "notification_url", "payment_method_id":"pix",
// "payer":{"email"}} (201, honouring X-Idempotency-Key), GET /v1/payments/{id} and GET
// /v1/payments/search?external_reference= ({"results":[payment…],"paging":{"total",…}}; the
// search takes no other filter), with a Bearer token. A paid charge is "approved", an expired one
// "cancelled". Its webhook says only "payment <id> changed" (the receiver polls for the status),
// adds data.id and type to the notification URL's query, and is signed: x-signature
// "ts=…,v1=HMAC-SHA256(secret, id:<id>;request-id:<x-request-id>;ts:<ts>;)".

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewMercadoPago();

}  // namespace tally::sandbox
