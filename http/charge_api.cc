#include "http/charge_api.h"

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "http/charge_decisions.h"
#include "http/request_metadata.h"
#include "reactors/telegram.h"
#include "tenants/bot_directory.h"

namespace tally::http {

namespace pb = payments::v1;

// Attempts per Idempotency-Key before a retry is refused (each appends an intent).
constexpr int kMaxChargeAttempts = 10;

ChargeApi::ChargeApi(ledger::EventStore& store, tenants::SecretBox box,
                     const gateways::GatewayRegistry& gateways, const ledger::Clock& clock,
                     gateways::Transport transport, ChargeApiOptions options)
    : store_(store),
      box_(std::move(box)),
      gateways_(gateways),
      clock_(clock),
      transport_(std::move(transport)),
      options_(std::move(options)) {}

absl::StatusOr<tenants::ApiPrincipal> ChargeApi::Authenticate(const std::string& api_key) {
  const std::string key = gateways::Sha256Hex(api_key);
  if (auto cached = principals_.Get(key, clock_.NowMicros())) return *cached;
  auto principal = tenants::ResolveApiKey(store_, api_key);
  if (principal.ok()) principals_.Put(key, *principal, clock_.NowMicros());
  return principal;
}

ChargeApi::InDoubt ChargeApi::ResolveInDoubt(const pb::PaymentCreated& payment,
                                             const gateways::Gateway& gateway,
                                             const gateways::ApiAccount& account) {
  auto events =
      store_.ReadStream(payment.tenant_id(), gateways::ChargeIntentStreamId(payment.payment_id()));
  if (!events.ok()) return {std::nullopt, JsonError(503, "database_unavailable", "try again")};
  int attempts = 0;
  int64_t last_at_us = 0;
  bool last_absent = false;  // the gateway refused the last attempt, or holds no charge of it
  std::string first_sha256;
  for (const ledger::RecordedEvent& e : *events) {
    if (e.type == "tally.payments.v1.ChargeRequested") {
      ++attempts;
      last_at_us = e.recorded_at_us;
      last_absent = false;
      pb::ChargeRequested m;
      if (attempts == 1 && m.ParseFromString(e.payload)) first_sha256 = m.request_sha256();
    } else if (e.type == "tally.payments.v1.ChargeUnresolved") {
      pb::ChargeUnresolved m;
      last_absent = m.ParseFromString(e.payload) && m.attempt() == attempts &&
                    m.reason() == pb::ChargeUnresolved::REASON_NOT_AT_GATEWAY;
    }
  }
  if (attempts == 0) return {};  // the first attempt: nothing in doubt
  // The key names the first request: another body under it is refused, in doubt or not (the
  // charge it may have made is the first body's).
  if (first_sha256 != payment.request_sha256()) {
    return {std::nullopt, JsonError(422, "idempotency_key_reused",
                                    "this Idempotency-Key was used with a different request body")};
  }
  if (attempts >= kMaxChargeAttempts) {
    return {std::nullopt, JsonError(409, "charge_in_doubt",
                                    absl::StrCat("this Idempotency-Key was tried ", attempts,
                                                 " times: use a new key for a new charge"))};
  }
  if (last_absent) return {std::nullopt, std::nullopt, attempts + 1};
  const int64_t age_us = clock_.NowMicros() - last_at_us;
  if (age_us < options_.gateway_deadline_us || !gateway.traits().finds_charges_by_reference) {
    return {std::nullopt,
            JsonError(409, "charge_in_doubt",
                      age_us < options_.gateway_deadline_us
                          ? "an earlier request with this Idempotency-Key may still be waiting "
                            "for " +
                                gateway.name() + ": retry in a minute"
                          : "an earlier request with this Idempotency-Key may have created a "
                            "charge at " +
                                gateway.name() +
                                ", which cannot look it up: it is not created twice; check the "
                                "gateway's panel")};
  }
  auto found = gateway.FindChargeByReference(account, payment.payment_id(), transport_);
  if (found.ok()) {
    spdlog::info("charge recovered by reference payment={} gateway={} transaction={}",
                 payment.payment_id(), gateway.name(), found->transaction_id);
    return {*std::move(found), std::nullopt, attempts};
  }
  if (found.status().code() == absl::StatusCode::kNotFound) {
    return {std::nullopt, std::nullopt, attempts + 1};
  }
  return {std::nullopt, GatewayErrorResponse(found.status(), gateway.name())};
}

void ChargeApi::RecordRefusal(const pb::PaymentCreated& payment, int attempt,
                              const absl::Status& status) {
  // Only an answer that certainly made nothing settles the intent: the credentials refused
  // (401/403) or the rate limit (429). A timeout, a 5xx, another 4xx or an answer that does not
  // read (InvalidArgument also comes from a 2xx whose amount does not parse: the charge exists)
  // may hide a charge, and is left to a retry or the charge reconciler.
  const absl::StatusCode code = status.code();
  if (code != absl::StatusCode::kPermissionDenied && code != absl::StatusCode::kResourceExhausted) {
    return;
  }
  pb::ChargeUnresolved refused;
  refused.set_tenant_id(payment.tenant_id());
  refused.set_payment_id(payment.payment_id());
  refused.set_gateway(payment.gateway());
  refused.set_reason(pb::ChargeUnresolved::REASON_NOT_AT_GATEWAY);
  refused.set_detail(std::string(status.message()).substr(0, 1000));
  refused.set_attempt(attempt);
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_API);
  metadata.set_actor("charge_api");
  metadata.set_received_at_us(clock_.NowMicros());
  auto appended =
      store_.Append({payment.tenant_id(),
                     gateways::ChargeIntentStreamId(payment.payment_id()),
                     ledger::ExpectedVersion::Any(),
                     {{"tally.payments.v1.ChargeUnresolved", refused.SerializeAsString(),
                       metadata.SerializeAsString()}},
                     absl::StrCat("charge-unresolved:", payment.payment_id(), ":", attempt, ":0")});
  if (!appended.ok()) {
    // The reconciler will find no charge and say so itself (or, at PushinPay, list it).
    spdlog::warn("charge refusal not recorded payment={} error=\"{}\"", payment.payment_id(),
                 std::string(appended.status().message()));
  }
}

