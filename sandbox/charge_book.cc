#include "sandbox/charge_book.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

std::optional<ChargeAction> ParseAction(const std::string& action) {
  if (action == "pay") return ChargeAction::kPay;
  if (action == "refund") return ChargeAction::kRefund;
  if (action == "expire") return ChargeAction::kExpire;
  return std::nullopt;
}

absl::string_view StatusAfter(const StatusWords& words, ChargeAction action) {
  switch (action) {
    case ChargeAction::kPay:
      return words.paid;
    case ChargeAction::kRefund:
      return words.refunded;
    case ChargeAction::kExpire:
      return words.expired;
  }
  return words.created;
}

std::vector<std::string> Names(const std::vector<std::unique_ptr<SimulatedGateway>>& gateways) {
  std::vector<std::string> names;
  for (const auto& gateway : gateways) names.emplace_back(gateway->name());
  return names;
}

// 429 in the gateway's shape, with the Retry-After header HTTP defines for it.
http::HttpResponse RateLimited(const SimulatedGateway& gateway, int retry_after_s) {
  http::HttpResponse answer = Json(429, gateway.RateLimitedJson(retry_after_s));
  answer.headers.emplace_back("Retry-After", absl::StrCat(retry_after_s));
  return answer;
}

}  // namespace

ChargeBook::ChargeBook(std::vector<std::unique_ptr<SimulatedGateway>> gateways,
                       FaultInjector& faults, WebhookDelivery& delivery, TaskTimer& timer)
    : gateways_(std::move(gateways)),
      faults_(faults),
      delivery_(delivery),
      timer_(timer),
      polls_(Names(gateways_)) {}

const SimulatedGateway* ChargeBook::Find(absl::string_view name) const {
  for (const auto& gateway : gateways_) {
    if (gateway->name() == name) return gateway.get();
  }
  return nullptr;
}

void ChargeBook::AddAccount(const std::string& gateway, const std::string& api_key,
                            const std::string& webhook_secret, const std::string& webhook_url) {
  std::lock_guard lock(mu_);
  accounts_[{gateway, api_key}] = Account{webhook_secret, webhook_url};
  polls_.AddAccount(gateway, api_key);
}

void ChargeBook::Handle(const SimulatedGateway& gateway, const http::HttpRequest& request,
                        const std::vector<std::string>& path, const Query& query,
                        const http::Responder& respond) {
  const std::string key = gateway.ApiKey(request, query);
  {
    std::lock_guard lock(mu_);
    if (key.empty() || !accounts_.contains({std::string(gateway.name()), key})) {
      return respond(gateway.Unauthorized());
    }
  }
  const ApiCall call = gateway.Route(request.method, path, query);
  switch (call.kind) {
    case ApiCall::Kind::kCreate:
      return CreateCharge(gateway, key, request, respond);
    case ApiCall::Kind::kStatus:
      if (call.argument.empty()) break;
      return Poll(gateway, key, gateways::UrlDecode(call.argument), respond);
    case ApiCall::Kind::kLookup:
      return respond(Lookup(gateway, key, call.argument));
    case ApiCall::Kind::kInvalid:
      return respond(gateway.BadRequest(call.argument));
    case ApiCall::Kind::kNone:
      break;
  }
  respond(gateway.NotFound(request.method + " /" + absl::StrJoin(path, "/")));
}

void ChargeBook::CreateCharge(const SimulatedGateway& gateway, const std::string& api_key,
                              const http::HttpRequest& request, const http::Responder& respond) {
  auto fields =
      gateways::PayloadFields::Parse(http::HeaderValue(request, "content-type"), request.body);
  if (!fields.ok()) return respond(gateway.BadRequest(std::string(fields.status().message())));
  absl::StatusOr<Charge> asked = gateway.ChargeFromRequest(*fields);
  if (!asked.ok()) return respond(gateway.BadRequest(std::string(asked.status().message())));
  if (asked->amount_minor <= 0) {
    return respond(gateway.BadRequest("amount must be a positive number"));
  }
  Charge c = *std::move(asked);
  const std::string service(gateway.name());
  c.service = service;
  c.api_key = api_key;
  const std::string idempotency_key = gateway.IdempotencyKey(request);
  http::HttpResponse answer;
  bool lost = false;
  int lost_ms = 0;
  {
    std::lock_guard lock(mu_);
    answer = NewCharge(gateway, std::move(c), idempotency_key);
    // The answer is lost after the charge exists (a replay's too): the caller's deadline passes
    // first, and it must find the charge again rather than open a second one. The server cannot
    // drop a connection unanswered, so the answer comes, but late.
    const Faults faults = faults_.faults();
    lost = faults_.Chance(faults.create_answer_lost_rate);
    lost_ms = faults.create_answer_lost_ms;
  }
  if (!lost) return respond(answer);
  timer_.RunAfter(std::chrono::milliseconds(lost_ms), [respond, answer] { respond(answer); });
}

http::HttpResponse ChargeBook::NewCharge(const SimulatedGateway& gateway, Charge c,
                                         const std::string& idempotency_key) {
  const std::string service(gateway.name());
  const std::string api_key = c.api_key;
  if (!idempotency_key.empty()) {
    auto it = idempotency_.find(absl::StrCat(service, "\n", api_key, "\n", idempotency_key));
    if (it != idempotency_.end()) {
      return Json(gateway.CreatedStatus(), gateway.ChargeJson(charges_.at({service, it->second}),
                                                              /*creation=*/true));
    }
  }
  ChargeIds ids = gateway.NewIds(++charge_sequence_, [this] { return faults_.Random32(); });
  c.id = std::move(ids.id);
  c.hash = std::move(ids.hash);
  c.status = std::string(gateway.statuses().created);
  c.created_s = c.updated_s = absl::ToUnixSeconds(absl::Now());
  c.pix_code = PixCopyPaste(c.id, c.amount_minor);
  const std::string lookup = gateway.LookupKey(c.hash.empty() ? c.id : c.hash);
  if (!c.hash.empty()) ids_[{service, c.id}] = lookup;
  charges_[{service, lookup}] = c;
  order_.emplace_back(service, lookup);
  if (!idempotency_key.empty()) {
    idempotency_[absl::StrCat(service, "\n", api_key, "\n", idempotency_key)] = lookup;
  }
  return Json(gateway.CreatedStatus(), gateway.ChargeJson(c, /*creation=*/true));
}

