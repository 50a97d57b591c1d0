#pragma once
// The simulated Telegram Bot API, under /telegram: /bot{token}/{getMe|setWebhook|deleteWebhook|
// sendMessage|createChatInviteLink|banChatMember|unbanChatMember}, by GET or POST, parameters in
// a JSON or form body or the query string. createChatInviteLink answers a ChatInviteLink
// ({"invite_link":"https://t.me/+…","member_limit",…}) for a chat id that is a group or channel
// (negative); banChatMember and unbanChatMember answer true for a group/channel and a user id. A
// token it does not know is 401, as Telegram answers. sendMessage to a chat the control API blocked
// is 403 "bot was blocked by the user"; at the rates of the faults in force it is 429 (with
// parameters.retry_after) or 500. The messages bots send and Telegram accepted are kept for the
// control API; rejected ones are not. The updates the control API makes up (a user writing to
// the bot) are delivered to the bot's webhook, with its secret token in
// X-Telegram-Bot-Api-Secret-Token, through the webhook faults. Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gateways/payload_fields.h"
#include "http/message.h"
#include "sandbox/fault_injector.h"
#include "sandbox/shapes.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

class Telegram {
 public:
  // `delivery` and `faults` must outlive this object.
  Telegram(WebhookDelivery& delivery, FaultInjector& faults);

  // A bot the API accepts from now on; a bot it already knows keeps its webhook and counters.
  void AddBot(const std::string& token);

  // A request under the prefix; `path` is the rest of the path, split at '/'.
  http::HttpResponse Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
                            const Query& query);

  // The control API's POST /sandbox/telegram/updates {"token","user_id","text","first_name",
  // "username"}: a private text message to the bot, sent to its webhook.
  http::HttpResponse SendUpdate(const gateways::PayloadFields& fields);

  // The control API's POST /sandbox/telegram/blocked {"chat_id"[,"bot_id"]}: the user of the
  // private chat blocked the bot `bot_id` (the number before the token's colon), or every bot
  // when it is absent; with "blocked":false the user allows it again. 400 unless chat_id is an
  // integer.
  http::HttpResponse Block(const gateways::PayloadFields& fields);

  // The control API's GET /sandbox/telegram/messages[?bot_id=B][&chat_id=C]:
  // {"messages":[{"bot_id","chat_id","message_id","text","received_at_us"},…],"count":N}, oldest
  // first, those of bot B and chat C when given. bot_id is a number when the token starts with
  // one (as Telegram's do), else a string; received_at_us is Unix time in microseconds.
  std::string MessagesJson(const Query& filter) const;

  // The control API's GET /sandbox/telegram/members[?chat_id=C]: what bots did to the members
  // of VIP chats, oldest first: {"actions":[{"bot_id","method","chat_id","user_id",
  // "member_limit","expire_date","at_us"},…],"count":N} — invite links created
  // (createChatInviteLink, user_id 0), bans and unbans.
  std::string MembersJson(const Query& filter) const;

 private:
  struct Bot {
    std::string webhook_url;
    std::string secret_token;
    int64_t next_update_id = 100000001;
    int64_t next_message_id = 1;
  };

  struct Message {
    std::string bot_id;
    int64_t chat_id = 0;
    int64_t message_id = 0;
    std::string text;
    int64_t received_at_us = 0;
  };

  struct MemberAction {
    std::string bot_id;
    std::string method;
    int64_t chat_id = 0;
    int64_t user_id = 0;
    int64_t member_limit = 0;
    int64_t expire_date = 0;
    int64_t at_us = 0;
  };

  // Under mu_: createChatInviteLink, banChatMember or unbanChatMember.
  http::HttpResponse MemberMethod(const std::string& bot_id, const std::string& method,
                                  const std::string& chat_id, const std::string& user_id,
                                  const std::string& member_limit, const std::string& expire_date);

  // Under mu_: the answer to sendMessage from `bot`, keeping the message when it is accepted.
  http::HttpResponse SendMessage(const std::string& bot_id, Bot& bot, const std::string& chat_id,
                                 const std::string& text);

  WebhookDelivery& delivery_;
  FaultInjector& faults_;
  mutable std::mutex mu_;
  std::map<std::string, Bot> bots_;  // by token
  std::vector<Message> messages_;
  std::vector<MemberAction> member_actions_;
  int64_t next_invite_ = 1;
  std::set<std::pair<std::string, int64_t>> blocked_;  // (bot id or "" for all, chat id)
};

}  // namespace tally::sandbox
