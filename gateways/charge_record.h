#pragma once
// How a charge the gateway created is recorded: the payment completed with the gateway's
// answer, appended as PaymentCreated to the payment's stream under the charge's idempotency
// key. One definition for the two writers — the charge API (the answer arrived) and the charge
// reconciler (the answer was lost and the charge was found by our reference) — so a charge is
// recorded the same way whoever records it, and the second writer's append is a duplicate.
//
// Pure and thread-safe.

#include <string>

#include "gateways/gateway.h"
#include "ledger/event.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::gateways {

// `payment` completed with what the gateway answered (its ids, PIX code, expiry, status).
payments::v1::PaymentCreated WithGatewayAnswer(payments::v1::PaymentCreated payment,
                                               const CreatedCharge& created);

// The append of `payment` to its stream, PaymentStreamId(gateway, transaction id), under
// `append_key`.
ledger::AppendRequest RecordCharge(const payments::v1::PaymentCreated& payment,
                                   const ledger::v1::Metadata& metadata,
                                   const std::string& append_key);

// The intent's stream and keys: `charge-<payment_id>`, `charge-requested:<payment_id>` for the
// first attempt and `charge-requested:<payment_id>:<attempt>` after.
std::string ChargeIntentStreamId(const std::string& payment_id);
std::string ChargeIntentKey(const std::string& payment_id, int attempt);

}  // namespace tally::gateways