Charge* ChargeBook::FindCharge(const SimulatedGateway& gateway, const std::string& id) {
  const std::string service(gateway.name());
  auto by_id = ids_.find({service, id});
  auto it = charges_.find({service, by_id != ids_.end() ? by_id->second : gateway.LookupKey(id)});
  return it == charges_.end() ? nullptr : &it->second;
}

void ChargeBook::Poll(const SimulatedGateway& gateway, const std::string& api_key,
                      const std::string& id, const http::Responder& respond) {
  http::HttpResponse answer;
  bool late = false;
  int late_ms = 0;
  {
    std::lock_guard lock(mu_);
    const Charge* c = FindCharge(gateway, id);
    polls_.Record(
        std::string(gateway.name()), api_key,
        c == nullptr ? gateway.LookupKey(id) : gateway.LookupKey(c->hash.empty() ? c->id : c->hash),
        PollAccounting::Clock::now());
    if (c == nullptr || c->api_key != api_key) return respond(gateway.NotFound(id));
    const Faults faults = faults_.faults();
    if (faults_.Chance(faults.poll_429_rate)) {
      return respond(RateLimited(gateway, faults.poll_retry_after_s));
    }
    if (faults_.Chance(faults.poll_error_rate)) {
      return respond(Json(503, R"({"message":"Service Unavailable"})"));
    }
    late = faults_.Chance(faults.poll_timeout_rate);
    late_ms = faults.poll_timeout_ms;
    answer = Json(200, gateway.ChargeJson(*c, /*creation=*/false));
  }
  if (!late) return respond(answer);
  timer_.RunAfter(std::chrono::milliseconds(late_ms), [respond, answer] { respond(answer); });
}

http::HttpResponse ChargeBook::Act(const std::string& service, const std::string& id,
                                   const std::string& action_name) {
  const SimulatedGateway* gateway = Find(service);
  if (gateway == nullptr) return Json(404, R"({"message":"unknown gateway"})");
  const std::optional<ChargeAction> action = ParseAction(action_name);
  if (!action) return Json(400, R"({"message":"action must be pay, refund or expire"})");
  const StatusWords words = gateway->statuses();

  std::lock_guard lock(mu_);
  Charge* found = FindCharge(*gateway, id);
  if (found == nullptr) return gateway->NotFound(id);
  Charge& c = *found;
  if (action == ChargeAction::kPay && c.status != words.created) {
    return Json(409, R"({"message":"only a pending charge can be paid"})");
  }
  if (action == ChargeAction::kRefund && (c.status != words.paid || c.refunded)) {
    return Json(409, R"({"message":"only a paid charge can be refunded"})");
  }
  if (action == ChargeAction::kExpire && c.status != words.created) {
    return Json(409, R"({"message":"only a pending charge can expire"})");
  }
  c.status = std::string(StatusAfter(words, *action));
  c.updated_s = absl::ToUnixSeconds(absl::Now());
  if (action == ChargeAction::kPay) {
    c.end_to_end_id = absl::StrFormat("E%08x%014d", faults_.Random32(), c.updated_s);
  }
  if (action == ChargeAction::kRefund) c.refunded = true;
  const Account& account = accounts_.at({service, c.api_key});
  const std::string url = gateway->WebhookUrl(c, account.webhook_url);
  const std::vector<std::string> silent = faults_.faults().silent_gateways;
  if (!url.empty() && std::ranges::find(silent, service) == silent.end()) {
    delivery_.Send(
        gateway->Webhook(c, *action, url, account.webhook_secret, c.updated_s, ++event_sequence_));
  }
  return Json(200, gateway->ChargeJson(c, /*creation=*/false));
}

http::HttpResponse ChargeBook::Lookup(const SimulatedGateway& gateway, const std::string& api_key,
                                      const std::string& reference) const {
  std::lock_guard lock(mu_);
  std::vector<const Charge*> found;
  for (const Key& key : order_) {
    if (key.first != gateway.name()) continue;
    const Charge& c = charges_.at(key);
    if (!reference.empty() && c.api_key == api_key && c.reference == reference) {
      found.push_back(&c);
    }
  }
  return gateway.LookupAnswer(found);
}

std::string ChargeBook::PollsJson() const {
  std::lock_guard lock(mu_);
  return polls_.Json();
}

std::string ChargeBook::ChargesJson() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> rows;
  for (const Key& key : order_) {
    const Charge& c = charges_.at(key);
    rows.push_back(absl::StrCat(R"({"service":)", JsonQuote(c.service), R"(,"id":)",
                                JsonQuote(c.id), R"(,"hash":)", JsonQuote(c.hash),
                                R"(,"reference":)", JsonQuote(c.reference), R"(,"status":)",
                                JsonQuote(c.status), R"(,"amount_minor":)", c.amount_minor,
                                R"(,"pix_copy_paste":)", JsonQuote(c.pix_code), "}"));
  }
  return absl::StrCat(R"({"charges":[)", absl::StrJoin(rows, ","), "]}");
}

}  // namespace tally::sandbox
