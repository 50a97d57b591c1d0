// An upsell end to end through real `tally serve` processes (issue 10, seed 000): a confirmed
// sale triggers the bot's upsell, its timer fires, the Telegram simulator receives the offer
// with its link; the link creates the offer's charge once (opened twice: one charge), carrying
// its parent and offer; paying it delivers the offer's product, and offers nothing more.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"
#include "tests/reactors/serve_harness.h"

namespace tally::testing {
namespace {

using namespace std::chrono_literals;
namespace pb = payments::v1;

constexpr char kBotToken[] = "7601:AAHoffersendtoend";
constexpr char kBotId[] = "7601";
constexpr int64_t kChat = 7700;

std::string OfferLink(const std::vector<std::string>& texts) {
  for (const std::string& text : texts) {
    const size_t at = text.find("/offers/");
    if (at == std::string::npos) continue;
    size_t end = at;
    while (end < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[end]))) ++end;
    return text.substr(at, end - at);
  }
  return "";
}

TEST_CASE("an upsell reaches the buyer, its link charges once with its parent, and it delivers") {
  ServeHarness h(std::vector<BotSpec>{{kBotToken, ""}});
  tenants::ProductSettings extra;
  extra.bot_id = kBotId;
  extra.product_id = "extra";
  extra.name = "Mentoria Extra";
  extra.price_minor = 2990;
  extra.deliver_url = "https://cursos.example.com/extra";
  REQUIRE(tenants::ConfigureProduct(h.store(), h.tenant_id(), extra).ok());
  // Bad input is refused, naming the field; then the operator configures the upsell.
  CommandResult negative = h.Tally(absl::StrCat(
      "offers set --bot ", kBotId, " --offer up1 --kind upsell --delay-s -5 --product extra"));
  CHECK(negative.exit_code == 2);
  CHECK(absl::StrContains(negative.output, "delay_s"));
  CommandResult cheap = h.Tally(absl::StrCat("offers set --bot ", kBotId,
                                             " --offer up1 --kind upsell --delay-s 0 --product "
                                             "extra --price-minor 10"));
  CHECK(cheap.exit_code == 2);
  CHECK(absl::StrContains(cheap.output, "price_minor"));
  CommandResult set = h.Tally(
      absl::StrCat("offers set --bot ", kBotId,
                   " --offer up1 --kind upsell --delay-s 0 --trigger-product vip --product extra "
                   "--price-minor 2490 --text 'Leve também a Mentoria Extra'"));
  REQUIRE_MESSAGE(set.exit_code == 0, set.output);
  h.StartHttp("http,projections");
  h.StartReactors();

  auto charged = h.ChargeAndPay({{"stripe", kBotId, absl::StrCat("tg:", kChat)}});
  REQUIRE(charged.errors.empty());
  const Payment& parent = charged.payments[0];
  // The delivery and the offer reach the buyer.
  h.WaitQuiet(60s, [&] { return h.TelegramTexts(kChat).size() == 2; });
  const std::string link = OfferLink(h.TelegramTexts(kChat));
  REQUIRE_MESSAGE(!link.empty(), h.TelegramTexts(kChat).back());
  CHECK(absl::StrContains(h.TelegramTexts(kChat).back(), "R$ 24,90"));

  // Opened twice: one PIX, one charge at the gateway.
  const int before = h.ChargesAt("stripe");
  auto page = h.Get(h.HttpUrl() + link);
  CHECK(page.status == 200);
  CHECK(absl::StrContains(page.body, "PIX copia e cola"));
  auto again = h.Get(h.HttpUrl() + link);
  CHECK(again.status == 200);
  CHECK(again.body == page.body);
  CHECK(h.ChargesAt("stripe") == before + 1);
  // A forged link is a 404 page, not an error.
  std::string forged = link;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK(h.Get(h.HttpUrl() + forged).status == 404);
  CHECK(h.Get(h.HttpUrl() + "/offers/nothing").status == 404);

  // The offer's charge names its parent and offer.
  std::string offer_txid;
  for (const auto& [stream, events] : h.Streams()) {
    for (const auto& e : events) {
      if (e.type != "tally.payments.v1.PaymentCreated") continue;
      pb::PaymentCreated p;
      REQUIRE(p.ParseFromString(e.payload));
      if (p.parent_payment_id().empty()) continue;
      CHECK(p.parent_payment_id() == parent.payment_id);
      CHECK(p.offer_id() == "up1");
      CHECK(p.offer_kind() == "upsell");
      CHECK(p.product_id() == "extra");
      CHECK(p.amount().amount_minor() == 2490);
      CHECK(p.customer_id() == absl::StrCat("tg:", kChat));
      offer_txid = p.gateway_transaction_id();
    }
  }
  REQUIRE(!offer_txid.empty());
  // Paid: the offer's product is delivered, and an offer's sale triggers no further offer.
  REQUIRE(h.ActOnCharge("stripe", offer_txid, "pay") == 200);
  h.WaitQuiet(60s, [&] { return h.TelegramTexts(kChat).size() == 3; });
  std::this_thread::sleep_for(500ms);
  h.WaitQuiet(60s);
  CHECK(h.TelegramTexts(kChat).size() == 3);
  // The parent refunded: the link answers that the offer ended (checked at every opening).
  REQUIRE(h.ActOnCharge("stripe", parent.transaction_id, "refund") == 200);
  h.WaitQuiet(60s, [&] { return h.Get(h.HttpUrl() + link).status == 410; });
  // A removal needs only the offer's id.
  CommandResult later = h.Tally(
      absl::StrCat("offers set --bot ", kBotId, " --offer late --kind upsell --product extra"));
  REQUIRE_MESSAGE(later.exit_code == 0, later.output);
  CommandResult removed =
      h.Tally(absl::StrCat("offers set --bot ", kBotId, " --offer late --remove"));
  CHECK_MESSAGE(removed.exit_code == 0, removed.output);
  h.StopReactors();
  h.StopHttp();
}

