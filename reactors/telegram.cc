#include "reactors/telegram.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "gateways/payload_fields.h"
#include "ledger/event_json.h"
#include "tally/bots/v1/bot_events.pb.h"

namespace tally::reactors {
namespace {

// Telegram's answer: ok with its result, or its error code, description and retry_after.
TelegramBots::Answer Classify(const absl::StatusOr<gateways::ApiResponse>& answer,
                              const std::string& token) {
  TelegramBots::Answer sent;
  SendResult& r = sent.result;
  if (!answer.ok()) {
    r.outcome = SendResult::Outcome::kRetry;
    r.error = absl::StrReplaceAll(answer.status().ToString(), {{token, "<token>"}});
    return sent;
  }
  r.http_status = answer->status;
  auto fields = gateways::PayloadFields::ParseJson(answer->body);
  if (answer->status == 200 && fields.ok() && fields->Text("ok") == "true") {
    sent.body = answer->body;
    r.outcome = SendResult::Outcome::kSucceeded;
    return sent;
  }
  const std::string description = fields.ok() ? fields->Text("description") : "";
  int code = answer->status;
  if (fields.ok()) (void)absl::SimpleAtoi(fields->Text("error_code"), &code);
  r.error_code = code;
  r.error = absl::StrCat("telegram ", code, ": ", description.substr(0, 300));
  if (code == 429) {
    int64_t retry_after_s = 0;
    if (fields.ok()) (void)absl::SimpleAtoi(fields->Text("parameters.retry_after"), &retry_after_s);
    r.outcome = SendResult::Outcome::kRetry;
    // Bounded: a huge value must not hold a message for years (nor overflow).
    r.retry_after_us = std::clamp<int64_t>(retry_after_s, 1, 15 * 60) * 1000000;
  } else if (code == 403 || code == 400 || code == 401 || code == 404) {
    // Blocked by the person, chat not found, a bad token: trying again changes nothing.
    r.outcome = SendResult::Outcome::kTerminal;
  } else {
    r.outcome = SendResult::Outcome::kRetry;
  }
  return sent;
}

}  // namespace

std::optional<int64_t> TelegramChatOf(const std::string& customer_id) {
  absl::string_view id = customer_id;
  int64_t chat = 0;
  if (!absl::ConsumePrefix(&id, "tg:") || !absl::SimpleAtoi(id, &chat) || chat == 0) {
    return std::nullopt;
  }
  return chat;
}

TelegramBots::TelegramBots(ledger::EventStore& store, tenants::SecretBox box,
                           gateways::Transport transport, TelegramOptions options)
    : store_(store),
      box_(std::move(box)),
      transport_(std::move(transport)),
      options_(std::move(options)),
      per_bot_(options_.per_bot_per_second),
      per_chat_(options_.per_chat_per_second) {}

void TelegramBots::Pace(const std::string& bot_id, int64_t chat_id) {
  per_bot_.Wait(bot_id);
  per_chat_.Wait(absl::StrCat(bot_id, ":", chat_id));
}

absl::StatusOr<std::string> TelegramBots::BotToken(const std::string& bot_id) {
  auto found = store_.FindByIdempotencyKey("bot:" + bot_id);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return absl::NotFoundError(absl::StrCat("no bot ", bot_id));
  bots::v1::BotRegistered registered;
  if (!registered.ParseFromString((*found)->payload)) {
    return absl::DataLossError("BotRegistered does not parse");
  }
  return box_.Open(registered.token_sealed());
}

TelegramBots::Sent TelegramBots::SendMessage(const std::string& bot_id, int64_t chat_id,
                                             const std::string& text) {
  Answer answer =
      Call(bot_id, "sendMessage",
           absl::StrCat(R"({"chat_id":)", chat_id, R"(,"text":)", ledger::JsonQuote(text),
                        R"(,"link_preview_options":{"is_disabled":true}})"));
  Sent sent;
  sent.result = std::move(answer.result);
  if (sent.result.outcome == SendResult::Outcome::kSucceeded) {
    auto fields = gateways::PayloadFields::ParseJson(answer.body);
    if (fields.ok()) (void)absl::SimpleAtoi(fields->Text("result.message_id"), &sent.message_id);
  }
  return sent;
}

TelegramBots::Answer TelegramBots::Call(const std::string& bot_id, const std::string& method,
                                        const std::string& json_body) {
  Answer answer;
  absl::StatusOr<std::string> token = BotToken(bot_id);
  if (!token.ok()) {
    answer.result.outcome = token.status().code() == absl::StatusCode::kUnavailable
                                ? SendResult::Outcome::kRetry
                                : SendResult::Outcome::kTerminal;
    answer.result.error = std::string(token.status().message());
    return answer;
  }
  std::string base = options_.api_base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  gateways::ApiRequest request{"POST",
                               absl::StrCat(base, "/bot", *token, "/", method),
                               {{"Content-Type", "application/json"}},
                               json_body,
                               absl::StrCat("telegram ", method, " for bot ", bot_id)};
  return Classify(transport_(request), *token);
}

}  // namespace tally::reactors
