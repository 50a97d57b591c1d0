#pragma once
// What the sandbox's tests share: a running sandbox with a client, a loopback receiver of its
// webhooks, Tally's gateway adapters, a charge request, and reading its JSON answers. Each
// object is used by one test at a time.

#include <simdjson.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "gateways/gateway.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/server.h"
#include "sandbox/sandbox.h"

namespace tally::sandbox {

// Tally's production adapters, which the simulators are tested against.
const gateways::GatewayRegistry& Gateways();

// Receives webhooks on loopback and keeps them, as gateways::WebhookRequest.
class Receiver {
 public:
  Receiver();
  ~Receiver();
  std::string Url(const std::string& path) const;
  // Waits (bounded) until `count` webhooks have arrived.
  bool WaitFor(size_t count, std::chrono::milliseconds limit = std::chrono::milliseconds(5000));
  // (target, webhook) in order of arrival.
  std::vector<std::pair<std::string, gateways::WebhookRequest>> received();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, gateways::WebhookRequest>> received_;
  std::unique_ptr<http::Server> server_;
};

// A sandbox on a free port (default options), a client, and a 3 s transport for the adapters.
struct Harness {
  Harness();
  http::ClientResponse Control(const std::string& path, const std::string& body);
  // GET of the sandbox's `path` (control API or a simulated service).
  http::ClientResponse Get(const std::string& path,
                           std::vector<std::pair<std::string, std::string>> headers = {});
  // Registers "key-<gateway>" with secret "secret-<gateway>"; its API account.
  gateways::ApiAccount Account(const std::string& gateway, const std::string& webhook_url);
  http::HttpClient client;
  std::unique_ptr<Sandbox> sandbox;
  gateways::Transport transport;
};

// A BRL 19.90 charge for `payment_id` (the reference the gateway keeps), webhooks to `url`.
gateways::ChargeRequest Charge(const std::string& payment_id, const std::string& url);

// A JSON answer, parsed (REQUIREd valid) and kept with its parser. Element access throws
// simdjson_error on a missing field or a wrong type, which fails the test.
class ParsedJson {
 public:
  explicit ParsedJson(const std::string& text);
  simdjson::dom::element root() const { return root_; }
  simdjson::dom::element operator[](std::string_view key) const { return root_[key].value(); }

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
};

// The string, integer or number at `e` as its text ("19.9"), "null" for null.
std::string JsonText(simdjson::dom::element e);

}  // namespace tally::sandbox
