#pragma once
// What POST /v1/payments decides, without any I/O: reading and limiting the request's fields,
// the payment id and idempotency key, the call to make at the gateway, the PaymentCreated to
// append once the gateway answered, and how each outcome is answered. ChargeApi does the I/O
// around these (authenticating, resolving the gateway account, calling the gateway, appending,
// answering); they are tested without PostgreSQL in tests/http/charge_decisions_test.cc.
//
// Pure and thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateways/charge_record.h"
#include "gateways/gateway.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "http/message.h"
#include "ledger/event.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

// What a charge request says: the payment to record, and the buyer's details, which go to the
// gateway only (they are not recorded).
struct ChargeInput {
  payments::v1::PaymentCreated payment;
  std::string customer_name;
  std::string customer_email;
  std::string customer_document;
};

// The request's fields, each checked against its limit, the gateway against `gateways` and the
// currency against the gateway. InvalidArgument naming the first field at fault.
absl::StatusOr<ChargeInput> ParseChargeRequest(const gateways::GatewayRegistry& gateways,
                                               const gateways::PayloadFields& fields);

// The payment id and append idempotency key of a charge. With an Idempotency-Key header both
// derive from (tenant, key), so a retry finds the first attempt; without one the payment id is
// random and the key empty. InvalidArgument for a header that is not 1 to 200 printable
// characters.
struct ChargeIdentity {
  std::string payment_id;
  std::string append_key;
};
absl::StatusOr<ChargeIdentity> IdentifyCharge(const std::string& tenant_id,
                                              const std::string& idempotency_header);

// The gateway call for `input` (its payment id set): webhooks to
// <public_url>/webhooks/<gateway>/<webhook token>, the payment id as the gateway's idempotency
// key.
gateways::ChargeRequest BuildGatewayCharge(const ChargeInput& input, const std::string& public_url,
                                           const std::string& webhook_token);

// The answer for a gateway error (502/504 with a stable code).
HttpResponse GatewayErrorResponse(const absl::Status& status, const std::string& gateway);

// The answer for a recorded payment: 201 when just created, 200 replayed
// (`Idempotent-Replayed: true`) — or 422 idempotency_key_reused when the recorded payment came
// from a different request body, 500 when it does not parse.
HttpResponse CreatedResponse(const payments::v1::PaymentCreated& payment, const std::string& stream,
                             int64_t position, const std::string& request_id);
HttpResponse ReplayResponse(const ledger::RecordedEvent& recorded,
                            const std::string& request_sha256, const std::string& request_id);

}  // namespace tally::http
