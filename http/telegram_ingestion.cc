#include "http/telegram_ingestion.h"

#include <optional>

#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "http/request_metadata.h"
#include "ledger/event_json.h"
#include "tally/leads/v1/lead_events.pb.h"

namespace tally::http {
namespace {

constexpr size_t kMaxPayloadBytes = 512;

// "/start", "/start abc", "/start@my_bot abc" -> the payload ("abc"); nullopt when the text is
// not a /start command.
std::optional<std::string> ParseStart(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, "/start")) return std::nullopt;
  if (absl::ConsumePrefix(&text, "@")) {
    const size_t end = text.find(' ');
    text = end == absl::string_view::npos ? absl::string_view() : text.substr(end);
  }
  if (!text.empty() && text.front() != ' ') return std::nullopt;  // "/startle" is not /start
  return std::string(absl::StripAsciiWhitespace(text).substr(0, kMaxPayloadBytes));
}

}  // namespace

TelegramIngestion::TelegramIngestion(ledger::EventStore& store, const ledger::Clock& clock)
    : store_(store), clock_(clock) {}

absl::StatusOr<tenants::ResolvedBot> TelegramIngestion::Resolve(const std::string& bot_id) {
  if (auto cached = bots_.Get(bot_id, clock_.NowMicros())) return *cached;
  auto bot = tenants::ResolveBot(store_, bot_id);
  if (bot.ok()) bots_.Put(bot_id, *bot, clock_.NowMicros());
  return bot;
}

void TelegramIngestion::Handle(const HttpRequest& request, const std::string& bot_id,
                               Responder respond) {
  const std::string request_id = NewRequestId();
  if (request.method != "POST") return respond(JsonError(405, "method_not_allowed", "use POST"));
  if (bot_id.empty() || bot_id.size() > 20 || !absl::c_all_of(bot_id, absl::ascii_isdigit)) {
    return respond(JsonError(404, "unknown_bot", "no bot " + bot_id));
  }
  auto bot = Resolve(bot_id);
  if (!bot.ok()) {
    if (bot.status().code() == absl::StatusCode::kNotFound) {
      return respond(JsonError(404, "unknown_bot", "no bot " + bot_id));
    }
    return respond(JsonError(503, "database_unavailable", "try again"));
  }
  const std::string secret = HeaderValue(request, "x-telegram-bot-api-secret-token");
  if (!gateways::ConstantTimeEquals(gateways::Sha256Hex(secret), bot->webhook_secret_sha256)) {
    spdlog::warn("telegram update rejected request_id={} bot={} remote={} reason=\"bad secret\"",
                 request_id, bot_id, request.remote_address);
    return respond(JsonError(401, "unauthorized", "X-Telegram-Bot-Api-Secret-Token is wrong"));
  }
  if (!absl::StrContains(absl::AsciiStrToLower(HeaderValue(request, "content-type")),
                         "application/json")) {
    return respond(JsonError(415, "unsupported_media_type", "updates are application/json"));
  }
  auto update = gateways::PayloadFields::ParseJson(request.body);
  if (!update.ok()) {
    return respond(JsonError(400, "invalid_json", std::string(update.status().message())));
  }
  int64_t update_id = 0;
  if (!absl::SimpleAtoi(update->Text("update_id"), &update_id)) {
    return respond(JsonError(400, "invalid_update", "update_id is required"));
  }
  const std::optional<std::string> payload = ParseStart(update->Text("message.text"));
  int64_t user_id = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(update->Text("message.from.id"), &user_id)) {
    return respond({200, "application/json", R"({"status":"ignored"})"});
  }

  leads::v1::LeadStarted lead;
  lead.set_bot_id(bot_id);
  lead.set_tenant_id(bot->tenant_id);
  lead.set_telegram_user_id(user_id);
  int64_t number = 0;
  if (absl::SimpleAtoi(update->Text("message.chat.id"), &number)) lead.set_chat_id(number);
  if (absl::SimpleAtoi(update->Text("message.date"), &number)) lead.set_message_date_s(number);
  lead.set_first_name(update->Text("message.from.first_name").substr(0, 256));
  lead.set_username(update->Text("message.from.username").substr(0, 64));
  lead.set_language_code(update->Text("message.from.language_code").substr(0, 16));
  lead.set_start_payload(*payload);
  lead.set_update_id(update_id);
  lead.set_raw_update(request.body);

  const ledger::v1::Metadata metadata = RequestMetadata(
      request, request_id, ledger::v1::SOURCE_WEBHOOK, "telegram", clock_.NowMicros());
  const std::string stream = absl::StrCat("lead-", bot_id, "-", user_id);
  ledger::AppendRequest append{
      bot->tenant_id,
      stream,
      ledger::ExpectedVersion::Any(),
      {{"tally.leads.v1.LeadStarted", lead.SerializeAsString(), metadata.SerializeAsString()}},
      absl::StrCat("telegram-update:", bot_id, ":", update_id)};
  store_.AppendAsync(std::move(append), [respond = std::move(respond), request_id, bot_id,
                                         stream](absl::StatusOr<ledger::AppendResult> appended) {
    if (!appended.ok()) {
      spdlog::error("lead not recorded request_id={} bot={} stream={} error=\"{}\"", request_id,
                    bot_id, stream, std::string(appended.status().message()));
      return respond(JsonError(503, "database_unavailable", "the update was not recorded: retry"));
    }
    spdlog::info("lead recorded request_id={} bot={} stream={} position={} duplicate={}",
                 request_id, bot_id, stream, appended->positions[0], appended->duplicate);
    respond({200, "application/json",
             absl::StrCat(R"({"status":"recorded","stream":)", ledger::JsonQuote(stream),
                          R"(,"position":)", appended->positions[0], R"(,"duplicate":)",
                          appended->duplicate ? "true" : "false", "}")});
  });
}

}  // namespace tally::http
