#include "http/projections_api.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ledger/event_json.h"
#include "projections/catalog.h"

namespace tally::http {
namespace {

constexpr char kPrefix[] = "/v1/admin/projections";

std::string Time(int64_t us) {
  return us <= 0 ? "null" : ledger::JsonQuote(ledger::FormatMicros(us));
}

std::string Seconds(double s) { return absl::StrFormat("%.3f", s); }

std::string StatusJson(const projections::ProjectionStatus& p) {
  std::string out = absl::StrCat(
      "{\"name\":", ledger::JsonQuote(p.name), ",\"binary_version\":", p.binary_version,
      ",\"live_version\":", p.live_version, ",\"state\":", ledger::JsonQuote(p.state),
      ",\"rebuilding\":", ledger::JsonQuote(p.rebuilding), ",\"partitions\":[");
  for (size_t i = 0; i < p.partitions.size(); ++i) {
    const projections::PartitionStatus& part = p.partitions[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"partition\":", part.partition,
                    ",\"checkpoint\":", part.checkpoint, ",\"head\":", part.head,
                    ",\"lag\":", part.head - part.checkpoint,
                    ",\"lag_seconds\":", Seconds(part.lag_seconds));
    if (!part.error.empty()) {
      absl::StrAppend(&out, ",\"error\":", ledger::JsonQuote(part.error),
                      ",\"error_position\":", part.error_position);
    }
    out += "}";
  }
  out += "]}";
  return out;
}

HttpResponse Json(int status, std::string body) {
  return {status, "application/json", std::move(body)};
}

}  // namespace

ProjectionsApi::ProjectionsApi(ledger::EventStore& store, const ledger::Clock& clock,
                               std::string database_url)
    : clock_(clock),
      database_url_(std::move(database_url)),
      projections_(projections::AllProjections()),
      auth_(store, clock) {}

ProjectionsApi::~ProjectionsApi() {
  if (rebuilder_.joinable()) rebuilder_.join();
}

void ProjectionsApi::Handle(const HttpRequest& request, const std::string& path,
                            Responder respond) {
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(request, {tenants::kAdminScope});
  if (!auth.principal.has_value()) return respond(auth.refusal);
  std::vector<std::string> parts =
      absl::StrSplit(path.substr(sizeof(kPrefix) - 1), '/', absl::SkipEmpty());
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (parts.empty()) {
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(Status(nullptr));
  }
  const projections::Projection* projection = nullptr;
  std::string names;
  for (const auto& p : projections_) {
    if (p->name() == parts[0]) projection = p.get();
    absl::StrAppend(&names, names.empty() ? "" : ", ", p->name());
  }
  if (projection == nullptr || parts.size() > 2) {
    return respond(JsonError(404, "projection_not_found",
                             absl::StrCat("no projection ", parts[0], " (", names, ")")));
  }
  if (parts.size() == 1) {
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(Status(projection));
  }
  if (parts[1] == "rebuild") {
    if (request.method == "POST") {
      return respond(StartRebuild(*projection, auth.principal->key_id));
    }
    if (!get) return respond(JsonError(405, "method_not_allowed", "use GET or POST"));
    return respond(RebuildState(*projection));
  }
  if (parts[1] == "verify") {
    if (request.method != "POST") return respond(JsonError(405, "method_not_allowed", "use POST"));
    spdlog::info("projection {} verify by {}", projection->name(), auth.principal->key_id);
    return respond(Verify(*projection));
  }
  respond(JsonError(404, "not_found", "no route for " + path));
}

HttpResponse ProjectionsApi::Status(const projections::Projection* only) {
  auto status = projections::ReadStatus(database_url_, projections_);
  if (!status.ok()) return JsonError(503, "database_unavailable", "try again");
  if (only != nullptr) {
    for (const auto& p : *status) {
      if (p.name == only->name()) return Json(200, StatusJson(p));
    }
    return JsonError(503, "database_unavailable", "try again");
  }
  std::string body = "{\"projections\":[";
  for (size_t i = 0; i < status->size(); ++i) {
    absl::StrAppend(&body, i == 0 ? "" : ",", StatusJson((*status)[i]));
  }
  body += "]}";
  return Json(200, std::move(body));
}

HttpResponse ProjectionsApi::StartRebuild(const projections::Projection& projection,
                                          const std::string& actor) {
  std::lock_guard lock(mu_);
  if (run_.id != 0 && run_.state == "running") {
    return {409, "application/json",
            absl::StrCat(
                "{\"error\":{\"code\":\"rebuild_running\",\"message\":",
                ledger::JsonQuote(absl::StrCat("a rebuild of ", run_.projection, " is running")),
                "},\"run\":", RunJson(), "}")};
  }
  if (rebuilder_.joinable()) rebuilder_.join();  // finished: its state is final
  const int64_t id = run_.id + 1;
  run_ = RebuildRun{};
  run_.id = id;
  run_.projection = projection.name();
  run_.state = "running";
  run_.started_at_us = clock_.NowMicros();
  spdlog::info("projection {} rebuild run {} started by {}", projection.name(), id, actor);
  rebuilder_ = std::thread([this, &projection, id] {
    projections::RebuildOptions options;
    options.database_url = database_url_;
    options.progress = [this](const projections::RebuildProgress& p) {
      std::lock_guard lock(mu_);
      run_.progress = p;
    };
    auto report = projections::RebuildProjection(projection, options);
    std::lock_guard lock(mu_);
    run_.finished_at_us = clock_.NowMicros();
    if (report.ok()) {
      run_.state = "done";
      run_.report = *std::move(report);
      spdlog::info("projection {} rebuild run {} done", projection.name(), id);
    } else {
      run_.state = "failed";
      run_.error = std::string(report.status().message());
      spdlog::warn("projection {} rebuild run {} failed: {}", projection.name(), id, run_.error);
    }
  });
  return Json(202, RunJson());
}

HttpResponse ProjectionsApi::RebuildState(const projections::Projection& projection) {
  std::lock_guard lock(mu_);
  if (run_.id == 0 || run_.projection != projection.name()) {
    return JsonError(
        404, "no_rebuild",
        absl::StrCat("no rebuild of ", projection.name(), " in this process (POST to start one)"));
  }
  return Json(200, RunJson());
}

std::string ProjectionsApi::RunJson() const {
  const projections::RebuildProgress& p = run_.progress;
  std::string out = absl::StrCat(
      "{\"run\":", run_.id, ",\"projection\":", ledger::JsonQuote(run_.projection),
      ",\"state\":", ledger::JsonQuote(run_.state), ",\"started_at\":", Time(run_.started_at_us),
      ",\"phase\":", ledger::JsonQuote(p.phase), ",\"events_done\":", p.events_done,
      ",\"events_total\":", p.events_total);
  if (run_.state == "running") {
    const double rate = p.seconds > 0 ? p.events_done / p.seconds : 0;
    const double eta =
        rate > 0 && p.events_total > p.events_done ? (p.events_total - p.events_done) / rate : 0;
    absl::StrAppend(&out, ",\"events_per_second\":", Seconds(rate),
                    ",\"eta_seconds\":", Seconds(eta));
  } else {
    absl::StrAppend(&out, ",\"finished_at\":", Time(run_.finished_at_us));
  }
  if (run_.state == "done") {
    const projections::RebuildReport& r = run_.report;
    absl::StrAppend(&out, ",\"report\":{\"suffix\":", ledger::JsonQuote(r.suffix),
                    ",\"events\":", r.events, ",\"catch_up_events\":", r.catch_up_events,
                    ",\"read_fold_seconds\":", Seconds(r.read_fold_seconds),
                    ",\"copy_seconds\":", Seconds(r.copy_seconds),
                    ",\"total_seconds\":", Seconds(r.total_seconds), "}");
  }
  if (run_.state == "failed") absl::StrAppend(&out, ",\"error\":", ledger::JsonQuote(run_.error));
  out += "}";
  return out;
}

HttpResponse ProjectionsApi::Verify(const projections::Projection& projection) {
  auto report = projections::VerifyProjection(projection, database_url_);
  if (!report.ok()) {
    spdlog::warn("projection {} verify failed: {}", projection.name(),
                 std::string(report.status().message()));
    return JsonError(503, "database_unavailable", "try again");
  }
  std::string out =
      absl::StrCat("{\"projection\":", ledger::JsonQuote(projection.name()),
                   ",\"equal\":", report->equal ? "true" : "false", ",\"checkpoints\":[");
  for (size_t i = 0; i < report->checkpoints.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", report->checkpoints[i]);
  }
  out += "],\"tables\":[";
  for (size_t i = 0; i < report->tables.size(); ++i) {
    const projections::TableComparison& t = report->tables[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"table\":", ledger::JsonQuote(t.table),
                    ",\"equal\":", t.equal ? "true" : "false", ",\"live_rows\":", t.live_rows,
                    ",\"rebuilt_rows\":", t.rebuilt_rows, ",\"differing_keys\":[");
    for (size_t k = 0; k < t.differing_keys.size(); ++k) {
      absl::StrAppend(&out, k == 0 ? "" : ",", ledger::JsonQuote(t.differing_keys[k]));
    }
    out += "]}";
  }
  out += "]}";
  return Json(200, std::move(out));
}

}  // namespace tally::http
