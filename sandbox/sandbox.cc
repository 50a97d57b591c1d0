#include "sandbox/sandbox.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateways/payload_fields.h"
#include "http/server.h"
#include "sandbox/atomopay.h"
#include "sandbox/charge_book.h"
#include "sandbox/control_api.h"
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
        meta_(faults_, timer_),
        telegram_(delivery_, faults_),
        control_(book_, meta_, telegram_, faults_, delivery_) {}

  absl::Status CheckFaults() const {
    for (const std::string& name : options_.faults.silent_gateways) {
      if (book_.Find(name) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("silent gateway \"", name, "\" is not a simulated gateway"));
      }
    }
    return absl::OkStatus();
  }

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
    if (service == "sandbox") return respond(control_.Handle(request, parts, query));
    if (service == "meta") return meta_.Handle(request, parts, query, respond);
    if (service == "telegram") return respond(telegram_.Handle(request, parts, query));
    const SimulatedGateway* gateway = book_.Find(service);
    if (gateway == nullptr) return respond(Json(404, R"({"message":"unknown service"})"));
    book_.Handle(*gateway, request, parts, query, respond);
  }

  const SandboxOptions options_;
  FaultInjector faults_;
  TaskTimer timer_{4};
  WebhookDelivery delivery_;
  ChargeBook book_;
  Meta meta_;
  Telegram telegram_;
  ControlApi control_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(SandboxOptions options) {
  auto sandbox = std::make_unique<SandboxImpl>(options);
  if (absl::Status s = sandbox->CheckFaults(); !s.ok()) return s;
  if (absl::Status s = sandbox->Listen(); !s.ok()) return s;
  return sandbox;
}

}  // namespace tally::sandbox
