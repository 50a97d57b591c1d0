#include "sandbox/telegram.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

// A Telegram Update carrying a private text message.
std::string TelegramUpdateJson(int64_t update_id, int64_t message_id, int64_t user_id,
                               const std::string& first_name, const std::string& username,
                               const std::string& text, int64_t date_s) {
  const std::string user =
      absl::StrCat(R"({"id":)", user_id, R"(,"is_bot":false,"first_name":)", JsonQuote(first_name),
                   R"(,"username":)", JsonQuote(username), R"(,"language_code":"pt-br"})");
  std::string entities;
  if (absl::StartsWith(text, "/")) {
    const size_t end = text.find(' ');
    entities =
        absl::StrCat(R"(,"entities":[{"offset":0,"length":)",
                     end == std::string::npos ? text.size() : end, R"(,"type":"bot_command"}])");
  }
  return absl::StrCat(R"({"update_id":)", update_id, R"(,"message":{"message_id":)", message_id,
                      R"(,"from":)", user, R"(,"chat":{"id":)", user_id, R"(,"first_name":)",
                      JsonQuote(first_name), R"(,"username":)", JsonQuote(username),
                      R"(,"type":"private"},"date":)", date_s, R"(,"text":)", JsonQuote(text),
                      entities, "}}");
}

// A bot id as JSON: a number, as Telegram's are, or a string when a token made up for a test
// does not start with one.
std::string BotIdJson(const std::string& bot_id) {
  int64_t number = 0;
  if (absl::SimpleAtoi(bot_id, &number) && absl::StrCat(number) == bot_id) return bot_id;
  return JsonQuote(bot_id);
}

}  // namespace

Telegram::Telegram(WebhookDelivery& delivery, FaultInjector& faults)
    : delivery_(delivery), faults_(faults) {}

void Telegram::AddBot(const std::string& token) {
  std::lock_guard lock(mu_);
  bots_.try_emplace(token);
}

http::HttpResponse Telegram::Handle(const http::HttpRequest& request,
                                    const std::vector<std::string>& path, const Query& query) {
  if (path.size() != 2 || !absl::StartsWith(path[0], "bot")) {
    return Json(404, R"({"ok":false,"error_code":404,"description":"Not Found"})");
  }
  const std::string token = path[0].substr(3);
  const std::string& method = path[1];
  absl::StatusOr<gateways::PayloadFields> fields =
      request.body.empty() ? gateways::PayloadFields::Parse("application/x-www-form-urlencoded", "")
                           : gateways::PayloadFields::Parse(
                                 http::HeaderValue(request, "content-type"), request.body);
  if (!fields.ok()) {
    return Json(
        400,
        R"({"ok":false,"error_code":400,"description":"Bad Request: can't parse JSON object"})");
  }
  auto param = [&](const char* name) {
    std::string v = fields->Text(name);
    if (v.empty() && query.count(name)) v = query.at(name);
    return v;
  };
  std::lock_guard lock(mu_);
  auto bot = bots_.find(token);
  if (bot == bots_.end()) {
    return Json(401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})");
  }
  const std::string bot_id = token.substr(0, token.find(':'));
  if (method == "getMe") {
    return Json(200, absl::StrCat(R"({"ok":true,"result":{"id":)", BotIdJson(bot_id),
                                  R"(,"is_bot":true,"first_name":"Sandbox Bot","username":)",
                                  JsonQuote(absl::StrCat("sandbox_", bot_id, "_bot")), "}}"));
  }
  if (method == "setWebhook") {
    bot->second.webhook_url = param("url");
    bot->second.secret_token = param("secret_token");
    return Json(200, R"({"ok":true,"result":true,"description":"Webhook was set"})");
  }
  if (method == "deleteWebhook") {
    bot->second.webhook_url.clear();
    return Json(200, R"({"ok":true,"result":true,"description":"Webhook was deleted"})");
  }
  if (method == "sendMessage")
    return SendMessage(bot_id, bot->second, param("chat_id"), param("text"));
  if (method == "createChatInviteLink" || method == "banChatMember" ||
      method == "unbanChatMember") {
    return MemberMethod(bot_id, method, param("chat_id"), param("user_id"), param("member_limit"),
                        param("expire_date"));
  }
  return Json(404, R"({"ok":false,"error_code":404,"description":"Not Found: method not found"})");
}

