#pragma once
// Each gateway's own words for a payment's status, mapped onto Tally's ObservedStatus. Adapters
// use it when they normalize a webhook or a poll; projections use it for observations recorded
// with only the gateway's word. Matching is case-insensitive. Thread-safe (pure).

#include "absl/strings/string_view.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::gateways {

// OBSERVED_STATUS_UNSPECIFIED for a word the gateway's table does not know (or an unknown
// gateway): callers keep the observation but it changes no status.
payments::v1::ObservedStatus NormalizeStatus(absl::string_view gateway,
                                             absl::string_view gateway_status);

}  // namespace tally::gateways
