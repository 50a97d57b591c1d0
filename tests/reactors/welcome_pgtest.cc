// Welcome recovery (issue 10, seed 004): every person who starts a seller's bot is welcomed
// exactly once — a returning lead who never got a welcome gets it, one who did gets no other —
// and no projection's schema can stop it: with the payments projection's table dropped, /start
// updates and gateway webhooks are still answered 2xx and recorded, welcomes still go out, and
// a rebuild brings the projection back equal to the log.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tests/reactors/serve_harness.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kBotToken[] = "7401:AAHwelcomerecovery";
constexpr char kBotId[] = "7401";
constexpr int64_t kFirstLead = 5100;

int64_t Lead(int i) { return kFirstLead + i; }

// How many welcomes the Telegram simulator received per lead chat.
std::map<int64_t, int> Welcomes(ServeHarness& h) {
  std::map<int64_t, int> out;
  for (const auto& [chat, n] : h.TelegramMessagesPerChat()) {
    if (chat >= Lead(0) && chat < Lead(100)) out[chat] = n;
  }
  return out;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

TEST_CASE("seed 004: every lead is welcomed once, and a dropped projection table stops nothing") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  h.StartHttp("http,projections");
  h.StartReactors();
  int64_t update = 1000;

  // Leads 0-9 start the bot before it has a welcome: nothing to send them.
  for (int i = 0; i < 10; ++i) CHECK(h.StartBot(kBotId, Lead(i), ++update) == 200);
  CommandResult bad = h.Tally(absl::StrCat("bots welcome --bot 9999 --text Oi"));
  CHECK(bad.exit_code == 2);
  CommandResult configured =
      h.Tally(absl::StrCat("bots welcome --bot ", kBotId, " --text 'Olá! Seu acesso chega aqui.'"));
  REQUIRE_MESSAGE(configured.exit_code == 0, configured.output);

  // A deploy outruns its migration: the payments projection's table is gone.
  {
    pqxx::connection c(h.url());
    pqxx::work txn(c);
    auto live =
        txn.exec("SELECT tablename FROM pg_tables WHERE tablename LIKE 'proj\\_payments\\_v%'");
    REQUIRE(live.size() >= 1);
    for (const auto& row : live) {
      txn.exec("DROP TABLE " + txn.quote_name(row[0].as<std::string>()) + " CASCADE");
    }
    txn.commit();
  }
  // Meanwhile leads 10-29 arrive, leads 0-4 come back, and buyers pay.
  for (int i = 10; i < 30; ++i) CHECK(h.StartBot(kBotId, Lead(i), ++update) == 200);
  for (int i = 0; i < 5; ++i) CHECK(h.StartBot(kBotId, Lead(i), ++update) == 200);
  std::vector<ChargeSpec> charges;
  for (int i = 0; i < 5; ++i) charges.push_back({"stripe", kBotId, absl::StrCat("tg:", 9100 + i)});
  auto charged = h.ChargeAndPay(charges);
  REQUIRE(charged.errors.empty());
  h.WaitWebhooksAcknowledged(charged.payments);

  // Welcomes go out while the projection is broken: they depend on the log alone.
  const bool welcomed = WaitUntil(
      [&] {
        auto w = Welcomes(h);
        return w.size() == 25;
      },
      60s);
  INFO(h.Tally("reactors status").output);
  CHECK(welcomed);

  // The operator rebuilds the projection; everything settles.
  CommandResult rebuilt = h.Tally("projections rebuild payments");
  CHECK_MESSAGE(rebuilt.exit_code == 0, rebuilt.output);
  // A lead who was welcomed comes back: no second welcome.
  CHECK(h.StartBot(kBotId, Lead(12), ++update) == 200);
  h.WaitQuiet(120s, [&] {
    for (const auto& s : h.Status()) {
      if (s.reactor == "outbox:welcome" && s.done == 25) return true;
    }
    return false;
  });
  CommandResult verified = h.Tally("projections verify payments");
  CHECK_MESSAGE(verified.exit_code == 0, verified.output);

  const auto welcomes = Welcomes(h);
  for (int i = 0; i < 30; ++i) {
    CAPTURE(i);
    auto it = welcomes.find(Lead(i));
    // Leads 5-9 started before the welcome existed and never came back.
    const int expected = i >= 5 && i < 10 ? 0 : 1;
    CHECK((it == welcomes.end() ? 0 : it->second) == expected);
  }
  // Every /start was recorded, and each lead holds at most one WelcomeIssued.
  int starts = 0;
  for (const auto& [stream, events] : h.Streams()) {
    if (!absl::StartsWith(stream, "lead-")) continue;
    starts += CountOf(events, "tally.leads.v1.LeadStarted");
    CHECK(CountOf(events, "tally.leads.v1.WelcomeIssued") <= 1);
  }
  CHECK(starts == 10 + 20 + 5 + 1);
  h.StopReactors();
  h.StopHttp();
}