http::HttpResponse Telegram::SendMessage(const std::string& bot_id, Bot& bot,
                                         const std::string& chat_id, const std::string& text) {
  int64_t chat = 0;
  if (!absl::SimpleAtoi(chat_id, &chat) || text.empty()) {
    return Json(
        400,
        R"({"ok":false,"error_code":400,"description":"Bad Request: chat_id and text are required"})");
  }
  if (blocked_.contains({"", chat}) || blocked_.contains({bot_id, chat})) {
    return Json(
        403,
        R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})");
  }
  const Faults faults = faults_.faults();
  if (faults_.Chance(faults.telegram_429_rate)) {
    const int retry_after = faults.telegram_retry_after_s;
    return Json(
        429, absl::StrCat(R"({"ok":false,"error_code":429,"description":)",
                          JsonQuote(absl::StrCat("Too Many Requests: retry after ", retry_after)),
                          R"(,"parameters":{"retry_after":)", retry_after, "}}"));
  }
  if (faults_.Chance(faults.telegram_error_rate)) {
    return Json(500, R"({"ok":false,"error_code":500,"description":"Internal Server Error"})");
  }
  const int64_t message_id = bot.next_message_id++;
  const absl::Time now = absl::Now();
  messages_.push_back(Message{bot_id, chat, message_id, text, absl::ToUnixMicros(now)});
  return Json(200, absl::StrCat(R"({"ok":true,"result":{"message_id":)", message_id,
                                R"(,"from":{"id":)", BotIdJson(bot_id),
                                R"(,"is_bot":true,"first_name":"Sandbox Bot"},"chat":{"id":)", chat,
                                R"(,"type":"private"},"date":)", absl::ToUnixSeconds(now),
                                R"(,"text":)", JsonQuote(text), "}}"));
}

http::HttpResponse Telegram::MemberMethod(const std::string& bot_id, const std::string& method,
                                          const std::string& chat_id, const std::string& user_id,
                                          const std::string& member_limit,
                                          const std::string& expire_date) {
  MemberAction action;
  action.bot_id = bot_id;
  action.method = method;
  if (!absl::SimpleAtoi(chat_id, &action.chat_id) || action.chat_id >= 0) {
    return Json(400,
                R"({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})");
  }
  const bool invite = method == "createChatInviteLink";
  if (!invite && (!absl::SimpleAtoi(user_id, &action.user_id) || action.user_id <= 0)) {
    return Json(
        400,
        R"({"ok":false,"error_code":400,"description":"Bad Request: invalid user_id specified"})");
  }
  if (!member_limit.empty() && (!absl::SimpleAtoi(member_limit, &action.member_limit) ||
                                action.member_limit < 1 || action.member_limit > 99999)) {
    return Json(
        400, R"({"ok":false,"error_code":400,"description":"Bad Request: invalid member limit"})");
  }
  if (!expire_date.empty()) (void)absl::SimpleAtoi(expire_date, &action.expire_date);
  const Faults faults = faults_.faults();
  if (faults_.Chance(faults.telegram_error_rate)) {
    return Json(500, R"({"ok":false,"error_code":500,"description":"Internal Server Error"})");
  }
  action.at_us = absl::ToUnixMicros(absl::Now());
  member_actions_.push_back(action);
  if (!invite) return Json(200, R"({"ok":true,"result":true})");
  return Json(
      200, absl::StrCat(
               R"({"ok":true,"result":{"invite_link":"https://t.me/+sandbox)", next_invite_++,
               R"(","creator":{"id":)", BotIdJson(bot_id),
               R"(,"is_bot":true,"first_name":"Sandbox Bot"},)",
               R"("creates_join_request":false,"is_primary":false,)",
               R"("is_revoked":false,"member_limit":)",
               action.member_limit == 0 ? 99999 : action.member_limit,
               action.expire_date > 0 ? absl::StrCat(R"(,"expire_date":)", action.expire_date) : "",
               "}}"));
}

