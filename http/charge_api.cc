#include "http/charge_api.h"

#include <openssl/rand.h>

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "http/request_metadata.h"
#include "ledger/event_json.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;
using ledger::JsonQuote;

constexpr size_t kMaxIdempotencyKey = 200;
constexpr int64_t kMaxAmountMinor = 100'000'000'00;  // R$ 100 million

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return absl::BytesToHexString(raw);
}

// The request's fields, each checked against its limit; the first problem names the field.
class ChargeFields {
 public:
  explicit ChargeFields(const gateways::PayloadFields& f) : f_(f) {}

  std::string Text(const char* path, size_t max_bytes, bool required = false) {
    std::string value = f_.Text(path);
    if (!error_.empty()) return value;
    if (required && value.empty()) {
      error_ = absl::StrCat(path, " is required");
    } else if (value.size() > max_bytes) {
      error_ = absl::StrCat(path, " is longer than ", max_bytes, " bytes");
    }
    return value;
  }
  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  const std::string& error() const { return error_; }

 private:
  const gateways::PayloadFields& f_;
  std::string error_;
};

// What a charge request says: the payment to record, and the buyer's details, which go to the
// gateway only (they are not recorded).
struct ChargeInput {
  pb::PaymentCreated payment;
  std::string customer_name;
  std::string customer_email;
  std::string customer_document;
};

absl::StatusOr<ChargeInput> ParseChargeRequest(const gateways::PayloadFields& f) {
  ChargeFields c(f);
  ChargeInput input;
  pb::PaymentCreated& p = input.payment;
  p.set_gateway(c.Text("gateway", 32, true));
  const std::string amount = c.Text("amount_minor", 20, true);
  int64_t minor = 0;
  if (c.error().empty() &&
      (!absl::SimpleAtoi(amount, &minor) || minor <= 0 || minor > kMaxAmountMinor)) {
    c.Fail(absl::StrCat("amount_minor must be a whole number of cents between 1 and ",
                        kMaxAmountMinor));
  }
  std::string currency = absl::AsciiStrToUpper(c.Text("currency", 3));
  if (currency.empty()) currency = "BRL";
  if (currency.size() != 3 || !absl::c_all_of(currency, absl::ascii_isalpha)) {
    c.Fail("currency must be an ISO 4217 code such as BRL");
  }
  p.mutable_amount()->set_amount_minor(minor);
  p.mutable_amount()->set_currency(currency);
  p.set_description(c.Text("description", 200));
  p.set_bot_id(c.Text("bot_id", 64));
  p.set_customer_id(c.Text("customer.id", 128));
  input.customer_name = c.Text("customer.name", 200);
  input.customer_email = c.Text("customer.email", 200);
  input.customer_document = c.Text("customer.document", 32);
  p.set_product_id(c.Text("product_id", 128));
  p.set_parent_payment_id(c.Text("parent_payment_id", 64));
  pb::Tracking* t = p.mutable_tracking();
  t->set_utm_source(c.Text("tracking.utm_source", 256));
  t->set_utm_medium(c.Text("tracking.utm_medium", 256));
  t->set_utm_campaign(c.Text("tracking.utm_campaign", 256));
  t->set_utm_content(c.Text("tracking.utm_content", 256));
  t->set_utm_term(c.Text("tracking.utm_term", 256));
  t->set_campaign_code(c.Text("tracking.campaign_code", 128));
  t->set_fbp(c.Text("tracking.fbp", 256));
  t->set_fbc(c.Text("tracking.fbc", 512));
  t->set_client_ip(c.Text("tracking.client_ip", 64));
  t->set_client_user_agent(c.Text("tracking.client_user_agent", 1024));
  t->set_pageview_event_id(c.Text("tracking.pageview_event_id", 128));
  t->set_source_url(c.Text("tracking.source_url", 2048));
  if (gateways::FindGatewayApi(p.gateway()) == nullptr && c.error().empty()) {
    c.Fail(absl::StrCat("unknown gateway \"", p.gateway(),
                        "\" (pushinpay, paradise, atomopay, mercadopago, stripe)"));
  }
  if (p.gateway() != "stripe" && currency != "BRL") {
    c.Fail(absl::StrCat(p.gateway(), " takes PIX in BRL only"));
  }
  if (!c.error().empty()) return absl::InvalidArgumentError(c.error());
  return input;
}