TEST_CASE(
    "seed 000: 500 upsells survive a stop of every reactor: each fires once, none for a refund") {
  constexpr int kSales = 500;
  constexpr int kRefunded = 50;
  constexpr int64_t kFirstChat = 8000;
  constexpr int kDelayS = 90;
  ServeHarness h(std::vector<BotSpec>{{"7602:AAHseed000restart", ""}});
  tenants::ProductSettings extra;
  extra.bot_id = "7602";
  extra.product_id = "extra";
  extra.name = "Mentoria Extra";
  extra.price_minor = 2990;
  extra.deliver_url = "https://cursos.example.com/extra";
  REQUIRE(tenants::ConfigureProduct(h.store(), h.tenant_id(), extra).ok());
  REQUIRE(tenants::ConfigureOffer(h.store(), h.tenant_id(),
                                  {"7602", "up", "upsell", kDelayS, "", "extra", 2490, 0, "", true})
              .ok());
  h.StartHttp("http,projections");
  h.StartReactors();
  std::vector<ChargeSpec> charges;
  for (int i = 0; i < kSales; ++i) {
    charges.push_back({"stripe", "7602", absl::StrCat("tg:", kFirstChat + i)});
  }
  auto charged = h.ChargeAndPay(charges);
  REQUIRE(charged.errors.empty());
  // Every upsell is scheduled, none due yet; then every process running reactors stops.
  auto scheduled_due = [&] {
    std::vector<int64_t> due;
    for (const auto& [stream, events] : h.Streams()) {
      for (const auto& e : events) {
        if (e.type != "tally.payments.v1.UpsellScheduled") continue;
        pb::UpsellScheduled m;
        REQUIRE(m.ParseFromString(e.payload));
        due.push_back(m.due_at_us());
      }
    }
    return due;
  };
  h.WaitQuiet(120s, [&] { return scheduled_due().size() == kSales; });
  h.StopReactors();
  const std::vector<int64_t> due = scheduled_due();
  const int64_t first_due = *std::min_element(due.begin(), due.end());
  const int64_t last_due = *std::max_element(due.begin(), due.end());
  REQUIRE_MESSAGE(ledger::SystemClock().NowMicros() < first_due,
                  "the machine was too slow to stop the reactors before the first upsell was due");
  // While they are stopped, 50 buyers are refunded, and every upsell becomes due.
  for (int i = 0; i < kRefunded; ++i) {
    REQUIRE(h.ActOnCharge("stripe", charged.payments[i].transaction_id, "refund") == 200);
  }
  while (ledger::SystemClock().NowMicros() < last_due + 1'000'000) {
    std::this_thread::sleep_for(500ms);
  }
  h.StartReactors();
  h.WaitQuiet(180s, [&] {
    for (const auto& s : h.Status()) {
      if (s.reactor == "outbox:upsell_message") return s.done == kSales - kRefunded;
    }
    return false;
  });
  auto streams = h.Streams();
  int sent = 0, cancelled = 0;
  for (int i = 0; i < kSales; ++i) {
    const auto& events = streams[absl::StrCat("offer-", charged.payments[i].payment_id, "-up")];
    const int s = CountOf(events, "tally.payments.v1.UpsellSent");
    const int c = CountOf(events, "tally.payments.v1.UpsellCancelled");
    CHECK_MESSAGE(s + c == 1, "sale ", i);
    if (i < kRefunded) {
      CHECK_MESSAGE(c == 1, "refunded sale ", i, " got an upsell");
    }
    sent += s;
    cancelled += c;
  }
  CHECK(sent == kSales - kRefunded);
  CHECK(cancelled == kRefunded);
  // At Telegram: the delivery, then the upsell for every buyer not refunded; nothing twice.
  const auto per_chat = h.TelegramMessagesPerChat();
  for (int i = 0; i < kSales; ++i) {
    auto it = per_chat.find(kFirstChat + i);
    CHECK((it == per_chat.end() ? 0 : it->second) == (i < kRefunded ? 1 : 2));
  }
  h.StopReactors();
  h.StopHttp();
}