std::string Telegram::MembersJson(const Query& filter) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> rows;
  for (const MemberAction& a : member_actions_) {
    if (filter.count("chat_id") && filter.at("chat_id") != absl::StrCat(a.chat_id)) continue;
    rows.push_back(absl::StrCat(R"({"bot_id":)", BotIdJson(a.bot_id), R"(,"method":)",
                                JsonQuote(a.method), R"(,"chat_id":)", a.chat_id, R"(,"user_id":)",
                                a.user_id, R"(,"member_limit":)", a.member_limit,
                                R"(,"expire_date":)", a.expire_date, R"(,"at_us":)", a.at_us, "}"));
  }
  return absl::StrCat(R"({"actions":[)", absl::StrJoin(rows, ","), R"(],"count":)", rows.size(),
                      "}");
}

http::HttpResponse Telegram::Block(const gateways::PayloadFields& fields) {
  int64_t chat = 0;
  if (!absl::SimpleAtoi(fields.Text("chat_id"), &chat)) {
    return Json(400, R"({"message":"chat_id (an integer) required"})");
  }
  std::lock_guard lock(mu_);
  // {"blocked":false} unblocks: the person allowed the bot again.
  if (fields.Text("blocked") == "false") {
    blocked_.erase({fields.Text("bot_id"), chat});
  } else {
    blocked_.emplace(fields.Text("bot_id"), chat);
  }
  return Json(200, R"({"ok":true})");
}

http::HttpResponse Telegram::SendUpdate(const gateways::PayloadFields& f) {
  std::lock_guard lock(mu_);
  auto bot = bots_.find(f.Text("token"));
  if (bot == bots_.end()) return Json(404, R"({"message":"unknown bot token"})");
  if (bot->second.webhook_url.empty()) {
    return Json(409, R"({"message":"the bot has no webhook: call setWebhook first"})");
  }
  int64_t user_id = 0;
  if (!absl::SimpleAtoi(f.Text("user_id"), &user_id) || f.Text("text").empty()) {
    return Json(400, R"({"message":"user_id and text required"})");
  }
  const int64_t update_id = bot->second.next_update_id++;
  const int64_t message_id = bot->second.next_message_id++;
  Notification n;
  n.url = bot->second.webhook_url;
  n.headers = {{"Content-Type", "application/json"}};
  if (!bot->second.secret_token.empty()) {
    n.headers.emplace_back("X-Telegram-Bot-Api-Secret-Token", bot->second.secret_token);
  }
  n.body = TelegramUpdateJson(update_id, message_id, user_id, f.Text("first_name"),
                              f.Text("username"), f.Text("text"), absl::ToUnixSeconds(absl::Now()));
  delivery_.Send(std::move(n));
  return Json(200, absl::StrCat(R"({"update_id":)", update_id, "}"));
}

std::string Telegram::MessagesJson(const Query& filter) const {
  auto wanted = [&filter](const char* name, const std::string& value) {
    auto it = filter.find(name);
    return it == filter.end() || it->second == value;
  };
  std::lock_guard lock(mu_);
  std::vector<std::string> rows;
  for (const Message& m : messages_) {
    if (!wanted("bot_id", m.bot_id) || !wanted("chat_id", absl::StrCat(m.chat_id))) continue;
    rows.push_back(absl::StrCat(R"({"bot_id":)", BotIdJson(m.bot_id), R"(,"chat_id":)", m.chat_id,
                                R"(,"message_id":)", m.message_id, R"(,"text":)", JsonQuote(m.text),
                                R"(,"received_at_us":)", m.received_at_us, "}"));
  }
  return absl::StrCat(R"({"messages":[)", absl::StrJoin(rows, ","), R"(],"count":)", rows.size(),
                      "}");
}

}  // namespace tally::sandbox
