#include "gateways/gateway.h"

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tally::gateways {

std::string PaymentStreamId(absl::string_view gateway, absl::string_view transaction_id) {
  return absl::StrCat("payment-", gateway, "-", transaction_id);
}

std::string HeaderValue(const WebhookRequest& request, absl::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

absl::StatusOr<CreatedCharge> Gateway::FindChargeByReference(const ApiAccount&, const std::string&,
                                                             const Transport&) const {
  return absl::UnimplementedError(
      absl::StrCat(name(), " cannot look a charge up by Tally's reference"));
}

payments::v1::ObservedStatus Gateway::NormalizeStatus(absl::string_view word) const {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(word);
  for (const StatusWord& entry : traits().vocabulary) {
    if (absl::EqualsIgnoreCase(trimmed, entry.word)) return entry.status;
  }
  return payments::v1::OBSERVED_STATUS_UNSPECIFIED;
}

absl::Status Gateway::CheckWebhookContentType(absl::string_view content_type,
                                              absl::string_view body) const {
  const GatewayTraits& t = traits();
  const std::string type = absl::AsciiStrToLower(content_type);
  if (absl::StrContains(type, "application/json")) return absl::OkStatus();
  if (t.webhook_form_bodies && absl::StrContains(type, "application/x-www-form-urlencoded")) {
    return absl::OkStatus();
  }
  if (t.webhook_empty_bodies && body.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(t.name, " webhooks are application/json",
                   t.webhook_form_bodies ? " or application/x-www-form-urlencoded" : ""));
}

absl::Status Gateway::CheckCurrency(absl::string_view currency) const {
  const std::string code = absl::AsciiStrToUpper(currency);
  if (traits().currencies.empty() || absl::c_linear_search(traits().currencies, code)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      name(), " takes ", absl::StrJoin(traits().currencies, ", "), " only, not ", currency));
}

}  // namespace tally::gateways
