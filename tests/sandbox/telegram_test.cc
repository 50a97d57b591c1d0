// The Telegram Bot API simulator as the delivery reactor's tests use it, over real loopback
// HTTP: every accepted sendMessage kept and listed by bot and chat, and the ways Telegram
// refuses one (429 with retry_after, 500, a user who blocked the bot), none of which is kept.

#include <doctest/doctest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "http/client.h"
#include "ledger/event_json.h"
#include "tests/sandbox/sandbox_harness.h"
#include "tests/support/sandbox_control.h"

namespace tally::sandbox {
namespace {

using namespace std::chrono_literals;

struct TelegramHarness : Harness {
  TelegramHarness() {
    for (const char* token : {"42:first", "43:second", "sandbox-bot"}) {
      testing::SandboxAccount(client, *sandbox, "telegram", token, "", "");
    }
  }
  http::ClientResponse Send(const std::string& token, int64_t chat, const std::string& text) {
    auto r = client.Send(
        {"POST",
         absl::StrCat(sandbox->BaseUrl("telegram"), "/bot", token, "/sendMessage"),
         {{"Content-Type", "application/json"}},
         absl::StrCat(R"({"chat_id":)", chat, R"(,"text":)", ledger::JsonQuote(text), "}"),
         3000ms});
    REQUIRE(r.ok());
    return *r;
  }
  ParsedJson Messages(const std::string& query = "") {
    auto r = Get("/sandbox/telegram/messages" + query);
    REQUIRE(r.status == 200);
    return ParsedJson(r.body);
  }
};

int64_t Int(simdjson::dom::element e) { return int64_t(e.get_int64()); }

TEST_CASE("Telegram keeps every sendMessage it accepts, listed by bot and chat, escaped") {
  TelegramHarness h;
  const std::string tricky = "Seu acesso: \"VIP\" \\ https://x/d/abc\nObrigado! ✅";
  const int64_t before_us = absl::ToUnixMicros(absl::Now());
  CHECK(h.Send("42:first", 1001, tricky).status == 200);
  CHECK(h.Send("42:first", 1002, "two").status == 200);
  CHECK(h.Send("43:second", 1001, "three").status == 200);
  CHECK(h.Send("sandbox-bot", 1001, "four").status == 200);
  const int64_t after_us = absl::ToUnixMicros(absl::Now());

  ParsedJson all = h.Messages();
  CHECK(Int(all["count"]) == 4);
  simdjson::dom::element first = all["messages"].at(0);
  CHECK(Int(first["bot_id"]) == 42);
  CHECK(Int(first["chat_id"]) == 1001);
  CHECK(Int(first["message_id"]) >= 1);
  CHECK(JsonText(first["text"]) == tricky);
  CHECK(Int(first["received_at_us"]) >= before_us);
  CHECK(Int(first["received_at_us"]) <= after_us);
  // A token made up without a numeric id still lists as valid JSON.
  CHECK(JsonText(all["messages"].at(3)["bot_id"]) == "sandbox-bot");

  CHECK(Int(h.Messages("?bot_id=42")["count"]) == 2);
  CHECK(Int(h.Messages("?chat_id=1001")["count"]) == 3);
  ParsedJson one = h.Messages("?bot_id=43&chat_id=1001");
  CHECK(Int(one["count"]) == 1);
  CHECK(JsonText(one["messages"].at(0)["text"]) == "three");
  CHECK(Int(h.Messages("?bot_id=44")["count"]) == 0);
}

TEST_CASE("Telegram refusals: 429 with retry_after, 500, a blocked chat 403, and none is kept") {
  TelegramHarness h;
  CHECK(h.Control("/sandbox/faults", R"({"telegram_429_rate":1})").status == 200);
  auto limited = h.Send("42:first", 1001, "a");
  CHECK(limited.status == 429);
  ParsedJson too_many(limited.body);
  CHECK(JsonText(too_many["ok"]) == "false");
  CHECK(Int(too_many["error_code"]) == 429);
  CHECK(JsonText(too_many["description"]) == "Too Many Requests: retry after 1");
  CHECK(Int(too_many["parameters"]["retry_after"]) == 1);
  CHECK(h.Control("/sandbox/faults", R"({"telegram_retry_after_s":9})").status == 200);
  CHECK(Int(ParsedJson(h.Send("42:first", 1001, "b").body)["parameters"]["retry_after"]) == 9);

  CHECK(h.Control("/sandbox/faults", R"({"telegram_429_rate":0,"telegram_error_rate":1})").status ==
        200);
  auto failed = h.Send("42:first", 1001, "c");
  CHECK(failed.status == 500);
  CHECK(Int(ParsedJson(failed.body)["error_code"]) == 500);
  CHECK(h.Control("/sandbox/faults", R"({"telegram_error_rate":0})").status == 200);

  // Chat 2001 blocked every bot; chat 2002 blocked bot 43 only.
  CHECK(h.Control("/sandbox/telegram/blocked", R"({"chat_id":2001})").status == 200);
  CHECK(h.Control("/sandbox/telegram/blocked", R"({"chat_id":2002,"bot_id":"43"})").status == 200);
  CHECK(h.Control("/sandbox/telegram/blocked", R"({"chat_id":"me"})").status == 400);
  for (const char* token : {"42:first", "43:second"}) {
    auto blocked = h.Send(token, 2001, "d");
    CHECK(blocked.status == 403);
    ParsedJson forbidden(blocked.body);
    CHECK(Int(forbidden["error_code"]) == 403);
    CHECK(JsonText(forbidden["description"]) == "Forbidden: bot was blocked by the user");
  }
  CHECK(h.Send("43:second", 2002, "e").status == 403);
  CHECK(h.Send("42:first", 2002, "f").status == 200);
  CHECK(h.Send("42:first", 1001, "g").status == 200);

  ParsedJson kept = h.Messages();
  CHECK(Int(kept["count"]) == 2);
  CHECK(JsonText(kept["messages"].at(0)["text"]) == "f");
  CHECK(JsonText(kept["messages"].at(1)["text"]) == "g");
}

}  // namespace
}  // namespace tally::sandbox