absl::StatusOr<std::optional<HttpResponse>> ChargeApi::Replay(const std::string& append_key,
                                                              const std::string& request_sha256,
                                                              const std::string& request_id) {
  auto found = store_.FindByIdempotencyKey(append_key);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::nullopt;
  return ReplayResponse(**found, request_sha256, request_id);
}

std::optional<HttpResponse> ChargeApi::CheckBotAndProduct(const std::string& tenant_id,
                                                          const pb::PaymentCreated& payment) {
  if (payment.bot_id().empty()) {
    if (!payment.plan_id().empty()) {
      return JsonError(400, "invalid_request", "plan_id needs the bot_id that sells it");
    }
    if (payment.product_id().empty()) return std::nullopt;
    return JsonError(400, "invalid_request", "product_id needs the bot_id that sells it");
  }
  auto bot = tenants::ResolveBotConfig(store_, box_, payment.bot_id());
  if (bot.status().code() == absl::StatusCode::kUnavailable) {
    return JsonError(503, "database_unavailable", "try again");
  }
  // Another tenant's bot is answered exactly like a bot that does not exist.
  if (bot.status().code() == absl::StatusCode::kNotFound ||
      (bot.ok() && bot->tenant_id != tenant_id)) {
    return JsonError(422, "unknown_bot",
                     absl::StrCat("bot_id: no bot ", payment.bot_id(), " is registered"));
  }
  if (!bot.ok()) {
    spdlog::error("bot configuration unreadable bot={} error=\"{}\"", payment.bot_id(),
                  std::string(bot.status().message()));
    return JsonError(500, "internal", "the bot's configuration cannot be read");
  }
  if (!payment.product_id().empty() && bot->products.count(payment.product_id()) == 0) {
    return JsonError(422, "unknown_product",
                     absl::StrCat("product_id: bot ", payment.bot_id(), " sells no product ",
                                  payment.product_id(), " (tally products set)"));
  }
  if (!payment.plan_id().empty()) {
    auto plan = bot->plans.find(payment.plan_id());
    if (plan == bot->plans.end()) {
      return JsonError(422, "unknown_plan",
                       absl::StrCat("plan_id: bot ", payment.bot_id(), " has no plan ",
                                    payment.plan_id(), " (tally plans set)"));
    }
    const std::optional<int64_t> chat = reactors::TelegramChatOf(payment.customer_id());
    if (!chat.has_value() || *chat < 0) {
      return JsonError(400, "invalid_request",
                       "customer.id must be the subscriber's Telegram user (\"tg:<positive id>\") "
                       "for a plan");
    }
    if (!payment.product_id().empty()) {
      return JsonError(400, "invalid_request",
                       "a charge is for a product_id or a plan_id, not both");
    }
    if (payment.amount().amount_minor() != plan->second.price_minor ||
        payment.amount().currency() != plan->second.currency) {
      return JsonError(422, "amount_mismatch",
                       absl::StrCat("amount_minor: plan ", payment.plan_id(), " costs ",
                                    plan->second.price_minor, " ", plan->second.currency));
    }
  }
  return std::nullopt;
}

