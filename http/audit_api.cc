#include "http/audit_api.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <stdexcept>

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "http/query_params.h"
#include "ledger/database.h"
#include "ledger/event_json.h"
#include "ledger/hash_chain.h"
#include "projections/as_of.h"

namespace tally::http {
namespace {

constexpr char kPrefix[] = "/v1/audit/";
constexpr int64_t kDefaultLimit = 1000;
constexpr int64_t kMaxLimit = 10000;
// The streams whose tenant is kept between requests; past this the cache starts over.
constexpr size_t kMaxKnownStreams = 1000000;

HttpResponse BadParameter(const std::string& name, const std::string& why) {
  return JsonError(400, "invalid_parameter", absl::StrCat(name, ": ", why));
}

// An integer parameter in [low, high]; `fallback` when absent.
absl::StatusOr<int64_t> IntParameter(const QueryParams& query, const std::string& name,
                                     int64_t fallback, int64_t low, int64_t high) {
  const std::optional<std::string> text = query.Get(name);
  if (!text.has_value()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < low || value > high) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": must be an integer from ", low, " to ", high));
  }
  return value;
}

HttpResponse Unavailable() { return JsonError(503, "database_unavailable", "try again"); }

HttpResponse Json(int status, std::string body) {
  return {status, "application/json", std::move(body)};
}

std::string Time(int64_t us) {
  return us <= 0 ? "null" : ledger::JsonQuote(ledger::FormatMicros(us));
}

}  // namespace

AuditApi::AuditApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url)
    : store_(store), clock_(clock), database_url_(std::move(database_url)), auth_(store, clock) {}

AuditApi::~AuditApi() {
  cancel_ = true;
  if (verifier_.joinable()) verifier_.join();
}

void AuditApi::Handle(const HttpRequest& request, const std::string& path, Responder respond) {
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(request, {tenants::kAuditorScope});
  if (!auth.principal.has_value()) return respond(auth.refusal);
  const tenants::ApiPrincipal& who = *auth.principal;
  const std::string rest = path.substr(sizeof(kPrefix) - 1);
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (rest == "verify") {
    if (request.method == "POST") return respond(Verify(who, true));
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET or POST"));
    return respond(Verify(who, false));
  }
  if (absl::StartsWith(rest, "streams/") && rest.size() > 8) {
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET"));
    auto stream = PercentDecode(rest.substr(8), false);
    if (!stream.has_value()) return respond(BadParameter("stream", "malformed percent-encoding"));
    return respond(Stream(who, *stream));
  }
  if (rest == "events") {
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(Events(who, request.target));
  }
  if (rest == "as-of") {
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(AsOf(who, request.target));
  }
  respond(JsonError(404, "not_found", "no route for " + path));
}

absl::StatusOr<std::string> AuditApi::TenantOf(const ledger::RecordedEvent& event) {
  std::lock_guard lock(tenants_mu_);
  if (stream_tenants_ == nullptr || stream_tenants_->size() > kMaxKnownStreams) {
    stream_tenants_ =
        std::make_unique<tenants::StreamTenants>([this](int partition, const std::string& stream) {
          return store_.ReadStreamInPartition(partition, stream);
        });
  }
  return stream_tenants_->Of(event);
}

HttpResponse AuditApi::Stream(const tenants::ApiPrincipal& who, const std::string& stream) {
  std::vector<int> partitions;
  if (!who.tenant_id.empty()) {
    partitions.push_back(store_.PartitionFor(who.tenant_id));
  } else {
    for (int p = 0; p < store_.partition_count(); ++p) partitions.push_back(p);
  }
  for (int partition : partitions) {
    auto events = store_.ReadStreamInPartition(partition, stream);
    if (!events.ok()) return Unavailable();
    if (events->empty()) continue;
    if (!who.tenant_id.empty()) {
      auto owner = TenantOf(events->front());
      if (!owner.ok()) return Unavailable();
      if (*owner != who.tenant_id) continue;
    }
    std::string body = absl::StrCat("{\"stream_id\":", ledger::JsonQuote(stream), ",\"events\":[");
    for (size_t i = 0; i < events->size(); ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",",
                      ledger::EventToJson((*events)[i], store_.registry()));
    }
    body += "]}";
    return Json(200, std::move(body));
  }
  return JsonError(404, "stream_not_found", absl::StrCat("no stream ", stream));
}

