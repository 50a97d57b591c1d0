#include "gateways/charge_record.h"

#include "absl/strings/str_cat.h"

namespace tally::gateways {

namespace pb = payments::v1;

pb::PaymentCreated WithGatewayAnswer(pb::PaymentCreated payment, const CreatedCharge& created) {
  payment.set_gateway_transaction_id(created.transaction_id);
  payment.set_gateway_transaction_hash(created.transaction_hash);
  payment.set_pix_copy_paste(created.pix_copy_paste);
  payment.set_expires_at_s(created.expires_at_s);
  *payment.mutable_observation() = created.observation;
  return payment;
}

ledger::AppendRequest RecordCharge(const pb::PaymentCreated& payment,
                                   const ledger::v1::Metadata& metadata,
                                   const std::string& append_key) {
  return ledger::AppendRequest{payment.tenant_id(),
                               PaymentStreamId(payment.gateway(), payment.gateway_transaction_id()),
                               ledger::ExpectedVersion::Any(),
                               {{"tally.payments.v1.PaymentCreated", payment.SerializeAsString(),
                                 metadata.SerializeAsString()}},
                               append_key};
}

std::string ChargeIntentStreamId(const std::string& payment_id) {
  return absl::StrCat("charge-", payment_id);
}

std::string ChargeIntentKey(const std::string& payment_id, int attempt) {
  return attempt <= 1 ? absl::StrCat("charge-requested:", payment_id)
                      : absl::StrCat("charge-requested:", payment_id, ":", attempt);
}

}  // namespace tally::gateways