TEST_CASE("--time-scale: refused outside demos, and there minutes of delay pass as seconds") {
  ServeHarness h(std::vector<BotSpec>{{"7603:AAHtimescale", ""}});
  unsetenv("TALLY_DEMO");
  CommandResult refused = h.Tally("serve --roles reactors --time-scale 60");
  CHECK(refused.exit_code == 2);
  CHECK(absl::StrContains(refused.output, "TALLY_DEMO=1"));
  tenants::ProductSettings extra;
  extra.bot_id = "7603";
  extra.product_id = "extra";
  extra.name = "Mentoria Extra";
  extra.price_minor = 2990;
  extra.deliver_url = "https://cursos.example.com/extra";
  REQUIRE(tenants::ConfigureProduct(h.store(), h.tenant_id(), extra).ok());
  // Two minutes of delay, at 60 times: about two seconds.
  REQUIRE(tenants::ConfigureOffer(h.store(), h.tenant_id(),
                                  {"7603", "up", "upsell", 120, "", "extra", 0, 0, "", true})
              .ok());
  setenv("TALLY_DEMO", "1", 1);
  h.StartHttp("http,projections");
  h.StartReactors("reactors", {"--time-scale", "60"});
  unsetenv("TALLY_DEMO");
  auto charged = h.ChargeAndPay({{"stripe", "7603", "tg:9300"}});
  REQUIRE(charged.errors.empty());
  const auto start = std::chrono::steady_clock::now();
  h.WaitQuiet(60s, [&] { return h.TelegramTexts(9300).size() == 2; });
  CHECK(std::chrono::steady_clock::now() - start < 60s);
  h.StopReactors();
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
