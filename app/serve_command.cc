// `tally serve`: refuses an unmigrated database, then serves HTTP until SIGTERM/SIGINT, when it
// stops accepting, finishes in-flight requests and exits.

#include <signal.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "app/commands.h"
#include "http/server.h"
#include "ledger/migration.h"

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

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  http::ServerOptions server_options;
  server_options.host = options.listen.substr(0, colon);
  server_options.port = static_cast<uint16_t>(port);
  auto server = http::Server::Start(server_options, HandleRequest);
  if (!server.ok()) return Fail(2, std::string(server.status().message()));
  std::cout << "tally serving on http://" << server_options.host << ":" << (*server)->port()
            << " (GET /healthz)" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "tally: signal " << signal_number << ", draining" << std::endl;
  (*server)->Stop();
  return 0;
}

}  // namespace tally::app
