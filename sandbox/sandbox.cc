#include "sandbox/sandbox.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateways/payload_fields.h"
#include "http/server.h"
#include "sandbox/atomopay.h"
#include "sandbox/charge_book.h"
#include "sandbox/fault_injector.h"
#include "sandbox/mercadopago.h"
#include "sandbox/meta.h"
#include "sandbox/paradise.h"
#include "sandbox/pushinpay.h"
#include "sandbox/shapes.h"
#include "sandbox/simulated_gateway.h"
#include "sandbox/stripe.h"
#include "sandbox/task_timer.h"
#include "sandbox/telegram.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {
namespace {

using http::HttpRequest;
using http::HttpResponse;

// The simulated gateways, each under its name as path prefix. A new one is a line here.
std::vector<std::unique_ptr<SimulatedGateway>> SimulatedGateways() {
  std::vector<std::unique_ptr<SimulatedGateway>> gateways;
  gateways.push_back(NewPushinPay());
  gateways.push_back(NewParadise());
  gateways.push_back(NewAtomopay());
  gateways.push_back(NewMercadoPago());
  gateways.push_back(NewStripe());
  return gateways;
}

class SandboxImpl final : public Sandbox {
 public:
  explicit SandboxImpl(SandboxOptions options)
      : options_(options),
        faults_(options.faults, options.seed),
        delivery_(faults_, timer_, options.delivery_attempts, options.retry_base_ms),
        book_(SimulatedGateways(), faults_, delivery_, timer_),
        meta_(faults_),
        telegram_(delivery_) {}

  absl::Status Listen() {
    http::ServerOptions server_options;
    server_options.host = options_.host;
    server_options.port = options_.port;
    auto server = http::Server::Start(
        server_options,
        [this](const HttpRequest& request, http::Responder respond) { Handle(request, respond); });
    if (!server.ok()) return server.status();
    server_ = std::move(*server);
    return absl::OkStatus();
  }

  uint16_t port() const override { return server_->port(); }
  std::string BaseUrl(const std::string& service) const override {
    return absl::StrCat("http://", options_.host, ":", port(), "/", service);
  }
  SandboxStats stats() const override { return delivery_.stats(); }
  void Wait() override { server_->Wait(); }
  void Stop() override { server_->Stop(); }
  ~SandboxImpl() override {
    // The server waits for late answers the timer still holds; then the timer goes (with the
    // deliveries not yet due) before the server it would answer through.
    if (server_) server_->Stop();
    timer_.Shutdown();
  }

 private:
  // Routes a request to the service its first path segment names.
  void Handle(const HttpRequest& request, const http::Responder& respond) {
    const size_t q = request.target.find('?');
    const std::string path = request.target.substr(0, q);
    const Query query = gateways::ParseQueryString(
        q == std::string::npos ? "" : absl::string_view(request.target).substr(q + 1));
    std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
    if (parts.empty()) return respond(Json(200, R"({"service":"tally sandbox"})"));
    const std::string service = parts[0];
    parts.erase(parts.begin());
    if (service == "sandbox") return respond(Control(request, parts));
    if (service == "meta") return respond(meta_.Handle(request, parts, query));
    if (service == "telegram") return respond(telegram_.Handle(request, parts, query));
    const SimulatedGateway* gateway = book_.Find(service);
    if (gateway == nullptr) return respond(Json(404, R"({"message":"unknown service"})"));
    book_.Handle(*gateway, request, parts, query, respond);
  }

  HttpResponse Control(const HttpRequest& request, const std::vector<std::string>& parts) {
    const std::string joined = absl::StrJoin(parts, "/");
    if (request.method == "GET" && joined == "stats") return Json(200, StatsJson());
    if (request.method == "GET" && joined == "charges") return Json(200, book_.ChargesJson());
    if (request.method == "GET" && joined == "meta/events") {
      return Json(200, meta_.RequestsJson());
    }
    if (request.method == "GET" && joined == "telegram/messages") {
      return Json(200, telegram_.MessagesJson());
    }
    if (request.method != "POST") return Json(404, R"({"message":"unknown control call"})");
    auto fields = gateways::PayloadFields::ParseJson(request.body.empty() ? "{}" : request.body);
    if (!fields.ok()) return Json(400, R"({"message":"body must be a JSON object"})");
    if (joined == "accounts") {
      const std::string service = fields->Text("service");
      const std::string key = fields->Text("api_key");
      if (!(book_.Find(service) || service == "meta" || service == "telegram") || key.empty()) {
        return Json(400,
                    R"({"message":"service (a gateway, meta or telegram) and api_key required"})");
      }
      if (service == "meta") {
        meta_.AddAccessToken(key);
      } else if (service == "telegram") {
        telegram_.AddBot(key);
      } else {
        book_.AddAccount(service, key, fields->Text("webhook_secret"), fields->Text("webhook_url"));
      }
      return Json(200, R"({"ok":true})");
    }
    if (joined == "faults") return SetFaults(*fields);
    if (joined == "telegram/updates") return telegram_.SendUpdate(*fields);
    if (parts.size() == 4 && parts[0] == "charges") {
      return book_.Act(parts[1], gateways::UrlDecode(parts[2]), parts[3]);
    }
    return Json(404, R"({"message":"unknown control call"})");
  }

  HttpResponse SetFaults(const gateways::PayloadFields& f) {
    auto rate = [&](const char* name, double& out) {
      double v = 0;
      if (absl::SimpleAtod(f.Text(name), &v)) out = std::clamp(v, 0.0, 1.0);
    };
    auto ms = [&](const char* name, int& out) {
      int v = 0;
      if (absl::SimpleAtoi(f.Text(name), &v)) out = std::clamp(v, 0, 600000);
    };
    faults_.Update([&](Faults& faults) {
      rate("drop_rate", faults.drop_rate);
      rate("duplicate_rate", faults.duplicate_rate);
      rate("reorder_rate", faults.reorder_rate);
      rate("poll_error_rate", faults.poll_error_rate);
      rate("poll_timeout_rate", faults.poll_timeout_rate);
      rate("meta_error_rate", faults.meta_error_rate);
      ms("delay_min_ms", faults.delay_min_ms);
      ms("delay_max_ms", faults.delay_max_ms);
      ms("reorder_hold_ms", faults.reorder_hold_ms);
      ms("poll_timeout_ms", faults.poll_timeout_ms);
      if (faults.delay_max_ms < faults.delay_min_ms) faults.delay_max_ms = faults.delay_min_ms;
    });
    return Json(200, R"({"ok":true})");
  }

  std::string StatsJson() const {
    const SandboxStats s = stats();
    return absl::StrCat(R"({"webhooks_sent":)", s.webhooks_sent, R"(,"webhooks_failed_attempts":)",
                        s.webhooks_failed_attempts, R"(,"webhooks_dropped":)", s.webhooks_dropped,
                        R"(,"webhooks_duplicated":)", s.webhooks_duplicated,
                        R"(,"webhooks_given_up":)", s.webhooks_given_up, R"(,"pending":)",
                        s.pending, "}");
  }

  const SandboxOptions options_;
  FaultInjector faults_;
  TaskTimer timer_{4};
  WebhookDelivery delivery_;
  ChargeBook book_;
  Meta meta_;
  Telegram telegram_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(SandboxOptions options) {
  auto sandbox = std::make_unique<SandboxImpl>(options);
  if (absl::Status s = sandbox->Listen(); !s.ok()) return s;
  return sandbox;
}

}  // namespace tally::sandbox
