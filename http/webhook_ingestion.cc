#include "http/webhook_ingestion.h"

#include <variant>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateways/webhook_crypto.h"
#include "http/webhook_decisions.h"
#include "ledger/event_json.h"
#include "metrics/metrics.h"
#include "tenants/tenant_directory.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

constexpr int kKeptRejections = 10000;

// The outcome a refused webhook is counted under (tally_webhooks_total): the stable error code
// of its answer (http/webhook_decisions.h). Unknown URLs, also 401, are counted where they are
// decided.
const char* RejectionOutcome(const HttpResponse& response) {
  switch (response.status) {
    case 400:
      return "bad_body";
    case 401:
      return "bad_signature";
    case 404:
      return "unknown_gateway";
    case 405:
      return "method_not_allowed";
    case 415:
      return "unsupported_media_type";
  }
  return "rejected";
}

}  // namespace

WebhookIngestion::WebhookIngestion(ledger::EventStore& store, tenants::SecretBox box,
                                   const gateways::GatewayRegistry& gateways,
                                   const ledger::Clock& clock, const std::string& database_url)
    : store_(store),
      gateways_(gateways),
      box_(std::move(box)),
      clock_(clock),
      rejections_(database_url, ledger::Session::kService, 2) {}

void WebhookIngestion::RecordRejection(const std::string& gateway, const std::string& tenant_id,
                                       const std::string& reason, const HttpRequest& request,
                                       const std::string& request_id) {
  // The 401 stands whether or not it can be recorded; a rejection that cannot be recorded is
  // logged instead, so that no forgery goes unseen.
  auto lease = rejections_.Acquire();
  if (!lease.ok()) {
    spdlog::error(
        "webhook rejection not recorded request_id={} gateway={} tenant={} remote={} "
        "reason=\"{}\" error=\"{}\"",
        request_id, gateway, tenant_id, request.remote_address, reason,
        std::string(lease.status().message()));
    return;
  }
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
  } catch (const std::exception& e) {
    spdlog::error(
        "webhook rejection not recorded request_id={} gateway={} tenant={} remote={} "
        "reason=\"{}\" error=\"{}\"",
        request_id, gateway, tenant_id, request.remote_address, reason, e.what());
  }
}

absl::StatusOr<tenants::ResolvedTenant> WebhookIngestion::Resolve(const std::string& token,
                                                                  const std::string& gateway) {
  if (auto cached = CachedTenant(token, gateway)) return *cached;
  auto resolved = tenants::ResolveWebhookToken(store_, box_, token, gateway);
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

std::optional<tenants::ResolvedTenant> WebhookIngestion::CachedTenant(const std::string& token,
                                                                      const std::string& gateway) {
  return tenants_.Get(absl::StrCat(gateways::Sha256Hex(token), ":", gateway), clock_.NowMicros());
}

bool WebhookIngestion::Ingest(const HttpRequest& request, const std::string& gateway_name,
                              const std::string& token, Responder& respond, bool may_block) {
  std::optional<tenants::ResolvedTenant> cached;
  if (!may_block) {
    cached = CachedTenant(token, gateway_name);
    if (!cached.has_value()) return false;  // resolving the token reads the log
  }
  const std::string request_id = NewRequestId();
  auto admitted = AdmitWebhook(gateways_, request, gateway_name);
  if (auto* rejection = std::get_if<WebhookRejection>(&admitted)) {
    // Only a known gateway's name becomes a label: the path is the client's to choose.
    metrics::RecordWebhook(gateways_.Find(gateway_name) != nullptr ? gateway_name : "unknown",
                           RejectionOutcome(rejection->response));
    respond(std::move(rejection->response));
    return true;
  }
  const gateways::Gateway& gateway = *std::get<const gateways::Gateway*>(admitted);

  absl::StatusOr<tenants::ResolvedTenant> tenant =
      cached.has_value() ? absl::StatusOr<tenants::ResolvedTenant>(*cached)
                         : Resolve(token, gateway_name);
  if (!tenant.ok()) {
    if (tenant.status().code() == absl::StatusCode::kUnavailable) {
      metrics::RecordWebhook(gateway_name, "database_unavailable");
      respond(JsonError(503, "database_unavailable", "try again"));
      return true;
    }
    WebhookRejection rejection = UnknownWebhookUrl(tenant.status());
    RecordRejection(gateway_name, "", rejection.reason, request, request_id);
    metrics::RecordWebhook(gateway_name, "unknown_url");
    spdlog::warn("webhook rejected request_id={} gateway={} remote={} reason=\"{}\"", request_id,
                 gateway_name, request.remote_address, rejection.reason);
    respond(std::move(rejection.response));
    return true;
  }

  auto decided = DecideWebhook(gateway, request, *tenant, clock_.NowMicros(), request_id);
  if (auto* rejection = std::get_if<WebhookRejection>(&decided)) {
    if (rejection->record) {
      if (!may_block) return false;  // recording the rejection writes to the database
      RecordRejection(gateway_name, tenant->tenant_id, rejection->reason, request, request_id);
      spdlog::warn("webhook rejected request_id={} gateway={} tenant={} remote={} reason=\"{}\"",
                   request_id, gateway_name, tenant->tenant_id, request.remote_address,
                   rejection->reason);
    }
    metrics::RecordWebhook(gateway_name, RejectionOutcome(rejection->response));
    respond(std::move(rejection->response));
    return true;
  }
  WebhookAppend& decision = std::get<WebhookAppend>(decided);
  const std::string tenant_id = tenant->tenant_id;
  const std::string stream = decision.append.stream_id;
  const std::string authenticity = pb::Authenticity_Name(decision.authenticity);
  store_.AppendAsync(
      std::move(decision.append),
      [respond = std::move(respond), request_id, gateway_name, tenant_id, stream,
       authenticity](absl::StatusOr<ledger::AppendResult> appended) {
        if (!appended.ok()) {
          spdlog::error(
              "webhook not recorded request_id={} gateway={} tenant={} stream={} "
              "error=\"{}\"",
              request_id, gateway_name, tenant_id, stream,
              std::string(appended.status().message()));
          switch (appended.status().code()) {
            case absl::StatusCode::kUnavailable:
              metrics::RecordWebhook(gateway_name, "database_unavailable");
              return respond(JsonError(503, "database_unavailable",
                                       "the notification was not recorded: retry"));
            case absl::StatusCode::kInvalidArgument:
              metrics::RecordWebhook(gateway_name, "bad_body");
              return respond(JsonError(400, "bad_body", std::string(appended.status().message())));
            default:
              metrics::RecordWebhook(gateway_name, "internal");
              return respond(JsonError(500, "internal", "the notification was not recorded"));
          }
        }
        spdlog::info(
            "webhook recorded request_id={} gateway={} tenant={} stream={} position={} "
            "duplicate={} authenticity={}",
            request_id, gateway_name, tenant_id, stream, appended->positions[0],
            appended->duplicate, authenticity);
        metrics::RecordWebhook(gateway_name, appended->duplicate ? "duplicate" : "accepted");
        respond({200, "application/json",
                 absl::StrCat("{\"status\":\"recorded\",\"stream\":", ledger::JsonQuote(stream),
                              ",\"position\":", appended->positions[0],
                              ",\"duplicate\":", appended->duplicate ? "true" : "false",
                              ",\"request_id\":\"", request_id, "\"}")});
      });
  return true;
}

}  // namespace tally::http
