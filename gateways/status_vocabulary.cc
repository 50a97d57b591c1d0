#include "gateways/status_vocabulary.h"

#include <string>

#include "absl/strings/ascii.h"

namespace tally::gateways {
namespace {

using payments::v1::ObservedStatus;

struct Word {
  const char* gateway;
  const char* word;
  ObservedStatus status;
};

// Sources: each gateway's public API documentation of payment/charge statuses.
constexpr Word kVocabulary[] = {
    // PushinPay PIX: created | paid | canceled | expired (plus refunded on devolução).
    {"pushinpay", "created", payments::v1::OBSERVED_STATUS_PENDING},
    {"pushinpay", "paid", payments::v1::OBSERVED_STATUS_PAID},
    {"pushinpay", "canceled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"pushinpay", "expired", payments::v1::OBSERVED_STATUS_EXPIRED},
    {"pushinpay", "refunded", payments::v1::OBSERVED_STATUS_REFUNDED},
    // Paradise: "approved" means paid.
    {"paradise", "pending", payments::v1::OBSERVED_STATUS_PENDING},
    {"paradise", "waiting_payment", payments::v1::OBSERVED_STATUS_PENDING},
    {"paradise", "approved", payments::v1::OBSERVED_STATUS_PAID},
    {"paradise", "paid", payments::v1::OBSERVED_STATUS_PAID},
    {"paradise", "refunded", payments::v1::OBSERVED_STATUS_REFUNDED},
    {"paradise", "chargeback", payments::v1::OBSERVED_STATUS_CHARGED_BACK},
    {"paradise", "cancelled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"paradise", "canceled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"paradise", "expired", payments::v1::OBSERVED_STATUS_EXPIRED},
    {"paradise", "refused", payments::v1::OBSERVED_STATUS_REFUSED},
    // Atomopay: pending | paid | refused | refunded (payment_status, falling back to status).
    {"atomopay", "pending", payments::v1::OBSERVED_STATUS_PENDING},
    {"atomopay", "waiting_payment", payments::v1::OBSERVED_STATUS_PENDING},
    {"atomopay", "paid", payments::v1::OBSERVED_STATUS_PAID},
    {"atomopay", "refused", payments::v1::OBSERVED_STATUS_REFUSED},
    {"atomopay", "refunded", payments::v1::OBSERVED_STATUS_REFUNDED},
    {"atomopay", "expired", payments::v1::OBSERVED_STATUS_EXPIRED},
    {"atomopay", "canceled", payments::v1::OBSERVED_STATUS_CANCELLED},
    // Mercado Pago payment.status.
    {"mercadopago", "pending", payments::v1::OBSERVED_STATUS_PENDING},
    {"mercadopago", "in_process", payments::v1::OBSERVED_STATUS_PENDING},
    {"mercadopago", "authorized", payments::v1::OBSERVED_STATUS_PENDING},
    {"mercadopago", "approved", payments::v1::OBSERVED_STATUS_PAID},
    {"mercadopago", "rejected", payments::v1::OBSERVED_STATUS_REFUSED},
    {"mercadopago", "cancelled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"mercadopago", "refunded", payments::v1::OBSERVED_STATUS_REFUNDED},
    {"mercadopago", "charged_back", payments::v1::OBSERVED_STATUS_CHARGED_BACK},
    // Stripe: PaymentIntent statuses and the events that change a paid charge.
    {"stripe", "requires_payment_method", payments::v1::OBSERVED_STATUS_PENDING},
    {"stripe", "requires_confirmation", payments::v1::OBSERVED_STATUS_PENDING},
    {"stripe", "requires_action", payments::v1::OBSERVED_STATUS_PENDING},
    {"stripe", "processing", payments::v1::OBSERVED_STATUS_PENDING},
    {"stripe", "succeeded", payments::v1::OBSERVED_STATUS_PAID},
    {"stripe", "payment_intent.succeeded", payments::v1::OBSERVED_STATUS_PAID},
    {"stripe", "invoice.paid", payments::v1::OBSERVED_STATUS_PAID},
    {"stripe", "canceled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"stripe", "payment_intent.canceled", payments::v1::OBSERVED_STATUS_CANCELLED},
    {"stripe", "payment_intent.payment_failed", payments::v1::OBSERVED_STATUS_REFUSED},
    {"stripe", "charge.refunded", payments::v1::OBSERVED_STATUS_REFUNDED},
    {"stripe", "charge.dispute.created", payments::v1::OBSERVED_STATUS_CHARGED_BACK},
};

}  // namespace

ObservedStatus NormalizeStatus(absl::string_view gateway, absl::string_view gateway_status) {
  const std::string g = absl::AsciiStrToLower(gateway);
  const std::string w = absl::AsciiStrToLower(absl::StripAsciiWhitespace(gateway_status));
  for (const Word& entry : kVocabulary) {
    if (g == entry.gateway && w == entry.word) return entry.status;
  }
  return payments::v1::OBSERVED_STATUS_UNSPECIFIED;
}

}  // namespace tally::gateways
