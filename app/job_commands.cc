// tally jobs list|show|pause|resume|trigger, tally admin keys create.

#include "app/job_commands.h"

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "gateways/payload_fields.h"
#include "http/client.h"
#include "ledger/event_json.h"
#include "ledger/event_store.h"
#include "tenants/tenant_directory.h"

namespace tally::app {
namespace {

struct JobsCli {
  std::string url = "http://127.0.0.1:8080";
  std::string key;
  std::string name;
  std::string reason;
  bool json = false;
  std::string database_url;
  std::string scope = tenants::kAdminScope;
};

// Calls `method path` (with `body`): 0 with the 200 answer's body in `answer`, or the exit code
// of a failure, said on stderr.
int CallApi(const JobsCli& cli, const std::string& method, const std::string& path,
            const std::string& body, std::string& answer) {
  if (!absl::StartsWith(cli.url, "http://") && !absl::StartsWith(cli.url, "https://")) {
    return Fail(2,
                absl::StrCat("--url must start with http:// or https://, got \"", cli.url, "\""));
  }
  if (cli.key.empty()) return Fail(2, "no API key: pass --key or set TALLY_API_KEY (an admin key)");
  std::string base = cli.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer " + cli.key}};
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  http::HttpClient client;
  auto response = client.Send({method, base + path, std::move(headers), body,
                               std::chrono::milliseconds(30000), absl::StrCat(method, " ", path)});
  if (!response.ok()) return Fail(2, std::string(response.status().message()));
  if (response->status != 200) {
    auto fields = gateways::PayloadFields::ParseJson(response->body);
    const std::string message =
        fields.ok() && !fields->Text("error.message").empty()
            ? absl::StrCat(fields->Text("error.code"), ": ", fields->Text("error.message"))
            : response->body.substr(0, 200);
    return Fail(2, absl::StrCat("HTTP ", response->status, " from ", path, ": ", message));
  }
  answer = std::move(response->body);
  return 0;
}

std::string JobPath(const std::string& name) {
  return absl::StrCat("/v1/admin/jobs/", gateways::PercentEncode(name));
}

// "delivery  reactor  running  lag 0  backlog 0 ..." for the job at `at` ("jobs.3" or "").
std::string JobLine(const gateways::PayloadFields& f, const std::string& at) {
  auto field = [&](const std::string& name) {
    return f.Text(at.empty() ? name : absl::StrCat(at, ".", name));
  };
  const std::string prefix = at.empty() ? "partitions" : absl::StrCat(at, ".partitions");
  const int64_t partitions = f.ArraySize(prefix);
  int64_t led = 0;
  std::string leader;
  for (int64_t p = 0; p < partitions; ++p) {
    const std::string name = f.Text(absl::StrCat(prefix, ".", p, ".leader.application_name"));
    const std::string pid = f.Text(absl::StrCat(prefix, ".", p, ".leader.pid"));
    if (pid.empty()) continue;
    ++led;
    leader = name.empty() ? absl::StrCat("backend pid ", pid) : name;
  }
  if (partitions > 1) leader = absl::StrCat("led on ", led, " of ", partitions, " partitions");
  if (led == 0) leader = "no leader";
  const std::string next_due = field("next_due_at");
  return absl::StrFormat("%-26s %-8s %-8s lag %-6s backlog %-6s parked %-4s next due %-27s %s",
                         field("name"), field("type"), field("state"), field("lag"),
                         field("backlog"), field("parked"), next_due.empty() ? "-" : next_due,
                         leader);
}

int RunJobs(const JobsCli& cli, const std::string& command) {
  std::string answer;
  if (command == "list") {
    if (int rc = CallApi(cli, "GET", "/v1/admin/jobs", "", answer)) return rc;
    if (cli.json) {
      std::cout << answer << "\n";
      return 0;
    }
    auto fields = gateways::PayloadFields::ParseJson(answer);
    if (!fields.ok()) return Fail(2, "the API's answer does not parse");
    for (int64_t i = 0; i < fields->ArraySize("jobs"); ++i) {
      std::cout << JobLine(*fields, absl::StrCat("jobs.", i)) << "\n";
    }
    return 0;
  }
  if (command == "show") {
    if (int rc = CallApi(cli, "GET", JobPath(cli.name), "", answer)) return rc;
    std::cout << answer << "\n";
    return 0;
  }
  const std::string body =
      cli.reason.empty() ? "" : absl::StrCat("{\"reason\":", ledger::JsonQuote(cli.reason), "}");
  if (int rc = CallApi(cli, "POST", absl::StrCat(JobPath(cli.name), "/", command), body, answer)) {
    return rc;
  }
  auto fields = gateways::PayloadFields::ParseJson(answer);
  if (!fields.ok()) return Fail(2, "the API's answer does not parse");
  const bool changed = fields->Text("changed") == "true";
  const std::string state = fields->Text("job.state");
  if (command == "trigger") {
    std::cout << "job " << cli.name << " triggered (" << state << ")\n";
  } else {
    std::cout << "job " << cli.name << (changed ? " now " : " was already ") << state << "\n";
  }
  return 0;
}

int RunAdminKeysCreate(const JobsCli& cli) {
  if (cli.database_url.empty()) {
    return Fail(2, "no database: pass --database or set TALLY_DATABASE_URL");
  }
  ledger::EventStoreOptions options;
  options.database_url = cli.database_url;
  auto store = ledger::EventStore::Open(std::move(options));
  if (!store.ok()) return Fail(2, std::string(store.status().message()));
  auto key = tenants::IssueSystemApiKey(**store, cli.scope);
  if (!key.ok()) return Fail(2, std::string(key.status().message()));
  std::cout << "api key " << key->api_key << "\nkey id " << key->key_id << " (scope " << cli.scope
            << ")\n(stored only as a hash: keep it now)\n";
  return 0;
}

}  // namespace

ChosenCommand AddJobCommands(CLI::App& app) {
  auto cli = std::make_shared<JobsCli>();
  auto* jobs = app.add_subcommand(
      "jobs",
      "The background jobs of `tally serve` (every reactor, outbox sender, timer kind and "
      "poller), through a running server's admin API (/v1/admin/jobs) with an admin key "
      "(`tally admin keys create`).");
  jobs->require_subcommand(1);
  auto add_connection = [cli](CLI::App* command) {
    command->add_option("--url", cli->url, "The server's base URL")
        ->envname("TALLY_URL")
        ->capture_default_str();
    command->add_option("--key", cli->key, "An admin API key (prefer the environment variable)")
        ->envname("TALLY_API_KEY");
  };
  auto* list = jobs->add_subcommand(
      "list",
      "One line per job: name, type, running or paused, lag (events its fold has not read), "
      "backlog, parked, next due, leader process.");
  add_connection(list);
  list->add_flag("--json", cli->json, "Print the API's JSON instead");
  auto* show = jobs->add_subcommand("show", "Print one job's status as JSON (per partition).");
  add_connection(show);
  show->add_option("name", cli->name, "Job name (from `tally jobs list`)")->required();
  std::vector<CLI::App*> commands = {list, show};
  for (const char* command : {"pause", "resume", "trigger"}) {
    const std::string what =
        std::string(command) == "pause"
            ? "Pause a job: it takes no new work (a reactor keeps its checkpoint) until resumed; "
              "recorded as an event, so it survives restarts."
        : std::string(command) == "resume"
            ? "Resume a paused job: what accumulated is done, in order. Recorded as an event."
            : "Run a job now: the reconciliation poller polls every pending payment (within the "
              "gateways' limits); senders, the timer worker and the charge reconciler read "
              "their work now. Recorded as an event.";
    auto* sub = jobs->add_subcommand(command, what);
    add_connection(sub);
    sub->add_option("name", cli->name, "Job name (from `tally jobs list`)")->required();
    sub->add_option("--reason", cli->reason, "Recorded with the event (at most 500 bytes)");
    commands.push_back(sub);
  }

  auto* admin = app.add_subcommand("admin", "Operator commands.");
  admin->require_subcommand(1);
  auto* keys = admin->add_subcommand("keys", "System API keys, which belong to no tenant.");
  keys->require_subcommand(1);
  auto* create = keys->add_subcommand(
      "create",
      "Issue an admin API key (for /v1/admin/... and `tally jobs`), or with --scope auditor a "
      "read-only key for every tenant's audit API (/v1/audit/...); printed once, stored only as "
      "its SHA-256. Owner keys are refused on admin and audit routes (403).");
  create
      ->add_option("--database", cli->database_url,
                   "PostgreSQL connection URL or conninfo string (env TALLY_DATABASE_URL)")
      ->envname("TALLY_DATABASE_URL");
  create->add_option("--scope", cli->scope, "The key's scope: admin or auditor")
      ->capture_default_str();

  return [cli, commands, create]() -> std::optional<int> {
    if (*create) return RunAdminKeysCreate(*cli);
    for (CLI::App* command : commands) {
      if (*command) return RunJobs(*cli, command->get_name());
    }
    return std::nullopt;
  };
}

}  // namespace tally::app