HttpResponse AuditApi::Events(const tenants::ApiPrincipal& who, const std::string& target) {
  auto parsed = QueryParams::Parse(target);
  if (!parsed.ok())
    return JsonError(400, "invalid_parameter", std::string(parsed.status().message()));
  const QueryParams& query = *parsed;
  if (absl::Status s = query.Only({"partition", "after", "limit"}); !s.ok()) {
    return JsonError(400, "invalid_parameter", std::string(s.message()));
  }
  const int partitions = store_.partition_count();
  int64_t partition = 0;
  if (!query.Get("partition").has_value()) {
    if (who.tenant_id.empty()) {
      return BadParameter("partition",
                          absl::StrCat("required: a partition from 0 to ", partitions - 1));
    }
    partition = store_.PartitionFor(who.tenant_id);
  } else {
    auto given = IntParameter(query, "partition", 0, 0, partitions - 1);
    if (!given.ok())
      return JsonError(400, "invalid_parameter", std::string(given.status().message()));
    partition = *given;
  }
  auto after = IntParameter(query, "after", 0, 0, INT64_MAX);
  if (!after.ok())
    return JsonError(400, "invalid_parameter", std::string(after.status().message()));
  auto limit = IntParameter(query, "limit", kDefaultLimit, 1, kMaxLimit);
  if (!limit.ok())
    return JsonError(400, "invalid_parameter", std::string(limit.status().message()));

  auto events =
      store_.ReadPartition(static_cast<int>(partition), *after, static_cast<size_t>(*limit));
  if (!events.ok()) return Unavailable();
  std::string body;
  int64_t next_after = *after;
  for (const ledger::RecordedEvent& event : *events) {
    next_after = event.position;
    if (!who.tenant_id.empty()) {
      auto owner = TenantOf(event);
      if (!owner.ok()) return Unavailable();
      if (*owner != who.tenant_id) continue;
    }
    absl::StrAppend(&body, ledger::EventToJson(event, store_.registry()), "\n");
  }
  HttpResponse response{200, "application/x-ndjson", std::move(body)};
  response.headers.emplace_back("Tally-Next-After", std::to_string(next_after));
  response.headers.emplace_back("Tally-End",
                                events->size() < static_cast<size_t>(*limit) ? "true" : "false");
  return response;
}

HttpResponse AuditApi::AsOf(const tenants::ApiPrincipal& who, const std::string& target) {
  auto parsed = QueryParams::Parse(target);
  if (!parsed.ok())
    return JsonError(400, "invalid_parameter", std::string(parsed.status().message()));
  const QueryParams& query = *parsed;
  if (absl::Status s = query.Only({"time", "view", "tenant"}); !s.ok()) {
    return JsonError(400, "invalid_parameter", std::string(s.message()));
  }
  const std::optional<std::string> time_text = query.Get("time");
  if (!time_text.has_value()) {
    return BadParameter("time", "required: an RFC 3339 time, e.g. 2026-11-22T10:00:00Z");
  }
  auto time_us = projections::ParseAsOfTime(*time_text);
  if (!time_us.ok())
    return JsonError(400, "invalid_parameter", std::string(time_us.status().message()));
  const std::string view = query.Get("view").value_or("payments");
  if (view != "payments" && view != "revenue") {
    return BadParameter(
        "view", absl::StrCat("unknown view \"", view, "\" (", projections::kAsOfViews, ")"));
  }
  std::string tenant = who.tenant_id;
  if (const std::optional<std::string> asked = query.Get("tenant"); asked.has_value()) {
    if (!who.tenant_id.empty() && *asked != who.tenant_id) {
      return JsonError(404, "tenant_not_found", absl::StrCat("no tenant ", *asked));
    }
    if (who.tenant_id.empty()) {
      auto created = store_.ReadStream(*asked, "tenant-" + *asked);
      if (!created.ok()) return Unavailable();
      if (created->empty()) {
        return JsonError(404, "tenant_not_found", absl::StrCat("no tenant ", *asked));
      }
    }
    tenant = *asked;
  }
  auto state = projections::FoldAsOf(database_url_, view, *time_us, tenant);
  if (!state.ok()) {
    spdlog::warn("as-of {} {} failed: {}", view, *time_text, std::string(state.status().message()));
    return Unavailable();
  }
  return Json(200, projections::AsOfJson(*state));
}

