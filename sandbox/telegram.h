#pragma once
// The simulated Telegram Bot API, under /telegram: /bot{token}/{getMe|setWebhook|deleteWebhook|
// sendMessage}, by GET or POST, parameters in a JSON or form body or the query string. A token
// it does not know is 401, as Telegram answers. The messages bots send are kept for the control
// API; the updates the control API makes up (a user writing to the bot) are delivered to the
// bot's webhook, with its secret token in X-Telegram-Bot-Api-Secret-Token, through the webhook
// faults. Thread-safe.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateways/payload_fields.h"
#include "http/message.h"
#include "sandbox/shapes.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

class Telegram {
 public:
  // `delivery` must outlive this object.
  explicit Telegram(WebhookDelivery& delivery);

  // A bot the API accepts from now on; a bot it already knows keeps its webhook and counters.
  void AddBot(const std::string& token);

  // A request under the prefix; `path` is the rest of the path, split at '/'.
  http::HttpResponse Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
                            const Query& query);

  // The control API's POST /sandbox/telegram/updates {"token","user_id","text","first_name",
  // "username"}: a private text message to the bot, sent to its webhook.
  http::HttpResponse SendUpdate(const gateways::PayloadFields& fields);

  // {"messages":[{"bot_id":…,"chat_id":…,"message_id":…,"text":…},…]}, oldest first.
  std::string MessagesJson() const;

 private:
  struct Bot {
    std::string webhook_url;
    std::string secret_token;
    int64_t next_update_id = 100000001;
    int64_t next_message_id = 1;
  };

  WebhookDelivery& delivery_;
  mutable std::mutex mu_;
  std::map<std::string, Bot> bots_;  // by token
  std::vector<std::string> messages_;
};

}  // namespace tally::sandbox
