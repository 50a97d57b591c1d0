#include "tests/sandbox/sandbox_harness.h"

#include <doctest/doctest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "http/gateway_transport.h"
#include "tests/support/sandbox_control.h"

namespace tally::sandbox {

using namespace std::chrono_literals;

const gateways::GatewayRegistry& Gateways() {
  static const gateways::GatewayRegistry registry = gateways::StandardGateways();
  return registry;
}

Receiver::Receiver() {
  http::ServerOptions options;
  options.port = 0;
  auto server =
      http::Server::Start(options, [this](const http::HttpRequest& r, http::Responder respond) {
        gateways::WebhookRequest w;
        const size_t q = r.target.find('?');
        if (q != std::string::npos) w.query_string = r.target.substr(q + 1);
        for (const auto& [name, value] : r.headers) {
          w.headers.emplace_back(absl::AsciiStrToLower(name), value);
          if (absl::AsciiStrToLower(name) == "content-type") w.content_type = value;
        }
        w.body = r.body;
        w.now_s = absl::ToUnixSeconds(absl::Now());
        {
          std::lock_guard lock(mu_);
          received_.push_back({r.target, std::move(w)});
        }
        cv_.notify_all();
        respond(http::HttpResponse{200, "application/json", "{}"});
      });
  REQUIRE(server.ok());
  server_ = std::move(*server);
}

Receiver::~Receiver() { server_->Stop(); }

std::string Receiver::Url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", server_->port(), path);
}

bool Receiver::WaitFor(size_t count, std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [&] { return received_.size() >= count; });
}

std::vector<std::pair<std::string, gateways::WebhookRequest>> Receiver::received() {
  std::lock_guard lock(mu_);
  return received_;
}

Harness::Harness() {
  auto s = Sandbox::Start(SandboxOptions{});
  REQUIRE(s.ok());
  sandbox = std::move(*s);
  transport = http::GatewayTransport(client, 3000ms);
}

http::ClientResponse Harness::Control(const std::string& path, const std::string& body) {
  return testing::SandboxPost(client, *sandbox, path, body);
}

http::ClientResponse Harness::Get(const std::string& path,
                                  std::vector<std::pair<std::string, std::string>> headers) {
  auto r = client.Send({"GET", absl::StrCat("http://127.0.0.1:", sandbox->port(), path),
                        std::move(headers), "", 3000ms});
  REQUIRE(r.ok());
  return *r;
}

gateways::ApiAccount Harness::Account(const std::string& gateway, const std::string& webhook_url) {
  const std::string key = "key-" + gateway;
  testing::SandboxAccount(client, *sandbox, gateway, key, "secret-" + gateway, webhook_url);
  return gateways::ApiAccount{sandbox->BaseUrl(gateway), key};
}

gateways::ChargeRequest Charge(const std::string& payment_id, const std::string& url) {
  gateways::ChargeRequest c;
  c.payment_id = payment_id;
  c.amount.set_amount_minor(1990);
  c.amount.set_currency("BRL");
  c.description = "Curso de confeitaria";
  c.notification_url = url;
  c.customer_name = "Maria Silva";
  c.customer_email = "maria@example.com";
  return c;
}

ParsedJson::ParsedJson(const std::string& text)
    : parser_(std::make_unique<simdjson::dom::parser>()) {
  const simdjson::error_code error = parser_->parse(text).get(root_);
  REQUIRE_MESSAGE(error == simdjson::SUCCESS, text);
}

std::string JsonText(simdjson::dom::element e) {
  std::string_view text;
  if (e.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(e);
}

}  // namespace tally::sandbox
