#include "http/webhook_ingestion.h"

#include <openssl/rand.h>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateways/adapter.h"
#include "gateways/tenant_directory.h"
#include "gateways/webhook_crypto.h"
#include "http/request_metadata.h"
#include "ledger/event_json.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

constexpr int kKeptRejections = 10000;

// Headers that carry credentials are never stored.
bool IsSecretHeader(absl::string_view name) {
  return name == "x-webhook-secret" || name == "authorization" || name == "cookie";
}

// The idempotency key of a notification: the gateway's event id when it makes a valid key,
// else the body's hash.
std::string IdempotencyKey(const std::string& gateway, const std::string& event_id,
                           const std::string& body) {
  if (!event_id.empty()) {
    std::string key = absl::StrCat("webhook:", gateway, ":", event_id);
    if (ledger::ValidateIdempotencyKey(key).ok()) return key;
  }
  return absl::StrCat("webhook:", gateway, ":body:", gateways::Sha256Hex(body));
}

}  // namespace

WebhookIngestion::WebhookIngestion(ledger::EventStore& store, gateways::SecretBox box,
                                   const ledger::Clock& clock, const std::string& database_url)
    : store_(store),
      box_(std::move(box)),
      clock_(clock),
      rejections_(database_url, ledger::Session::kService, 2) {}

void WebhookIngestion::RecordRejection(const std::string& gateway, const std::string& tenant_id,
                                       const std::string& reason, const HttpRequest& request,
                                       const std::string& request_id) {
  auto lease = rejections_.Acquire();
  if (!lease.ok()) return;  // the 401 stands whether or not it could be recorded
  try {
    pqxx::work txn(**lease);
    pqxx::result id = txn.exec_params(
        "INSERT INTO webhook_rejections (gateway, tenant_id, reason, remote_address, request_id, "
        "body_sha256, body_bytes) VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6, $7) RETURNING id",
        gateway, tenant_id, reason, request.remote_address, request_id,
        gateways::Sha256Hex(request.body), static_cast<int>(request.body.size()));
    txn.exec_params("DELETE FROM webhook_rejections WHERE id <= $1",
                    id[0][0].as<int64_t>() - kKeptRejections);
    txn.commit();
  } catch (const std::exception&) {
    // Recording is best effort; the rejection itself was already decided.
  }
}

absl::StatusOr<gateways::ResolvedTenant> WebhookIngestion::Resolve(const std::string& token,
                                                                   const std::string& gateway) {
  if (auto cached = CachedTenant(token, gateway)) return *cached;
  auto resolved = gateways::ResolveWebhookToken(store_, box_, token, gateway);
  if (resolved.ok()) {
    tenants_.Put(absl::StrCat(gateways::Sha256Hex(token), ":", gateway), *resolved,
                 clock_.NowMicros());
  }
  return resolved;
}

void WebhookIngestion::Handle(const HttpRequest& request, const std::string& gateway,
                              const std::string& token, Responder respond) {
  Ingest(request, gateway, token, respond, /*may_block=*/true);
}

bool WebhookIngestion::TryHandleWithoutBlocking(const HttpRequest& request,
                                                const std::string& gateway,
                                                const std::string& token, Responder& respond) {
  return Ingest(request, gateway, token, respond, /*may_block=*/false);
}

std::optional<gateways::ResolvedTenant> WebhookIngestion::CachedTenant(const std::string& token,
                                                                       const std::string& gateway) {
  return tenants_.Get(absl::StrCat(gateways::Sha256Hex(token), ":", gateway), clock_.NowMicros());
}

