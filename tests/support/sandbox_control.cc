#include "tests/support/sandbox_control.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ledger/event_json.h"

namespace tally::testing {

http::ClientResponse SandboxPost(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                                 const std::string& path, const std::string& body) {
  auto r = client.Send({"POST",
                        absl::StrCat("http://127.0.0.1:", sandbox.port(), path),
                        {{"Content-Type", "application/json"}},
                        body,
                        std::chrono::milliseconds(3000)});
  REQUIRE(r.ok());
  return *r;
}

http::ClientResponse SandboxGet(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                                const std::string& path) {
  auto r = client.Send({"GET",
                        absl::StrCat("http://127.0.0.1:", sandbox.port(), path),
                        {},
                        "",
                        std::chrono::milliseconds(3000)});
  REQUIRE(r.ok());
  return *r;
}

void SandboxAccount(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                    const std::string& service, const std::string& api_key,
                    const std::string& webhook_secret, const std::string& webhook_url) {
  auto r = SandboxPost(client, sandbox, "/sandbox/accounts",
                       absl::StrCat(R"({"service":)", ledger::JsonQuote(service), R"(,"api_key":)",
                                    ledger::JsonQuote(api_key), R"(,"webhook_secret":)",
                                    ledger::JsonQuote(webhook_secret), R"(,"webhook_url":)",
                                    ledger::JsonQuote(webhook_url), "}"));
  REQUIRE(r.status == 200);
}

void SandboxDrain(const sandbox::Sandbox& sandbox) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sandbox.stats().pending > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(sandbox.stats().pending == 0);
}

}  // namespace tally::testing