TEST_CASE("a lead who had blocked the bot is welcomed when they start it again") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  h.StartHttp("http,projections");
  h.StartReactors();
  REQUIRE(h.Tally(absl::StrCat("bots welcome --bot ", kBotId, " --text Oi")).exit_code == 0);
  REQUIRE(h.BlockChat(Lead(50)));
  CHECK(h.StartBot(kBotId, Lead(50), 1) == 200);
  // Telegram answers 403: the welcome is parked, and listed.
  REQUIRE(WaitUntil(
      [&] {
        for (const auto& s : h.Status()) {
          if (s.reactor == "outbox:welcome" && s.parked == 1) return true;
        }
        return false;
      },
      60s));
  CHECK(absl::StrContains(h.Tally("reactors parked --reactor welcome").output,
                          absl::StrCat("lead-", kBotId, "-", Lead(50))));
  // They unblock the bot and start it again: the welcome is retried and arrives, once.
  REQUIRE(h.UnblockChat(Lead(50)));
  CHECK(h.StartBot(kBotId, Lead(50), 2) == 200);
  h.WaitQuiet(60s, [&] { return Welcomes(h)[Lead(50)] == 1; });
  CHECK(h.StartBot(kBotId, Lead(50), 3) == 200);
  h.WaitQuiet(60s);
  CHECK(Welcomes(h)[Lead(50)] == 1);
  h.StopReactors();
  h.StopHttp();
}

TEST_CASE("the admin API lists a parked welcome and retries it: admin keys only, audited") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  h.StartHttp("http,projections");
  h.StartReactors();
  REQUIRE(h.Tally(absl::StrCat("bots welcome --bot ", kBotId, " --text Oi")).exit_code == 0);
  CommandResult created = h.Tally("admin keys create");
  REQUIRE(created.exit_code == 0);
  const std::string admin = created.output.substr(8, created.output.find('\n') - 8);
  REQUIRE(h.BlockChat(Lead(51)));
  CHECK(h.StartBot(kBotId, Lead(51), 1) == 200);
  const std::string stream = absl::StrCat("lead-", kBotId, "-", Lead(51));
  REQUIRE(WaitUntil(
      [&] {
        return absl::StrContains(h.Api("GET", "/v1/admin/parked?reactor=welcome", admin).body,
                                 stream);
      },
      60s));
  // Owner keys are refused, whatever they ask.
  CHECK(h.Api("GET", "/v1/admin/parked", h.api_key()).status == 403);
  CHECK(h.Api("POST", "/v1/admin/parked/retry", h.api_key(), R"({"all":true})").status == 403);
  CHECK(h.Api("GET", "/v1/admin/parked?reactor=welcome&x=1", admin).status == 400);
  CHECK(h.Api("POST", "/v1/admin/parked/retry", admin, R"({"all":true,"stream_id":"x"})").status ==
        400);
  CHECK(h.Api("POST", "/v1/admin/parked/retry", admin, R"({"stream_id":"lead-none"})").status ==
        404);
  // Unblocked, retried through the API: the welcome arrives once, and the retry names the key.
  REQUIRE(h.UnblockChat(Lead(51)));
  http::ClientResponse retried =
      h.Api("POST", "/v1/admin/parked/retry", admin,
            absl::StrCat(R"({"stream_id":")", stream, R"(","reason":"unblocked"})"));
  CHECK(retried.status == 200);
  CHECK(retried.body == R"({"retried":1})");
  h.WaitQuiet(60s, [&] { return Welcomes(h)[Lead(51)] == 1; });
  CHECK(!absl::StrContains(h.Api("GET", "/v1/admin/parked", admin).body, stream));
  bool audited = false;
  for (const auto& event : h.Streams()[stream]) {
    audited = audited || absl::EndsWith(event.type, "OutboxRetryRequested");
  }
  CHECK(audited);
  h.StopReactors();
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
