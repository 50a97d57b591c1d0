#include "http/webhook_decisions.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"
#include "http/request_metadata.h"
#include "ledger/event_store.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

// Headers that carry credentials are never stored.
bool IsSecretHeader(absl::string_view name) {
  return name == gateways::kUnsignedSecretHeader || name == "authorization" || name == "cookie";
}

}  // namespace

std::string WebhookIdempotencyKey(const std::string& gateway, const std::string& event_id,
                                  const std::string& body) {
  if (!event_id.empty()) {
    std::string key = absl::StrCat("webhook:", gateway, ":", event_id);
    if (ledger::ValidateIdempotencyKey(key).ok()) return key;
  }
  return absl::StrCat("webhook:", gateway, ":body:", gateways::Sha256Hex(body));
}

std::variant<const gateways::Gateway*, WebhookRejection> AdmitWebhook(
    const gateways::GatewayRegistry& gateways, const HttpRequest& request,
    const std::string& gateway_name) {
  const gateways::Gateway* gateway = gateways.Find(gateway_name);
  if (gateway == nullptr) {
    return WebhookRejection{
        JsonError(404, "unknown_gateway", "no gateway named \"" + gateway_name + "\"")};
  }
  if (request.method != "POST") {
    return WebhookRejection{JsonError(405, "method_not_allowed", "use POST")};
  }
  absl::Status type =
      gateway->CheckWebhookContentType(HeaderValue(request, "content-type"), request.body);
  if (!type.ok()) {
    return WebhookRejection{JsonError(415, "unsupported_media_type", std::string(type.message()))};
  }
  return gateway;
}

WebhookRejection UnknownWebhookUrl(const absl::Status& resolve_error) {
  return WebhookRejection{
      JsonError(401, "unauthorized", "unknown webhook URL or gateway not configured"), true,
      std::string(resolve_error.message())};
}

std::variant<WebhookAppend, WebhookRejection> DecideWebhook(const gateways::Gateway& gateway,
                                                            const HttpRequest& request,
                                                            const tenants::ResolvedTenant& tenant,
                                                            int64_t now_us,
                                                            const std::string& request_id) {
  gateways::WebhookRequest webhook;
  const size_t question = request.target.find('?');
  if (question != std::string::npos) webhook.query_string = request.target.substr(question + 1);
  for (const auto& [name, value] : request.headers) {
    webhook.headers.emplace_back(absl::AsciiStrToLower(name), value);
  }
  webhook.content_type = absl::AsciiStrToLower(HeaderValue(request, "content-type"));
  webhook.body = request.body;
  webhook.now_s = now_us / 1000000;
  auto parsed = gateway.ParseWebhook(webhook, tenant.credentials);
  if (!parsed.ok()) {
    const std::string message(parsed.status().message());
    if (parsed.status().code() == absl::StatusCode::kUnauthenticated) {
      return WebhookRejection{JsonError(401, "bad_signature", message), true, message};
    }
    return WebhookRejection{JsonError(400, "bad_body", message)};
  }

  pb::GatewayWebhookReceived received;
  received.set_gateway(gateway.name());
  received.set_tenant_id(tenant.tenant_id);
  received.set_raw_body(request.body);
  for (const auto& [name, value] : webhook.headers) {
    if (IsSecretHeader(name)) continue;
    auto* header = received.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  received.set_content_type(webhook.content_type);
  received.set_query_string(webhook.query_string);
  received.set_authenticity(parsed->authenticity);
  *received.mutable_observation() = parsed->observation;
  const ledger::v1::Metadata metadata =
      RequestMetadata(request, request_id, ledger::v1::SOURCE_WEBHOOK, gateway.name(), now_us);
  return WebhookAppend{
      ledger::AppendRequest{tenant.tenant_id,
                            gateways::PaymentStreamId(gateway.name(), parsed->transaction_id),
                            ledger::ExpectedVersion::Any(),
                            {{"tally.payments.v1.GatewayWebhookReceived",
                              received.SerializeAsString(), metadata.SerializeAsString()}},
                            WebhookIdempotencyKey(gateway.name(), parsed->event_id, request.body)},
      parsed->authenticity};
}

}  // namespace tally::http
