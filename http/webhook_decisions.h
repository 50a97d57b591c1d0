#pragma once
// What POST /webhooks/<gateway>/<token> decides, without any I/O: the checks that need only the
// request (which gateway, method, content type) and, once the tenant is resolved, whether the
// notification is authentic and what to append. WebhookIngestion does the I/O around these
// (resolving the token, recording rejections, appending, answering); the decisions are tested
// without PostgreSQL in tests/http/webhook_decisions_test.cc.
//
// Pure and thread-safe.

#include <cstdint>
#include <string>
#include <variant>

#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "http/message.h"
#include "ledger/event.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

// A request refused with `response`. `record` says the refusal is an authentication failure
// that belongs in webhook_rejections (forgeries and unknown URLs), with `reason` for operators.
struct WebhookRejection {
  HttpResponse response;
  bool record = false;
  std::string reason;
};

// The gateway the request is for, or why it cannot be one: 404 unknown gateway, 405 not POST,
// 415 a content type the gateway does not send.
std::variant<const gateways::Gateway*, WebhookRejection> AdmitWebhook(
    const gateways::GatewayRegistry& gateways, const HttpRequest& request,
    const std::string& gateway_name);

// The rejection for a webhook URL token that did not resolve to a tenant with this gateway
// configured (401, recorded).
WebhookRejection UnknownWebhookUrl(const absl::Status& resolve_error);

// What to append for an admitted request of `tenant`: GatewayWebhookReceived (raw body and the
// headers verbatim — never credential headers —, authenticity, observation) to the payment's
// stream, keyed by the gateway's event id (or the body's SHA-256 when it has none). A bad
// signature or secret is 401 bad_signature (recorded); a body that does not parse is 400.
struct WebhookAppend {
  ledger::AppendRequest append;
  payments::v1::Authenticity authenticity = payments::v1::AUTHENTICITY_UNSPECIFIED;
};
std::variant<WebhookAppend, WebhookRejection> DecideWebhook(const gateways::Gateway& gateway,
                                                            const HttpRequest& request,
                                                            const tenants::ResolvedTenant& tenant,
                                                            int64_t now_us,
                                                            const std::string& request_id);

// The idempotency key of a notification: "webhook:<gateway>:<event id>" when that makes a valid
// key, else "webhook:<gateway>:body:<SHA-256 of the body>".
std::string WebhookIdempotencyKey(const std::string& gateway, const std::string& event_id,
                                  const std::string& body);

}  // namespace tally::http
