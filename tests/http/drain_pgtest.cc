// `tally serve` stopped with SIGTERM while webhooks are in flight: it stops accepting,
// finishes what it read, and every notification it acknowledged with 200 is in the log.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"
#include "tenants/tenant_directory.h"
#include "tests/support/http_client.h"
#include "tests/support/pg.h"

namespace tally::http {
namespace {

constexpr char kMasterKey[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct ServeProcess {
  pid_t pid = -1;
  int port = 0;
};

// Starts `tally serve --roles http` and waits for the line that names its port.
ServeProcess StartServe(const std::string& url) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  ServeProcess serve;
  serve.pid = fork();
  REQUIRE(serve.pid >= 0);
  if (serve.pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    setenv("TALLY_DATABASE_URL", url.c_str(), 1);
    setenv("TALLY_MASTER_KEY", kMasterKey, 1);
    const std::string binary = testing::TallyBinary();
    execl(binary.c_str(), binary.c_str(), "serve", "--listen", "127.0.0.1:0", "--roles", "http",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* stream = fdopen(out[0], "r");
  char line[512];
  while (fgets(line, sizeof line, stream) != nullptr) {
    const std::string text(line);
    const size_t at = text.find("http://127.0.0.1:");
    if (at != std::string::npos) {
      const std::string rest = text.substr(at + 17);
      REQUIRE(absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &serve.port));
      break;
    }
  }
  REQUIRE(serve.port > 0);
  // Keep reading its output (the request log), as a supervisor would.
  std::thread([stream] {
    char buffer[4096];
    while (fgets(buffer, sizeof buffer, stream) != nullptr) {
    }
    fclose(stream);
  }).detach();
  return serve;
}

TEST_CASE("SIGTERM drains: every acknowledged webhook is in the log") {
  auto db = testing::NewDatabase();
  std::string token;
  std::string tenant_id;
  {
    auto store = testing::OpenStore(db->url());
    auto box = tenants::SecretBox::FromHex(kMasterKey);
    auto tenant = tenants::CreateTenant(*store, *box, "drain", "America/Sao_Paulo");
    REQUIRE(tenant.ok());
    token = tenant->webhook_token;
    tenant_id = tenant->tenant_id;
    REQUIRE(tenants::ConfigureGateway(*store, *box, gateways::StandardGateways(), tenant_id,
                                      {"stripe", "whsec_d", "", ""})
                .ok());
  }
  ServeProcess serve = StartServe(db->url());

  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> acknowledged;
  int refused = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        const int n = next.fetch_add(1);
        const std::string pi = absl::StrCat("pi_drain_", n);
        const std::string body = absl::StrCat(
            R"({"id":"evt_drain_)", n, R"(","created":1795000000,"data":{"object":{"id":")", pi,
            R"(","amount":100,"amount_received":100,"currency":"brl"}},"type":"payment_intent.succeeded"})");
        const int64_t t = absl::ToUnixSeconds(absl::Now());
        testing::HttpReply reply = testing::HttpPost(
            serve.port, "/webhooks/stripe/" + token, body,
            {{"Content-Type", "application/json"},
             {"Stripe-Signature",
              absl::StrCat("t=", t, ",v1=",
                           gateways::HmacSha256Hex("whsec_d", absl::StrCat(t, ".", body)))}});
        std::lock_guard lock(mu);
        if (reply.status == 200) {
          acknowledged.push_back(pi);
        } else {
          ++refused;  // connection refused or closed once draining started
          if (reply.status == 0) return;
        }
      }
    });
  }
  // Let traffic build up, then stop the server in the middle of it.
  while (true) {
    {
      std::lock_guard lock(mu);
      if (acknowledged.size() >= 300) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(kill(serve.pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(serve.pid, &status, 0) == serve.pid);
  stop = true;
  for (auto& client : clients) client.join();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  auto store = testing::OpenStore(db->url());
  size_t found = 0;
  for (const auto& pi : acknowledged) {
    auto events = store->ReadStream(tenant_id, "payment-stripe-" + pi);
    REQUIRE(events.ok());
    if (events->size() == 1) ++found;
  }
  MESSAGE(acknowledged.size(), " acknowledged, ", refused, " refused or cut off after SIGTERM");
  CHECK(found == acknowledged.size());
}

}  // namespace
}  // namespace tally::http
