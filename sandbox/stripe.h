#pragma once
// Stripe, simulated under /stripe: POST /v1/payment_intents (form: amount, currency,
// metadata[payment_id], description, payment_method_types[]=pix; honouring Idempotency-Key),
// GET /v1/payment_intents/{id} and GET /v1/payment_intents/search?query=metadata['payment_id']:'X'
// (a search_result; no other query is understood, and unlike Stripe's the search sees a new
// PaymentIntent at once), with a Bearer key; errors in Stripe's {"error":{…}} shape. A
// PaymentIntent waits in requires_action with the PIX QR code as its next action. Its webhooks
// are Events (payment_intent.succeeded, payment_intent.canceled, charge.refunded) sent to the
// account's endpoint, never a per-charge URL, and signed: Stripe-Signature
// "t=…,v1=HMAC-SHA256(secret, "{t}.{body}")".

#include <memory>

#include "sandbox/simulated_gateway.h"

namespace tally::sandbox {

std::unique_ptr<SimulatedGateway> NewStripe();

}  // namespace tally::sandbox
