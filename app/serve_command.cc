// `tally serve`: refuses an unmigrated database, then serves HTTP until SIGTERM/SIGINT, when it
// stops accepting, finishes in-flight requests and exits.

#include <signal.h>

#include <iostream>

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "app/commands.h"
#include "http/server.h"
#include "ledger/database.h"
#include "ledger/migration.h"
#include "projections/projection.h"
#include "projections/runner.h"

namespace tally::app {
namespace {

http::HttpResponse HandleRequest(const http::HttpRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD") {
      return http::JsonError(405, "method_not_allowed", "use GET");
    }
    return {200, "application/json", "{\"status\":\"ok\"}"};
  }
  return http::JsonError(404, "not_found", "no route for " + path);
}

}  // namespace

int RunServe(const ServeOptions& options) {
  const size_t colon = options.listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port > 65535) {
    return Fail(2, "--listen must be HOST:PORT, got \"" + options.listen + "\"");
  }
  if (absl::Status schema = ledger::CheckSchema(options.database_url, ledger::EmbeddedMigrations());
      !schema.ok()) {
    return Fail(2, std::string(schema.message()));
  }

  bool http_role = false;
  bool projections_role = false;
  for (absl::string_view role : absl::StrSplit(options.roles, ',', absl::SkipEmpty())) {
    if (role == "http") {
      http_role = true;
    } else if (role == "projections") {
      projections_role = true;
    } else {
      return Fail(2, "unknown role \"" + std::string(role) + "\" (roles: http, projections)");
    }
  }

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::unique_ptr<projections::Projection>> all_projections;
  std::vector<std::unique_ptr<projections::ProjectionRunner>> runners;
  if (projections_role) {
    int partitions = 0;
    try {
      auto conn = ledger::Connect(options.database_url, ledger::Session::kService);
      if (!conn.ok()) return Fail(2, std::string(conn.status().message()));
      pqxx::read_transaction txn(**conn);
      partitions = txn.exec("SELECT count(*) FROM ledger_heads")[0][0].as<int>();
    } catch (const std::exception& e) {
      return Fail(2, std::string(ledger::StatusFromException(e, "reading partitions").message()));
    }
    all_projections = projections::AllProjections();
    for (const auto& projection : all_projections) {
      for (int p = 0; p < partitions; ++p) {
        projections::RunnerOptions runner_options;
        runner_options.database_url = options.database_url;
        runner_options.partition = p;
        runners.push_back(
            std::make_unique<projections::ProjectionRunner>(*projection, runner_options));
        runners.back()->Start();
      }
    }
    std::cout << "tally: " << runners.size() << " projection runners (" << all_projections.size()
              << " projections x " << partitions << " partitions)" << std::endl;
  }

  std::unique_ptr<http::Server> server;
  if (http_role) {
    http::ServerOptions server_options;
    server_options.host = options.listen.substr(0, colon);
    server_options.port = static_cast<uint16_t>(port);
    auto started = http::Server::Start(server_options, HandleRequest);
    if (!started.ok()) return Fail(2, std::string(started.status().message()));
    server = std::move(*started);
    std::cout << "tally serving on http://" << server_options.host << ":" << server->port()
              << " (GET /healthz)" << std::endl;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "tally: signal " << signal_number << ", draining" << std::endl;
  if (server) server->Stop();
  for (auto& runner : runners) runner->Stop();
  return 0;
}

}  // namespace tally::app
