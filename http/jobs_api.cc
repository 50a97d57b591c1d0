#include "http/jobs_api.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateways/payload_fields.h"
#include "http/query_params.h"
#include "http/request_metadata.h"
#include "ledger/event_json.h"
#include "reactors/job_status.h"

namespace tally::http {
namespace {

constexpr char kPrefix[] = "/v1/admin/jobs";
constexpr size_t kMaxReasonBytes = 500;

std::string Time(int64_t us) {
  if (us <= 0) return "null";
  return ledger::JsonQuote(
      absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", absl::FromUnixMicros(us), absl::UTCTimeZone()));
}

std::string JobJson(const reactors::JobStatus& job) {
  const reactors::JobState& state = job.state;
  std::string out = absl::StrCat("{\"name\":", ledger::JsonQuote(job.spec.name),
                                 ",\"type\":", ledger::JsonQuote(job.spec.type), ",\"state\":\"",
                                 state.paused ? "paused" : "running", "\"");
  if (state.changed_at_us > 0) {
    absl::StrAppend(&out, ",\"state_changed_at\":", Time(state.changed_at_us),
                    ",\"state_changed_by\":", ledger::JsonQuote(state.changed_by),
                    ",\"reason\":", ledger::JsonQuote(state.reason));
  }
  if (state.triggered_at_us > 0) {
    absl::StrAppend(&out, ",\"last_triggered_at\":", Time(state.triggered_at_us),
                    ",\"last_triggered_by\":", ledger::JsonQuote(state.triggered_by));
  }
  absl::StrAppend(&out, ",\"lag\":", job.lag, ",\"backlog\":", job.backlog,
                  ",\"in_flight\":", job.in_flight, ",\"parked\":", job.parked,
                  ",\"next_due_at\":", Time(job.next_due_at_us), ",\"partitions\":[");
  for (size_t i = 0; i < job.partitions.size(); ++i) {
    const reactors::JobPartitionStatus& p = job.partitions[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"partition\":", p.partition,
                    ",\"checkpoint\":", p.checkpoint, ",\"head\":", p.head, ",\"lag\":", p.lag,
                    ",\"backlog\":", p.backlog, ",\"in_flight\":", p.in_flight,
                    ",\"parked\":", p.parked, ",\"next_due_at\":", Time(p.next_due_at_us),
                    ",\"leader\":");
    if (p.leader_pid == 0) {
      out += "null";
    } else {
      absl::StrAppend(&out, "{\"pid\":", p.leader_pid,
                      ",\"application_name\":", ledger::JsonQuote(p.leader_application_name), "}");
    }
    if (!p.error.empty()) absl::StrAppend(&out, ",\"error\":", ledger::JsonQuote(p.error));
    out += "}";
  }
  out += "]}";
  return out;
}

}  // namespace

JobsApi::JobsApi(ledger::EventStore& store, const ledger::Clock& clock, std::string database_url,
                 std::vector<reactors::JobSpec> jobs, int partitions)
    : store_(store),
      clock_(clock),
      database_url_(std::move(database_url)),
      jobs_(std::move(jobs)),
      partitions_(partitions),
      auth_(store, clock),
      states_(store, reactors::JobControlOptions{database_url_}) {}

void JobsApi::Handle(const HttpRequest& request, const std::string& path, Responder respond) {
  const std::string request_id = NewRequestId();
  ApiKeyAuthenticator::Result auth = auth_.Authenticate(request, {tenants::kAdminScope});
  if (!auth.principal.has_value()) return respond(auth.refusal);
  std::vector<std::string> parts =
      absl::StrSplit(path.substr(sizeof(kPrefix) - 1), '/', absl::SkipEmpty());
  if (parts.empty()) {
    if (request.method != "GET") return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(Render(nullptr, ""));
  }
  std::optional<std::string> name = PercentDecode(parts[0], /*plus_is_space=*/false);
  if (!name.has_value() || parts.size() > 2) {
    return respond(JsonError(404, "not_found", "no route for " + path));
  }
  const reactors::JobSpec* job = nullptr;
  for (const reactors::JobSpec& spec : jobs_) {
    if (spec.name == *name) job = &spec;
  }
  if (job == nullptr) {
    return respond(
        JsonError(404, "job_not_found",
                  absl::StrCat("no job named ", *name, " (GET ", kPrefix, " lists them)")));
  }
  if (parts.size() == 1) {
    if (request.method != "GET") return respond(JsonError(405, "method_not_allowed", "use GET"));
    return respond(Render(job, ""));
  }
  const std::string& command = parts[1];
  if (command != "pause" && command != "resume" && command != "trigger") {
    return respond(JsonError(404, "not_found", "no route for " + path));
  }
  if (request.method != "POST") return respond(JsonError(405, "method_not_allowed", "use POST"));
  ledger::v1::Metadata metadata = RequestMetadata(request, request_id, ledger::v1::SOURCE_ADMIN,
                                                  auth.principal->key_id, clock_.NowMicros());
  std::string reason;
  if (!request.body.empty()) {
    auto fields = gateways::PayloadFields::ParseJson(request.body);
    if (!fields.ok()) {
      return respond(JsonError(400, "invalid_json", std::string(fields.status().message())));
    }
    reason = fields->Text("reason");
    if (reason.size() > kMaxReasonBytes) {
      return respond(JsonError(400, "invalid_request",
                               absl::StrCat("reason: at most ", kMaxReasonBytes, " bytes")));
    }
  }
  const reactors::JobCommand which = command == "pause"    ? reactors::JobCommand::kPause
                                     : command == "resume" ? reactors::JobCommand::kResume
                                                           : reactors::JobCommand::kTrigger;
  auto changed = reactors::RecordJobCommand(store_, job->name, which, reason, metadata);
  if (!changed.ok()) {
    spdlog::warn("job {} {} not recorded request_id={}: {}", job->name, command, request_id,
                 std::string(changed.status().message()));
    return respond(JsonError(503, "database_unavailable", "try again"));
  }
  spdlog::info("job {} {} by {} request_id={}{}", job->name, command, auth.principal->key_id,
               request_id, *changed ? "" : " (no change)");
  respond(Render(job, *changed ? "true" : "false"));
}

HttpResponse JobsApi::Render(const reactors::JobSpec* job, const std::string& changed) {
  if (absl::Status read = states_.Refresh(); !read.ok()) {
    return JsonError(503, "database_unavailable", "try again");
  }
  std::vector<reactors::JobSpec> specs;
  if (job == nullptr) {
    specs = jobs_;
  } else {
    specs.push_back(*job);
  }
  auto status = reactors::ReadJobStatus(database_url_, specs, states_.states(), partitions_);
  if (!status.ok()) return JsonError(503, "database_unavailable", "try again");
  if (job != nullptr) {
    const std::string body = JobJson(status->front());
    if (changed.empty()) return {200, "application/json", body};
    return {200, "application/json",
            absl::StrCat("{\"changed\":", changed, ",\"job\":", body, "}")};
  }
  std::string body = "{\"jobs\":[";
  for (size_t i = 0; i < status->size(); ++i) {
    absl::StrAppend(&body, i == 0 ? "" : ",", JobJson((*status)[i]));
  }
  body += "]}";
  return {200, "application/json", body};
}

}  // namespace tally::http