void ChargeApi::Handle(const HttpRequest& request, Responder respond) {
  const std::string request_id = NewRequestId();
  if (request.method != "POST") return respond(JsonError(405, "method_not_allowed", "use POST"));
  const std::string authorization = HeaderValue(request, "authorization");
  if (!absl::StartsWithIgnoreCase(authorization, "Bearer ") || authorization.size() > 300) {
    return respond(JsonError(401, "unauthorized", "Authorization: Bearer <API key> required"));
  }
  auto principal = Authenticate(authorization.substr(7));
  if (!principal.ok()) {
    if (principal.status().code() == absl::StatusCode::kUnavailable) {
      return respond(JsonError(503, "database_unavailable", "try again"));
    }
    spdlog::warn("charge refused request_id={} remote={} reason=\"unknown API key\"", request_id,
                 request.remote_address);
    return respond(JsonError(401, "unauthorized", "unknown API key"));
  }
  if (principal->scope != tenants::kOwnerScope) {
    return respond(JsonError(403, "forbidden", "charges are created with a tenant's owner key"));
  }
  if (!absl::StrContains(absl::AsciiStrToLower(HeaderValue(request, "content-type")),
                         "application/json")) {
    return respond(JsonError(415, "unsupported_media_type", "send application/json"));
  }
  auto fields = gateways::PayloadFields::ParseJson(request.body);
  if (!fields.ok()) {
    return respond(JsonError(400, "invalid_json", std::string(fields.status().message())));
  }
  auto input = ParseChargeRequest(gateways_, *fields);
  if (!input.ok()) {
    return respond(JsonError(400, "invalid_request", std::string(input.status().message())));
  }
  respond(Create(request, request_id, principal->tenant_id, principal->key_id,
                 gateways::Sha256Hex(request.body), HeaderValue(request, "idempotency-key"),
                 *std::move(input)));
}

