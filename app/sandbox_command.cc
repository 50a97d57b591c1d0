// `tally sandbox`: the simulators of sandbox/ on one loopback port until SIGTERM/SIGINT.

#include <signal.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "app/commands.h"
#include "http/client.h"
#include "ledger/event_json.h"
#include "sandbox/sandbox.h"

namespace tally::app {

int RunSandbox(const SandboxCommandOptions& options) {
  auto listen = ParseListen(options.listen);
  if (!listen.ok()) return Fail(2, std::string(listen.status().message()));
  sandbox::SandboxOptions sandbox_options;
  sandbox_options.host = listen->host;
  sandbox_options.port = listen->port;
  sandbox_options.seed = options.seed;
  sandbox_options.faults = options.faults;

  // service:api_key[:webhook_secret[:webhook_url]] — the URL may itself contain colons;
  // telegram:<bot token> takes the whole rest as the token.
  struct Account {
    std::string service, key, secret, url;
  };
  std::vector<Account> accounts;
  for (const std::string& spec : options.accounts) {
    std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 3));
    if (parts.size() >= 2 && parts[0] == "telegram") {
      parts = {"telegram", spec.substr(9)};  // a bot token has a colon of its own
    }
    if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) {
      return Fail(2, "--account must be service:api_key[:webhook_secret[:webhook_url]]");
    }
    parts.resize(4);
    accounts.push_back({parts[0], parts[1], parts[2], parts[3]});
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto started = sandbox::Sandbox::Start(sandbox_options);
  if (!started.ok()) return Fail(2, std::string(started.status().message()));
  std::unique_ptr<sandbox::Sandbox> sandbox = std::move(*started);

  // Accounts go through the sandbox's own control API, as a test or the demo would.
  http::HttpClient client;
  const std::string control = absl::StrCat("http://", sandbox_options.host, ":", sandbox->port());
  for (const Account& a : accounts) {
    auto answer = client.Send({"POST",
                               control + "/sandbox/accounts",
                               {{"Content-Type", "application/json"}},
                               absl::StrCat(R"({"service":)", ledger::JsonQuote(a.service),
                                            R"(,"api_key":)", ledger::JsonQuote(a.key),
                                            R"(,"webhook_secret":)", ledger::JsonQuote(a.secret),
                                            R"(,"webhook_url":)", ledger::JsonQuote(a.url), "}")});
    if (!answer.ok() || answer->status != 200) {
      return Fail(2, absl::StrCat("--account ", a.service, ":", a.key, ": ",
                                  answer.ok() ? answer->body : answer.status().ToString()));
    }
  }
  std::cout << "tally sandbox on " << control << std::endl;
  for (const char* service :
       {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe", "meta", "telegram"}) {
    std::cout << "  " << service << " base URL: " << sandbox->BaseUrl(service) << std::endl;
  }
  std::cout << "  control: " << control
            << "/sandbox/{accounts,faults,charges,polls,stats,meta/events,telegram/messages}"
            << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "tally sandbox: signal " << signal_number << ", stopping" << std::endl;
  sandbox->Stop();
  return 0;
}

}  // namespace tally::app
