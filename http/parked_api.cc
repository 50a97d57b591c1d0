#include "http/parked_api.h"

#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "http/query_params.h"
#include "ledger/event_json.h"
#include "reactors/operations.h"

namespace tally::http {
namespace {

constexpr size_t kMaxListed = 1000;
constexpr size_t kMaxReasonBytes = 500;

}  // namespace

ParkedApi::ParkedApi(ledger::EventStore& store, const ledger::Clock& clock,
                     std::string database_url)
    : store_(store), clock_(clock), database_url_(std::move(database_url)), auth_(store, clock) {}

void ParkedApi::Handle(const HttpRequest& request, const std::string& path, Responder respond) {
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(request, {tenants::kAdminScope});
  if (!auth.principal.has_value()) return respond(auth.refusal);
  if (path == "/v1/admin/parked") {
    if (request.method != "GET") return respond(JsonError(405, "method_not_allowed", "use GET"));
    absl::StatusOr<QueryParams> query = QueryParams::Parse(request.target);
    absl::Status only = query.ok() ? query->Only({"reactor"}) : query.status();
    if (!only.ok())
      return respond(JsonError(400, "invalid_parameter", std::string(only.message())));
    auto parked = reactors::ReadParked(database_url_, query->Get("reactor").value_or(""));
    if (!parked.ok()) {
      return respond(JsonError(503, "database_unavailable", "the database is unavailable"));
    }
    std::string body = "{\"parked\":[";
    for (size_t i = 0; i < parked->size() && i < kMaxListed; ++i) {
      const reactors::ParkedItem& item = (*parked)[i];
      absl::StrAppend(
          &body, i == 0 ? "" : ",", "{\"reactor\":", ledger::JsonQuote(item.reactor),
          ",\"partition\":", item.partition, ",\"stream_id\":", ledger::JsonQuote(item.stream_id),
          ",\"tenant_id\":", ledger::JsonQuote(item.tenant_id), ",\"attempts\":", item.attempts,
          ",\"last_error\":", ledger::JsonQuote(item.last_error), "}");
    }
    absl::StrAppend(&body, "],\"count\":", parked->size(),
                    ",\"truncated\":", parked->size() > kMaxListed ? "true" : "false", "}");
    return respond({200, "application/json", std::move(body)});
  }
  if (path != "/v1/admin/parked/retry") {
    return respond(JsonError(404, "not_found", "no route for " + path));
  }
  if (request.method != "POST") return respond(JsonError(405, "method_not_allowed", "use POST"));
  auto fields = gateways::PayloadFields::ParseJson(request.body);
  if (!fields.ok()) {
    return respond(JsonError(400, "invalid_json", std::string(fields.status().message())));
  }
  const std::string stream = fields->Text("stream_id");
  const bool all = fields->Text("all") == "true";
  const std::string reason = fields->Text("reason");
  if (stream.empty() == !all) {
    return respond(JsonError(400, "invalid_request",
                             "stream_id: name one parked item's stream, or all: true (not both)"));
  }
  if (reason.size() > kMaxReasonBytes) {
    return respond(JsonError(400, "invalid_request",
                             absl::StrCat("reason: at most ", kMaxReasonBytes, " bytes")));
  }
  auto retried = reactors::RequestRetry(store_, database_url_, stream, fields->Text("reactor"),
                                        absl::StrCat("admin-key:", auth.principal->key_id),
                                        reason.empty() ? "admin API" : reason, clock_.NowMicros());
  if (!retried.ok()) {
    if (retried.status().code() == absl::StatusCode::kNotFound) {
      return respond(JsonError(404, "nothing_parked", std::string(retried.status().message())));
    }
    return respond(JsonError(503, "database_unavailable", "the database is unavailable"));
  }
  respond({200, "application/json", absl::StrCat("{\"retried\":", *retried, "}")});
}

}  // namespace tally::http
