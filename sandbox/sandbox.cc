#include "sandbox/sandbox.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gateways/payload_fields.h"
#include "http/server.h"
#include "ledger/event_json.h"
#include "sandbox/fault_injector.h"
#include "sandbox/meta.h"
#include "sandbox/shapes.h"
#include "sandbox/task_timer.h"
#include "sandbox/telegram.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {
namespace {

using http::HttpRequest;
using http::HttpResponse;
using ledger::JsonQuote;

constexpr const char* kGateways[] = {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"};

bool IsGateway(const std::string& service) {
  for (const char* g : kGateways) {
    if (service == g) return true;
  }
  return false;
}

std::string Header(const HttpRequest& request, absl::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::string Bearer(const HttpRequest& request) {
  const std::string value = Header(request, "authorization");
  if (absl::StartsWithIgnoreCase(value, "Bearer ")) return value.substr(7);
  return "";
}

// Each service's way of saying "who are you?".
HttpResponse Unauthorized(const std::string& service) {
  if (service == "stripe") {
    return Json(
        401, R"({"error":{"message":"Invalid API Key provided","type":"invalid_request_error"}})");
  }
  if (service == "mercadopago") {
    return Json(
        401,
        R"({"message":"invalid access token","error":"unauthorized","status":401,"cause":[]})");
  }
  if (service == "paradise") return Json(401, R"({"status":"error","message":"Invalid API key"})");
  return Json(401, R"({"message":"Unauthenticated."})");
}

HttpResponse NotFound(const std::string& service, const std::string& what) {
  if (service == "stripe") {
    return Json(404, absl::StrCat(R"({"error":{"code":"resource_missing","message":)",
                                  JsonQuote("No such payment_intent: '" + what + "'"),
                                  R"(,"type":"invalid_request_error"}})"));
  }
  return Json(404, absl::StrCat(R"({"message":)", JsonQuote("not found: " + what), "}"));
}

HttpResponse BadRequest(const std::string& service, const std::string& message) {
  if (service == "stripe") {
    return Json(400, absl::StrCat(R"({"error":{"message":)", JsonQuote(message),
                                  R"(,"type":"invalid_request_error"}})"));
  }
  return Json(400, absl::StrCat(R"({"message":)", JsonQuote(message), "}"));
}

struct Account {
  std::string webhook_secret;
  std::string webhook_url;
};

class SandboxImpl final : public Sandbox {
 public:
  explicit SandboxImpl(SandboxOptions options)
      : options_(options),
        faults_(options.faults, options.seed),
        delivery_(faults_, timer_, options.delivery_attempts, options.retry_base_ms) {}

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
  void Handle(const HttpRequest& request, const http::Responder& respond) {
    const size_t q = request.target.find('?');
    const std::string path = request.target.substr(0, q);
    const auto query = gateways::ParseQueryString(
        q == std::string::npos ? "" : absl::string_view(request.target).substr(q + 1));
    std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
    if (parts.empty()) return respond(Json(200, R"({"service":"tally sandbox"})"));
    const std::string service = parts[0];
    parts.erase(parts.begin());
    if (service == "sandbox") return respond(Control(request, parts));
    if (service == "meta") return respond(meta_.Handle(request, parts, query));
    if (service == "telegram") return respond(telegram_.Handle(request, parts, query));
    if (!IsGateway(service)) return respond(Json(404, R"({"message":"unknown service"})"));
    GatewayCall(service, request, parts, query, respond);
  }

  // --- gateways ---------------------------------------------------------------------------

  std::string ApiKey(const std::string& service, const HttpRequest& request,
                     const std::map<std::string, std::string>& query) {
    if (service == "paradise") return Header(request, "x-api-key");
    if (service == "atomopay") {
      auto it = query.find("api_token");
      return it == query.end() ? "" : it->second;
    }
    return Bearer(request);
  }

  void GatewayCall(const std::string& service, const HttpRequest& request,
                   const std::vector<std::string>& parts,
                   const std::map<std::string, std::string>& query,
                   const http::Responder& respond) {
    const std::string key = ApiKey(service, request, query);
    {
      std::lock_guard lock(mu_);
      if (key.empty() || !accounts_.contains({service, key})) {
        return respond(Unauthorized(service));
      }
    }
    const std::string joined = absl::StrJoin(parts, "/");
    const bool create = request.method == "POST" &&
                        ((service == "pushinpay" && joined == "api/pix/cashIn") ||
                         (service == "paradise" && joined == "api/v1/transaction.php") ||
                         (service == "atomopay" && joined == "api/public/v1/transactions") ||
                         (service == "mercadopago" && joined == "v1/payments") ||
                         (service == "stripe" && joined == "v1/payment_intents"));
    if (create) return respond(CreateCharge(service, key, request));
    std::string id;
    if (request.method == "GET") {
      if (service == "pushinpay" && parts.size() == 3 && parts[0] == "api" &&
          parts[1] == "transactions") {
        id = parts[2];
      } else if (service == "paradise" && joined == "api/v1/query.php" && query.count("action") &&
                 query.at("action") == "get_transaction" && query.count("id")) {
        id = query.at("id");
      } else if (service == "atomopay" && parts.size() == 5 && parts[3] == "transactions") {
        id = parts[4];
      } else if (service == "mercadopago" && parts.size() == 3 && parts[1] == "payments") {
        id = parts[2];
      } else if (service == "stripe" && parts.size() == 3 && parts[1] == "payment_intents") {
        id = parts[2];
      }
    }
    if (id.empty()) return respond(NotFound(service, request.method + " /" + joined));
    Poll(service, key, gateways::UrlDecode(id), respond);
  }

  HttpResponse CreateCharge(const std::string& service, const std::string& key,
                            const HttpRequest& request) {
    auto fields = gateways::PayloadFields::Parse(Header(request, "content-type"), request.body);
    if (!fields.ok()) return BadRequest(service, std::string(fields.status().message()));
    Charge c;
    c.service = service;
    c.api_key = key;
    absl::StatusOr<int64_t> amount = 0;
    if (service == "pushinpay") {
      amount = fields->MinorUnits("value");
      c.notification_url = fields->Text("webhook_url");
    } else if (service == "paradise") {
      amount = fields->MinorUnits("amount");
      c.reference = fields->Text("reference");
      c.description = fields->Text("description");
      c.notification_url = fields->Text("postback_url");
    } else if (service == "atomopay") {
      amount = fields->MinorUnits("amount");
      c.reference = fields->Text("external_reference");
      c.notification_url = fields->Text("postback_url");
      if (fields->Text("payment_method") != "pix") {
        return BadRequest(service, "payment_method must be pix");
      }
    } else if (service == "mercadopago") {
      amount = fields->DecimalMinorUnits("transaction_amount");
      c.reference = fields->Text("external_reference");
      c.description = fields->Text("description");
      c.notification_url = fields->Text("notification_url");
      if (fields->Text("payment_method_id") != "pix") {
        return BadRequest(service, "payment_method_id must be pix");
      }
      if (fields->Text("payer.email").empty()) return BadRequest(service, "payer.email required");
    } else {  // stripe
      amount = fields->MinorUnits("amount");
      c.currency = absl::AsciiStrToUpper(fields->Text("currency"));
      c.reference = fields->Text("metadata[payment_id]");
      c.description = fields->Text("description");
      if (fields->Text("payment_method_types[]") != "pix") {
        return BadRequest(service, "payment_method_types[] must be pix");
      }
    }
    if (!amount.ok() || *amount <= 0) {
      return BadRequest(service, "amount must be a positive number");
    }
    c.amount_minor = *amount;
    std::string idempotency_key;
    if (service == "stripe") idempotency_key = Header(request, "idempotency-key");
    if (service == "mercadopago") idempotency_key = Header(request, "x-idempotency-key");

    std::lock_guard lock(mu_);
    if (!idempotency_key.empty()) {
      auto it = idempotency_.find(absl::StrCat(service, "\n", key, "\n", idempotency_key));
      if (it != idempotency_.end()) {
        return Json(service == "mercadopago" ? 201 : 200,
                    ChargeJson(charges_.at({service, it->second}), true));
      }
    }
    const uint64_t n = ++charge_sequence_;
    if (service == "pushinpay") {
      c.id = absl::StrFormat("%08x-%04x-4%03x-a%03x-%012x", Random32(), n & 0xffff,
                             Random32() & 0xfff, Random32() & 0xfff, n);
    } else if (service == "paradise") {
      c.id = absl::StrCat(158000 + n);
    } else if (service == "atomopay") {
      c.id = absl::StrCat(700000 + n);
      c.hash = absl::StrFormat("%08x%02x", Random32(), n & 0xff);
    } else if (service == "mercadopago") {
      c.id = absl::StrCat(1320000000 + n);
    } else {
      c.id = absl::StrFormat("pi_3Sandbox%08x%06d", Random32(), n);
    }
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    c.status = StatusAfter(service, "create");
    c.created_s = c.updated_s = now;
    c.pix_code = PixCopyPaste(c.id, c.amount_minor);
    const std::string lookup = LookupKey(service, service == "atomopay" ? c.hash : c.id);
    if (service == "atomopay") atomopay_ids_[c.id] = c.hash;
    charges_[{service, lookup}] = c;
    order_.emplace_back(service, lookup);
    if (!idempotency_key.empty()) {
      idempotency_[absl::StrCat(service, "\n", key, "\n", idempotency_key)] = lookup;
    }
    return Json(service == "mercadopago" ? 201 : 200, ChargeJson(c, true));
  }

  // PushinPay ids are compared without case; every other gateway's exactly.
  static std::string LookupKey(const std::string& service, const std::string& id) {
    return service == "pushinpay" ? absl::AsciiStrToLower(id) : id;
  }

  void Poll(const std::string& service, const std::string& key, const std::string& id,
            const http::Responder& respond) {
    HttpResponse answer;
    bool late = false;
    int late_ms = 0;
    {
      std::lock_guard lock(mu_);
      std::string lookup = LookupKey(service, id);
      if (service == "atomopay" && atomopay_ids_.contains(id)) lookup = atomopay_ids_.at(id);
      auto it = charges_.find({service, lookup});
      if (it == charges_.end() || it->second.api_key != key) {
        return respond(NotFound(service, id));
      }
      const Faults faults = faults_.faults();
      if (faults_.Chance(faults.poll_error_rate)) {
        return respond(Json(503, R"({"message":"Service Unavailable"})"));
      }
      late = faults_.Chance(faults.poll_timeout_rate);
      late_ms = faults.poll_timeout_ms;
      answer = Json(200, ChargeJson(it->second, false));
    }
    if (!late) return respond(answer);
    timer_.RunAfter(std::chrono::milliseconds(late_ms), [respond, answer] { respond(answer); });
  }

  // --- control API --------------------------------------------------------------------------

  HttpResponse Control(const HttpRequest& request, const std::vector<std::string>& parts) {
    const std::string joined = absl::StrJoin(parts, "/");
    if (request.method == "GET" && joined == "stats") return Json(200, StatsJson());
    if (request.method == "GET" && joined == "charges") return Json(200, ChargesJson());
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
      if (!(IsGateway(service) || service == "meta" || service == "telegram") || key.empty()) {
        return Json(400,
                    R"({"message":"service (a gateway, meta or telegram) and api_key required"})");
      }
      if (service == "meta") {
        meta_.AddAccessToken(key);
      } else if (service == "telegram") {
        telegram_.AddBot(key);
      } else {
        std::lock_guard lock(mu_);
        accounts_[{service, key}] =
            Account{fields->Text("webhook_secret"), fields->Text("webhook_url")};
      }
      return Json(200, R"({"ok":true})");
    }
    if (joined == "faults") return SetFaults(*fields);
    if (joined == "telegram/updates") return telegram_.SendUpdate(*fields);
    if (parts.size() == 4 && parts[0] == "charges") {
      return Act(parts[1], gateways::UrlDecode(parts[2]), parts[3]);
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

  HttpResponse Act(const std::string& service, const std::string& id, const std::string& action) {
    if (!IsGateway(service)) return Json(404, R"({"message":"unknown gateway"})");
    if (action != "pay" && action != "refund" && action != "expire") {
      return Json(400, R"({"message":"action must be pay, refund or expire"})");
    }
    std::lock_guard lock(mu_);
    std::string lookup = LookupKey(service, id);
    if (service == "atomopay" && atomopay_ids_.contains(id)) lookup = atomopay_ids_.at(id);
    auto it = charges_.find({service, lookup});
    if (it == charges_.end()) return NotFound(service, id);
    Charge& c = it->second;
    const std::string paid = StatusAfter(service, "pay");
    if (action == "pay" && c.status != StatusAfter(service, "create")) {
      return Json(409, R"({"message":"only a pending charge can be paid"})");
    }
    if (action == "refund" && (c.status != paid || c.refunded)) {
      return Json(409, R"({"message":"only a paid charge can be refunded"})");
    }
    if (action == "expire" && c.status != StatusAfter(service, "create")) {
      return Json(409, R"({"message":"only a pending charge can expire"})");
    }
    c.status = StatusAfter(service, action);
    c.updated_s = absl::ToUnixSeconds(absl::Now());
    if (action == "pay") c.end_to_end_id = absl::StrFormat("E%08x%014d", Random32(), c.updated_s);
    if (action == "refund") c.refunded = true;
    const Account& account = accounts_.at({service, c.api_key});
    const std::string url = service == "stripe" || c.notification_url.empty() ? account.webhook_url
                                                                              : c.notification_url;
    if (!url.empty()) {
      delivery_.Send(
          WebhookFor(c, action, url, account.webhook_secret, c.updated_s, ++event_sequence_));
    }
    return Json(200, ChargeJson(c, false));
  }

  std::string StatsJson() const {
    const SandboxStats s = stats();
    return absl::StrCat(R"({"webhooks_sent":)", s.webhooks_sent, R"(,"webhooks_failed_attempts":)",
                        s.webhooks_failed_attempts, R"(,"webhooks_dropped":)", s.webhooks_dropped,
                        R"(,"webhooks_duplicated":)", s.webhooks_duplicated,
                        R"(,"webhooks_given_up":)", s.webhooks_given_up, R"(,"pending":)",
                        s.pending, "}");
  }

  std::string ChargesJson() {
    std::lock_guard lock(mu_);
    std::vector<std::string> rows;
    for (const auto& key : order_) {
      const Charge& c = charges_.at(key);
      rows.push_back(absl::StrCat(R"({"service":)", JsonQuote(c.service), R"(,"id":)",
                                  JsonQuote(c.id), R"(,"hash":)", JsonQuote(c.hash),
                                  R"(,"reference":)", JsonQuote(c.reference), R"(,"status":)",
                                  JsonQuote(c.status), R"(,"amount_minor":)", c.amount_minor,
                                  R"(,"pix_copy_paste":)", JsonQuote(c.pix_code), "}"));
    }
    return absl::StrCat(R"({"charges":[)", absl::StrJoin(rows, ","), "]}");
  }

  uint32_t Random32() { return faults_.Random32(); }

  const SandboxOptions options_;
  std::mutex mu_;
  FaultInjector faults_;
  std::map<std::pair<std::string, std::string>, Account> accounts_;
  std::map<std::pair<std::string, std::string>, Charge> charges_;
  std::vector<std::pair<std::string, std::string>> order_;
  std::map<std::string, std::string> atomopay_ids_;  // id -> hash
  std::map<std::string, std::string> idempotency_;
  uint64_t charge_sequence_ = 0;
  uint64_t event_sequence_ = 0;
  TaskTimer timer_{4};
  WebhookDelivery delivery_;
  Meta meta_{faults_};
  Telegram telegram_{delivery_};
  std::unique_ptr<http::Server> server_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(SandboxOptions options) {
  auto sandbox = std::make_unique<SandboxImpl>(options);
  if (absl::Status s = sandbox->Listen(); !s.ok()) return s;
  return sandbox;
}

}  // namespace tally::sandbox