bool WebhookIngestion::Ingest(const HttpRequest& request, const std::string& gateway,
                              const std::string& token, Responder& respond, bool may_block) {
  std::optional<gateways::ResolvedTenant> cached;
  if (!may_block) {
    cached = CachedTenant(token, gateway);
    if (!cached.has_value()) return false;  // resolving the token reads the log
  }
  const std::string request_id = NewRequestId();
  const gateways::GatewayAdapter* adapter = gateways::FindAdapter(gateway);
  if (adapter == nullptr) {
    respond(JsonError(404, "unknown_gateway", "no gateway named \"" + gateway + "\""));
    return true;
  }
  if (request.method != "POST") {
    respond(JsonError(405, "method_not_allowed", "use POST"));
    return true;
  }
  const std::string content_type = absl::AsciiStrToLower(HeaderValue(request, "content-type"));
  const bool form = absl::StrContains(content_type, "application/x-www-form-urlencoded");
  const bool json = absl::StrContains(content_type, "application/json");
  const bool accepts_form = gateway == "pushinpay";
  if (!(json || (form && accepts_form)) && !(gateway == "mercadopago" && request.body.empty())) {
    respond(JsonError(415, "unsupported_media_type",
                      absl::StrCat(gateway, " webhooks are application/json",
                                   accepts_form ? " or application/x-www-form-urlencoded" : "")));
    return true;
  }

  absl::StatusOr<gateways::ResolvedTenant> tenant =
      cached.has_value() ? absl::StatusOr<gateways::ResolvedTenant>(*cached)
                         : Resolve(token, gateway);
  if (!tenant.ok()) {
    if (tenant.status().code() == absl::StatusCode::kUnavailable) {
      respond(JsonError(503, "database_unavailable", "try again"));
      return true;
    }
    RecordRejection(gateway, "", std::string(tenant.status().message()), request, request_id);
    spdlog::warn("webhook rejected request_id={} gateway={} remote={} reason=\"{}\"", request_id,
                 gateway, request.remote_address, std::string(tenant.status().message()));
    respond(JsonError(401, "unauthorized", "unknown webhook URL or gateway not configured"));
    return true;
  }

  gateways::WebhookRequest webhook;
  const size_t question = request.target.find('?');
  if (question != std::string::npos) webhook.query_string = request.target.substr(question + 1);
  for (const auto& [name, value] : request.headers) {
    webhook.headers.emplace_back(absl::AsciiStrToLower(name), value);
  }
  webhook.content_type = content_type;
  webhook.body = request.body;
  webhook.now_s = clock_.NowMicros() / 1000000;
  auto parsed = adapter->ParseWebhook(webhook, tenant->credentials);
  if (!parsed.ok()) {
    if (parsed.status().code() == absl::StatusCode::kUnauthenticated) {
      if (!may_block) return false;  // recording the rejection writes to the database
      RecordRejection(gateway, tenant->tenant_id, std::string(parsed.status().message()), request,
                      request_id);
      spdlog::warn("webhook rejected request_id={} gateway={} tenant={} remote={} reason=\"{}\"",
                   request_id, gateway, tenant->tenant_id, request.remote_address,
                   std::string(parsed.status().message()));
      respond(JsonError(401, "bad_signature", std::string(parsed.status().message())));
      return true;
    }
    respond(JsonError(400, "bad_body", std::string(parsed.status().message())));
    return true;
  }

  pb::GatewayWebhookReceived received;
  received.set_gateway(gateway);
  received.set_tenant_id(tenant->tenant_id);
  received.set_raw_body(request.body);
  for (const auto& [name, value] : webhook.headers) {
    if (IsSecretHeader(name)) continue;
    auto* header = received.add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  received.set_content_type(content_type);
  received.set_query_string(webhook.query_string);
  received.set_authenticity(parsed->authenticity);
  *received.mutable_observation() = parsed->observation;
  const ledger::v1::Metadata metadata =
      RequestMetadata(request, request_id, ledger::v1::SOURCE_WEBHOOK, gateway, clock_.NowMicros());

  const std::string stream = absl::StrCat("payment-", gateway, "-", parsed->transaction_id);
  ledger::AppendRequest append{tenant->tenant_id,
                               stream,
                               ledger::ExpectedVersion::Any(),
                               {{"tally.payments.v1.GatewayWebhookReceived",
                                 received.SerializeAsString(), metadata.SerializeAsString()}},
                               IdempotencyKey(gateway, parsed->event_id, request.body)};
  const std::string tenant_id = tenant->tenant_id;
  const std::string authenticity = pb::Authenticity_Name(parsed->authenticity);
  store_.AppendAsync(
      std::move(append), [respond = std::move(respond), request_id, gateway, tenant_id, stream,
                          authenticity](absl::StatusOr<ledger::AppendResult> appended) {
        if (!appended.ok()) {
          spdlog::error(
              "webhook not recorded request_id={} gateway={} tenant={} stream={} "
              "error=\"{}\"",
              request_id, gateway, tenant_id, stream, std::string(appended.status().message()));
          switch (appended.status().code()) {
            case absl::StatusCode::kUnavailable:
              return respond(JsonError(503, "database_unavailable",
                                       "the notification was not recorded: retry"));
            case absl::StatusCode::kInvalidArgument:
              return respond(JsonError(400, "bad_body", std::string(appended.status().message())));
            default:
              return respond(JsonError(500, "internal", "the notification was not recorded"));
          }
        }
        spdlog::info(
            "webhook recorded request_id={} gateway={} tenant={} stream={} position={} "
            "duplicate={} authenticity={}",
            request_id, gateway, tenant_id, stream, appended->positions[0], appended->duplicate,
            authenticity);
        respond({200, "application/json",
                 absl::StrCat("{\"status\":\"recorded\",\"stream\":", ledger::JsonQuote(stream),
                              ",\"position\":", appended->positions[0],
                              ",\"duplicate\":", appended->duplicate ? "true" : "false",
                              ",\"request_id\":\"", request_id, "\"}")});
      });
  return true;
}

}  // namespace tally::http