HttpResponse ChargeApi::Create(const HttpRequest& request, const std::string& request_id,
                               const std::string& tenant_id, const std::string& actor,
                               const std::string& request_sha256,
                               const std::string& idempotency_header, ChargeInput input_value) {
  ChargeInput* input = &input_value;
  pb::PaymentCreated& payment = input->payment;
  payment.set_tenant_id(tenant_id);
  payment.set_request_sha256(request_sha256);
  auto identity = IdentifyCharge(tenant_id, idempotency_header);
  if (!identity.ok()) {
    return JsonError(400, "invalid_idempotency_key", std::string(identity.status().message()));
  }
  payment.set_payment_id(identity->payment_id);
  if (!identity->append_key.empty()) {
    auto replay = Replay(identity->append_key, payment.request_sha256(), request_id);
    if (!replay.ok()) return JsonError(503, "database_unavailable", "try again");
    if (replay->has_value()) return std::move(**replay);
  }

  if (auto refused = CheckBotAndProduct(tenant_id, payment)) return std::move(*refused);

  auto config = tenants::ResolveGatewayAccount(store_, box_, tenant_id, payment.gateway());
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kUnavailable) {
      return JsonError(503, "database_unavailable", "try again");
    }
    return JsonError(422, "gateway_not_configured", std::string(config.status().message()));
  }
  const gateways::Gateway& gateway = *gateways_.Find(payment.gateway());
  std::optional<gateways::CreatedCharge> recovered;
  int attempt = 1;
  if (!identity->append_key.empty()) {
    InDoubt in_doubt = ResolveInDoubt(payment, gateway, config->account);
    if (in_doubt.refusal.has_value()) return std::move(*in_doubt.refusal);
    recovered = std::move(in_doubt.found);
    attempt = in_doubt.attempt;
    if (!recovered.has_value() && attempt > 1) {
      // The gateway had no charge of the earlier attempt; a concurrent retry or the charge
      // reconciler may have recorded one since: answer it rather than charge again.
      auto replay = Replay(identity->append_key, payment.request_sha256(), request_id);
      if (!replay.ok()) return JsonError(503, "database_unavailable", "try again");
      if (replay->has_value()) return std::move(**replay);
    }
    if (!recovered.has_value()) {
      // The intent, durable before the call: a lost answer leaves a trace to recover from.
      pb::ChargeRequested intent;
      intent.set_tenant_id(tenant_id);
      intent.set_payment_id(payment.payment_id());
      intent.set_gateway(payment.gateway());
      *intent.mutable_amount() = payment.amount();
      intent.set_request_sha256(payment.request_sha256());
      *intent.mutable_payment() = payment;
      intent.set_append_key(identity->append_key);
      intent.set_attempt(attempt);
      const ledger::v1::Metadata intent_metadata =
          RequestMetadata(request, request_id, ledger::v1::SOURCE_API, actor, clock_.NowMicros());
      auto recorded =
          store_.Append({tenant_id,
                         gateways::ChargeIntentStreamId(payment.payment_id()),
                         ledger::ExpectedVersion::Any(),
                         {{"tally.payments.v1.ChargeRequested", intent.SerializeAsString(),
                           intent_metadata.SerializeAsString()}},
                         gateways::ChargeIntentKey(payment.payment_id(), attempt)});
      if (!recorded.ok()) return JsonError(503, "database_unavailable", "try again");
      // A concurrent request with this key recorded this attempt first: it calls the gateway.
      if (recorded->duplicate) {
        return JsonError(409, "charge_in_doubt",
                         "another request with this Idempotency-Key is creating the "
                         "charge at " +
                             gateway.name() + ": retry in a few seconds");
      }
    }
  }
  const bool recovered_charge = recovered.has_value();
  auto created =
      recovered.has_value()
          ? absl::StatusOr<gateways::CreatedCharge>(*std::move(recovered))
          : gateway.CreateCharge(
                config->account,
                BuildGatewayCharge(*input, options_.public_url, config->webhook_token), transport_);
  if (!created.ok()) {
    spdlog::warn("charge failed request_id={} tenant={} gateway={} payment={} error=\"{}\"",
                 request_id, tenant_id, payment.gateway(), payment.payment_id(),
                 std::string(created.status().message()));
    if (!identity->append_key.empty() && !recovered_charge) {
      RecordRefusal(payment, attempt, created.status());
    }
    return GatewayErrorResponse(created.status(), payment.gateway());
  }
  const ledger::v1::Metadata metadata =
      RequestMetadata(request, request_id, ledger::v1::SOURCE_API, actor, clock_.NowMicros());
  payment = gateways::WithGatewayAnswer(std::move(payment), *created);
  ledger::AppendRequest append = gateways::RecordCharge(payment, metadata, identity->append_key);
  const std::string stream = append.stream_id;
  // This worker already waited for the gateway; waiting here for durability too keeps the
  // duplicate case (a concurrent retry recorded first) free to read the log.
  absl::StatusOr<ledger::AppendResult> appended = store_.Append(std::move(append));
  if (!appended.ok()) {
    spdlog::error("charge not recorded request_id={} tenant={} payment={} stream={} error=\"{}\"",
                  request_id, tenant_id, payment.payment_id(), stream,
                  std::string(appended.status().message()));
    return JsonError(
        appended.status().code() == absl::StatusCode::kUnavailable ? 503 : 500,
        "database_unavailable",
        "the charge was created but not recorded: retry with the same Idempotency-Key");
  }
  if (appended->duplicate) {
    auto replay = Replay(identity->append_key, payment.request_sha256(), request_id);
    if (replay.ok() && replay->has_value()) return std::move(**replay);
    return JsonError(503, "database_unavailable", "try again");
  }
  spdlog::info(
      "charge recorded request_id={} tenant={} gateway={} payment={} stream={} position={}",
      request_id, tenant_id, payment.gateway(), payment.payment_id(), stream,
      appended->positions[0]);
  return CreatedResponse(payment, stream, appended->positions[0], request_id);
}

}  // namespace tally::http