std::string PaymentJson(const pb::PaymentCreated& p, const std::string& stream, int64_t position,
                        const std::string& request_id) {
  const std::string expires =
      p.expires_at_s() > 0 ? JsonQuote(ledger::FormatMicros(p.expires_at_s() * 1000000)) : "null";
  return absl::StrCat(R"({"payment_id":)", JsonQuote(p.payment_id()), R"(,"tenant_id":)",
                      JsonQuote(p.tenant_id()), R"(,"gateway":)", JsonQuote(p.gateway()),
                      R"(,"gateway_transaction_id":)", JsonQuote(p.gateway_transaction_id()),
                      R"(,"gateway_transaction_hash":)", JsonQuote(p.gateway_transaction_hash()),
                      R"(,"status":"pending","amount":{"amount_minor":)", p.amount().amount_minor(),
                      R"(,"currency":)", JsonQuote(p.amount().currency()), R"(},"pix_copy_paste":)",
                      JsonQuote(p.pix_copy_paste()), R"(,"expires_at":)", expires, R"(,"stream":)",
                      JsonQuote(stream), R"(,"position":)", position, R"(,"request_id":)",
                      JsonQuote(request_id), "}");
}

// The recorded payment for an idempotency key, answered as a replay; nullopt when none.
std::optional<HttpResponse> Replay(ledger::EventStore& store, const std::string& key,
                                   const std::string& request_sha256, const std::string& request_id,
                                   absl::Status& error) {
  auto found = store.FindByIdempotencyKey(key);
  if (!found.ok()) {
    error = found.status();
    return std::nullopt;
  }
  if (!found->has_value()) return std::nullopt;
  pb::PaymentCreated recorded;
  if (!recorded.ParseFromString((*found)->payload)) {
    return JsonError(500, "internal", "the recorded payment does not parse");
  }
  if (recorded.request_sha256() != request_sha256) {
    return JsonError(422, "idempotency_key_reused",
                     "this Idempotency-Key was used with a different request body");
  }
  HttpResponse response{200, "application/json",
                        PaymentJson(recorded, (*found)->stream_id, (*found)->position, request_id)};
  response.headers.emplace_back("Idempotent-Replayed", "true");
  return response;
}

HttpResponse GatewayError(const absl::Status& status, const std::string& gateway) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return JsonError(504, "gateway_timeout",
                       gateway +
                           " did not answer in time; the charge may exist: retry with the "
                           "same Idempotency-Key");
    case absl::StatusCode::kPermissionDenied:
      return JsonError(502, "gateway_credentials_rejected",
                       gateway + " refused the configured API key");
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return JsonError(502, "gateway_rejected", message);
    default:
      return JsonError(502, "gateway_unavailable", message);
  }
}

}  // namespace

ChargeApi::ChargeApi(ledger::EventStore& store, gateways::SecretBox box, const ledger::Clock& clock,
                     gateways::Transport transport, ChargeApiOptions options)
    : store_(store),
      box_(std::move(box)),
      clock_(clock),
      transport_(std::move(transport)),
      options_(std::move(options)) {}