HttpResponse AuditApi::Verify(const tenants::ApiPrincipal& who, bool start) {
  std::lock_guard lock(mu_);
  const bool running = run_.id != 0 && run_.state == "running";
  if ((start && !running) || run_.id == 0) {
    if (verifier_.joinable()) verifier_.join();  // finished: its state is final
    const int64_t id = run_.id + 1;
    run_ = VerifyRun{};
    run_.id = id;
    run_.state = "running";
    run_.started_at_us = clock_.NowMicros();
    verifier_ = std::thread([this, id] { RunVerify(id); });
    spdlog::info("audit verify run {} started by {}", id, who.key_id);
  }
  return Json(run_.state == "running" ? 202 : 200, VerifyJson(who));
}

void AuditApi::RunVerify(int64_t id) {
  std::vector<int64_t> heads;
  try {
    auto conn = ledger::Connect(database_url_, ledger::Session::kService);
    if (!conn.ok()) throw std::runtime_error(std::string(conn.status().message()));
    pqxx::read_transaction txn(**conn);
    for (const auto& row :
         txn.exec("SELECT partition_id, position FROM ledger_heads ORDER BY partition_id")) {
      const int partition = row[0].as<int>();
      if (partition >= static_cast<int>(heads.size())) heads.resize(partition + 1);
      heads[partition] = row[1].as<int64_t>();
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    run_.state = "failed";
    run_.error = "database unavailable";
    run_.finished_at_us = clock_.NowMicros();
    spdlog::warn("audit verify run {} failed: {}", id, e.what());
    return;
  }
  {
    std::lock_guard lock(mu_);
    run_.heads = heads;
    run_.done.assign(heads.size(), 0);
    for (int64_t head : heads) run_.total += head;
  }
  // Cancelling (at shutdown) throws out of the progress callback; VerifyLog turns it into an
  // error status.
  auto results = ledger::VerifyLog(database_url_, [this](int partition, int64_t done) {
    if (cancel_) throw std::runtime_error("cancelled");
    std::lock_guard lock(mu_);
    if (partition >= 0 && partition < static_cast<int>(run_.done.size())) {
      run_.done[partition] = done;
    }
  });
  std::lock_guard lock(mu_);
  run_.finished_at_us = clock_.NowMicros();
  if (!results.ok()) {
    run_.state = "failed";
    run_.error = std::string(results.status().message());
    spdlog::warn("audit verify run {} failed: {}", id, run_.error);
    return;
  }
  run_.partitions = *std::move(results);
  for (const ledger::PartitionVerification& p : run_.partitions) {
    if (p.partition >= 0 && p.partition < static_cast<int>(run_.done.size())) {
      run_.done[p.partition] = p.events;
    }
  }
  run_.state = "done";
  spdlog::info("audit verify run {} done", id);
}

std::string AuditApi::VerifyJson(const tenants::ApiPrincipal& who) const {
  const int own = who.tenant_id.empty() ? -1 : store_.PartitionFor(who.tenant_id);
  int64_t verified = 0, total = 0;
  for (size_t p = 0; p < run_.done.size(); ++p) {
    if (own >= 0 && static_cast<int>(p) != own) continue;
    verified += run_.done[p];
    total += p < run_.heads.size() ? run_.heads[p] : 0;
  }
  std::string out = absl::StrCat("{\"run\":", run_.id, ",\"state\":", ledger::JsonQuote(run_.state),
                                 ",\"started_at\":", Time(run_.started_at_us),
                                 ",\"verified\":", verified, ",\"total\":", total);
  if (run_.state == "failed") absl::StrAppend(&out, ",\"error\":", ledger::JsonQuote(run_.error));
  if (run_.state != "running")
    absl::StrAppend(&out, ",\"finished_at\":", Time(run_.finished_at_us));
  if (run_.state == "done") {
    out += ",\"partitions\":[";
    bool first = true;
    for (const ledger::PartitionVerification& p : run_.partitions) {
      if (own >= 0 && p.partition != own) continue;
      const std::string head_hash =
          p.events == 0 ? ledger::HexEncode(ledger::GenesisHash()) : p.head_hex;
      absl::StrAppend(&out, first ? "" : ",", "{\"partition\":", p.partition,
                      ",\"verified\":", p.events, ",\"head_position\":", p.events,
                      ",\"head_hash\":", ledger::JsonQuote(head_hash),
                      ",\"ok\":", p.ok ? "true" : "false");
      if (!p.ok) {
        absl::StrAppend(&out, ",\"bad_position\":", p.bad_position,
                        ",\"problem\":", ledger::JsonQuote(p.problem));
      }
      out += "}";
      first = false;
    }
    out += "]";
  }
  out += "}";
  return out;
}

}  // namespace tally::http
