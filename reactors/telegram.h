#pragma once
// Telegram Bot API calls for the senders that message buyers and leads (deliveries, welcomes):
// a bot's token opened from its BotRegistered, pacing per bot (about 30/s) and per chat (about
// 1/s) shared by every sender of the process, and `sendMessage` with Telegram's answer read as
// an outbox SendResult — 429 waits `retry_after`; 403 (blocked by the person), 400 (chat not
// found), 401 and 404 (a bad token) are terminal; 5xx and transport errors are retried. A bot
// token never appears in an error (it is in the URL).
//
// Thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "gateways/gateway.h"
#include "ledger/event_store.h"
#include "reactors/outbox.h"
#include "reactors/pacer.h"
#include "tenants/secret_box.h"

namespace tally::reactors {

struct TelegramOptions {
  std::string api_base = "https://api.telegram.org";
  double per_bot_per_second = 30;
  double per_chat_per_second = 1;
};

class TelegramBots {
 public:
  // `transport` carries the Bot API calls (http::GatewayTransport in production); `box` opens
  // the bots' sealed tokens.
  TelegramBots(ledger::EventStore& store, tenants::SecretBox box, gateways::Transport transport,
               TelegramOptions options);

  // Waits for the bot's and the chat's next slot (call before the attempt is recorded).
  void Pace(const std::string& bot_id, int64_t chat_id);

  // sendMessage (link previews off). On success `result.outcome` is kSucceeded and
  // `message_id` Telegram's; the caller builds its success payload.
  struct Sent {
    SendResult result;
    int64_t message_id = 0;
  };
  Sent SendMessage(const std::string& bot_id, int64_t chat_id, const std::string& text);

  // Any Bot API method with a JSON body, its answer classified as SendMessage's is; on success
  // `body` is Telegram's whole answer ({"ok":true,"result":…}; for createChatInviteLink it holds
  // the invite link, a bearer credential never to be logged or recorded).
  struct Answer {
    SendResult result;
    std::string body;
  };
  Answer Call(const std::string& bot_id, const std::string& method, const std::string& json_body);

 private:
  absl::StatusOr<std::string> BotToken(const std::string& bot_id);

  ledger::EventStore& store_;
  const tenants::SecretBox box_;
  const gateways::Transport transport_;
  const TelegramOptions options_;
  Pacer per_bot_;
  Pacer per_chat_;
};

// The Telegram chat of a buyer's customer id "tg:<chat>" (for a private chat, the person's user
// id); nullopt for any other customer id.
std::optional<int64_t> TelegramChatOf(const std::string& customer_id);

// What an outbox request asks Telegram to send.
struct TelegramMessage {
  std::string bot_id;
  int64_t chat_id = 0;
  std::string text;
};

// Fills `kind`'s `pace` and `send` for requests of type `Request` that message one Telegram chat
// through `telegram` (not owned): `message` tells what a request sends; a request that does not
// parse is terminal ("<Request> does not parse"); success is recorded as `Sent` with Telegram's
// `telegram_message_id`.
template <typename Request, typename Sent>
void SendThroughTelegram(OutboxKind& kind, TelegramBots& telegram,
                         std::function<TelegramMessage(const Request&)> message) {
  kind.pace = [&telegram, message](const OutboxItem& item) {
    Request request;
    if (!request.ParseFromString(item.request)) return;  // send parks it
    const TelegramMessage m = message(request);
    telegram.Pace(m.bot_id, m.chat_id);
  };
  kind.send = [&telegram, message](const OutboxItem& item) {
    Request request;
    if (!request.ParseFromString(item.request)) {
      return SendResult{SendResult::Outcome::kTerminal, "",
                        Request::descriptor()->name() + " does not parse"};
    }
    const TelegramMessage m = message(request);
    TelegramBots::Sent sent = telegram.SendMessage(m.bot_id, m.chat_id, m.text);
    if (sent.result.outcome == SendResult::Outcome::kSucceeded) {
      Sent success;
      success.set_telegram_message_id(sent.message_id);
      sent.result.success_payload = success.SerializeAsString();
    }
    return sent.result;
  };
}

}  // namespace tally::reactors