absl::StatusOr<gateways::ApiPrincipal> ChargeApi::Authenticate(const std::string& api_key) {
  const std::string key = gateways::Sha256Hex(api_key);
  if (auto cached = principals_.Get(key, clock_.NowMicros())) return *cached;
  auto principal = gateways::ResolveApiKey(store_, api_key);
  if (principal.ok()) principals_.Put(key, *principal, clock_.NowMicros());
  return principal;
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
  if (!absl::StrContains(absl::AsciiStrToLower(HeaderValue(request, "content-type")),
                         "application/json")) {
    return respond(JsonError(415, "unsupported_media_type", "send application/json"));
  }
  auto fields = gateways::PayloadFields::ParseJson(request.body);
  if (!fields.ok()) {
    return respond(JsonError(400, "invalid_json", std::string(fields.status().message())));
  }
  auto parsed = ParseChargeRequest(*fields);
  if (!parsed.ok()) {
    return respond(JsonError(400, "invalid_request", std::string(parsed.status().message())));
  }
  pb::PaymentCreated payment = std::move(parsed->payment);
  const std::string tenant_id = principal->tenant_id;
  payment.set_tenant_id(tenant_id);
  payment.set_request_sha256(gateways::Sha256Hex(request.body));

  const std::string idempotency_header = HeaderValue(request, "idempotency-key");
  std::string append_key;
  if (!idempotency_header.empty()) {
    if (idempotency_header.size() > kMaxIdempotencyKey ||
        !absl::c_all_of(idempotency_header, [](char ch) { return ch > ' ' && ch < 127; })) {
      return respond(JsonError(400, "invalid_idempotency_key",
                               "Idempotency-Key must be 1 to 200 printable characters"));
    }
    const std::string digest =
        gateways::Sha256Hex(absl::StrCat(tenant_id, "\n", idempotency_header));
    append_key = absl::StrCat("charge:", digest);
    payment.set_payment_id(absl::StrCat("pay_", digest.substr(0, 32)));
    absl::Status error;
    if (auto replay = Replay(store_, append_key, payment.request_sha256(), request_id, error)) {
      return respond(std::move(*replay));
    }
    if (!error.ok()) return respond(JsonError(503, "database_unavailable", "try again"));
  } else {
    payment.set_payment_id(absl::StrCat("pay_", RandomHex(16)));
  }

  auto config = gateways::ResolveGatewayAccount(store_, box_, tenant_id, payment.gateway());
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kUnavailable) {
      return respond(JsonError(503, "database_unavailable", "try again"));
    }
    return respond(
        JsonError(422, "gateway_not_configured", std::string(config.status().message())));
  }
  std::string public_url = options_.public_url;
  while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
  gateways::ChargeRequest charge;
  charge.payment_id = payment.payment_id();
  charge.amount = payment.amount();
  charge.description = payment.description().empty() ? "Pedido" : payment.description();
  charge.notification_url =
      absl::StrCat(public_url, "/webhooks/", payment.gateway(), "/", config->webhook_token);
  charge.idempotency_key = payment.payment_id();
  charge.customer_name = parsed->customer_name;
  charge.customer_email = parsed->customer_email;
  charge.customer_document = parsed->customer_document;

  const gateways::GatewayApi* api = gateways::FindGatewayApi(payment.gateway());
  auto created = api->CreateCharge(config->account, charge, transport_);
  if (!created.ok()) {
    spdlog::warn("charge failed request_id={} tenant={} gateway={} payment={} error=\"{}\"",
                 request_id, tenant_id, payment.gateway(), payment.payment_id(),
                 std::string(created.status().message()));
    return respond(GatewayError(created.status(), payment.gateway()));
  }
  payment.set_gateway_transaction_id(created->transaction_id);
  payment.set_gateway_transaction_hash(created->transaction_hash);
  payment.set_pix_copy_paste(created->pix_copy_paste);
  payment.set_expires_at_s(created->expires_at_s);
  *payment.mutable_observation() = created->observation;

  const ledger::v1::Metadata metadata = RequestMetadata(request, request_id, ledger::v1::SOURCE_API,
                                                        principal->key_id, clock_.NowMicros());
  const std::string stream =
      absl::StrCat("payment-", payment.gateway(), "-", created->transaction_id);
  ledger::AppendRequest append{tenant_id,
                               stream,
                               ledger::ExpectedVersion::Any(),
                               {{"tally.payments.v1.PaymentCreated", payment.SerializeAsString(),
                                 metadata.SerializeAsString()}},
                               append_key};
  // This worker already waited for the gateway; waiting here for durability too keeps the
  // duplicate case (a concurrent retry recorded first) free to read the log.
  absl::StatusOr<ledger::AppendResult> appended = store_.Append(std::move(append));
  if (!appended.ok()) {
    spdlog::error("charge not recorded request_id={} tenant={} payment={} stream={} error=\"{}\"",
                  request_id, tenant_id, payment.payment_id(), stream,
                  std::string(appended.status().message()));
    return respond(
        JsonError(appended.status().code() == absl::StatusCode::kUnavailable ? 503 : 500,
                  "database_unavailable",
                  "the charge was created but not recorded: retry with the same Idempotency-Key"));
  }
  if (appended->duplicate) {
    absl::Status error;
    auto replay = Replay(store_, append_key, payment.request_sha256(), request_id, error);
    if (replay) return respond(std::move(*replay));
    return respond(JsonError(503, "database_unavailable", "try again"));
  }
  spdlog::info(
      "charge recorded request_id={} tenant={} gateway={} payment={} stream={} position={}",
      request_id, tenant_id, payment.gateway(), payment.payment_id(), stream,
      appended->positions[0]);
  respond(
      {201, "application/json", PaymentJson(payment, stream, appended->positions[0], request_id)});
}

}  // namespace tally::http
