// The gateway APIs (gateways/gateway.h) against the sandbox simulators over real loopback
// HTTP, and the simulators' webhooks through the webhook adapters: create → poll → pay →
// webhook → poll, for each of the five gateways, plus the injected faults.

#include "sandbox/sandbox.h"

#include <doctest/doctest.h>

#include <chrono>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateways/registry.h"
#include "http/client.h"
#include "http/gateway_transport.h"
#include "tests/sandbox/sandbox_harness.h"
#include "tests/support/sandbox_control.h"

namespace tally::sandbox {
namespace {

using namespace std::chrono_literals;
namespace pb = payments::v1;

TEST_CASE("each gateway: create, poll pending, pay, authentic webhook, poll paid") {
  Receiver receiver;
  Harness h;
  size_t expected_webhooks = 0;
  for (const std::string gateway : {"pushinpay", "paradise", "atomopay", "mercadopago", "stripe"}) {
    CAPTURE(gateway);
    const gateways::Gateway* api = Gateways().Find(gateway);
    REQUIRE(api != nullptr);
    const std::string hook = receiver.Url("/hook/" + gateway);
    const gateways::ApiAccount account = h.Account(gateway, hook);
    auto created = api->CreateCharge(account, Charge("pay_" + gateway, hook), h.transport);
    REQUIRE(created.ok());
    CHECK(!created->transaction_id.empty());
    CHECK(created->pix_copy_paste.rfind("000201", 0) == 0);
    CHECK(created->observation.status() == pb::OBSERVED_STATUS_PENDING);
    CHECK(created->observation.amount().amount_minor() == 1990);
    CHECK(created->observation.amount().currency() == "BRL");
    if (gateway == "atomopay") CHECK(created->transaction_hash == created->transaction_id);
    if (gateway == "pushinpay") {
      CHECK(created->transaction_id == absl::AsciiStrToLower(created->transaction_id));
    }

    auto pending =
        api->PollStatus(account, created->transaction_id, created->transaction_hash, h.transport);
    REQUIRE(pending.status.ok());
    CHECK(pending.http_status == 200);
    CHECK(pending.observation.status() == pb::OBSERVED_STATUS_PENDING);
    CHECK(pending.observation.gateway_transaction_id() == created->transaction_id);

    auto paid = h.Control(
        absl::StrCat("/sandbox/charges/", gateway, "/", created->transaction_id, "/pay"), "{}");
    REQUIRE(paid.status == 200);
    ++expected_webhooks;
    REQUIRE(receiver.WaitFor(expected_webhooks));
    auto [target, webhook] = receiver.received().back();
    CHECK(target.rfind("/hook/" + gateway, 0) == 0);
    const gateways::Gateway* adapter = Gateways().Find(gateway);
    auto parsed = adapter->ParseWebhook(webhook, {"secret-" + gateway});
    REQUIRE(parsed.ok());
    // The webhook lands in the same stream as the charge, whatever case the gateway used.
    CHECK(parsed->transaction_id == created->transaction_id);
    if (gateway == "mercadopago") {
      CHECK(parsed->poll_hint);  // Mercado Pago says only "look"
      CHECK(parsed->authenticity == pb::AUTHENTICITY_SIGNED);
    } else {
      CHECK(parsed->observation.status() == pb::OBSERVED_STATUS_PAID);
      CHECK(parsed->observation.amount().amount_minor() == 1990);
      CHECK(parsed->authenticity ==
            (gateway == "stripe" ? pb::AUTHENTICITY_SIGNED : pb::AUTHENTICITY_UNVERIFIED));
    }
    // A forged secret fails authentication.
    CHECK(adapter->ParseWebhook(webhook, {"wrong"}).status().code() ==
          absl::StatusCode::kUnauthenticated);

    auto polled =
        api->PollStatus(account, created->transaction_id, created->transaction_hash, h.transport);
    REQUIRE(polled.status.ok());
    CHECK(polled.observation.status() == pb::OBSERVED_STATUS_PAID);
    CHECK(polled.observation.amount().amount_minor() == 1990);
  }
}

TEST_CASE("a refund and an expiry reach the adapters as REFUNDED and EXPIRED/CANCELLED") {
  Receiver receiver;
  Harness h;
  const std::string hook = receiver.Url("/hook/stripe");
  const auto account = h.Account("stripe", hook);
  const auto* api = Gateways().Find("stripe");
  auto one = api->CreateCharge(account, Charge("pay_r1", hook), h.transport);
  auto two = api->CreateCharge(account, Charge("pay_r2", hook), h.transport);
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  CHECK(h.Control("/sandbox/charges/stripe/" + one->transaction_id + "/pay", "{}").status == 200);
  CHECK(h.Control("/sandbox/charges/stripe/" + one->transaction_id + "/refund", "{}").status ==
        200);
  CHECK(h.Control("/sandbox/charges/stripe/" + two->transaction_id + "/expire", "{}").status ==
        200);
  // Paying an expired charge is refused, as the gateway would.
  CHECK(h.Control("/sandbox/charges/stripe/" + two->transaction_id + "/pay", "{}").status == 409);
  REQUIRE(receiver.WaitFor(3));
  std::map<std::string, int> statuses;
  for (const auto& [target, webhook] : receiver.received()) {
    auto parsed = Gateways().Find("stripe")->ParseWebhook(webhook, {"secret-stripe"});
    REQUIRE(parsed.ok());
    statuses[parsed->transaction_id + ":" +
             pb::ObservedStatus_Name(parsed->observation.status())]++;
  }
  CHECK(statuses[one->transaction_id + ":OBSERVED_STATUS_PAID"] == 1);
  CHECK(statuses[one->transaction_id + ":OBSERVED_STATUS_REFUNDED"] == 1);
  CHECK(statuses[two->transaction_id + ":OBSERVED_STATUS_CANCELLED"] == 1);
}

TEST_CASE("API errors: wrong key, unknown transaction, non-BRL on a PIX gateway") {
  Harness h;
  auto account = h.Account("pushinpay", "");
  const auto* api = Gateways().Find("pushinpay");
  auto wrong = account;
  wrong.api_key = "not-the-key";
  CHECK(api->CreateCharge(wrong, Charge("p", ""), h.transport).status().code() ==
        absl::StatusCode::kPermissionDenied);
  auto unknown = api->PollStatus(account, "no-such-id", "", h.transport);
  CHECK(unknown.status.code() == absl::StatusCode::kNotFound);
  CHECK(unknown.http_status == 404);
  auto usd = Charge("p", "");
  usd.amount.set_currency("USD");
  CHECK(api->CreateCharge(account, usd, h.transport).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Stripe and Mercado Pago honour the idempotency key: a retried create is one charge") {
  Harness h;
  for (const std::string gateway : {"stripe", "mercadopago"}) {
    auto account = h.Account(gateway, "");
    const auto* api = Gateways().Find(gateway);
    auto request = Charge("pay_idem", "http://127.0.0.1:1/unused");
    request.idempotency_key = "tenant-1:order-77";
    auto first = api->CreateCharge(account, request, h.transport);
    auto retry = api->CreateCharge(account, request, h.transport);
    REQUIRE(first.ok());
    REQUIRE(retry.ok());
    CHECK(first->transaction_id == retry->transaction_id);
    request.idempotency_key = "tenant-1:order-78";
    auto other = api->CreateCharge(account, request, h.transport);
    REQUIRE(other.ok());
    CHECK(other->transaction_id != first->transaction_id);
  }
}

TEST_CASE("poll faults: 503 is Unavailable, a late answer is DeadlineExceeded") {
  Harness h;
  auto account = h.Account("atomopay", "");
  const auto* api = Gateways().Find("atomopay");
  auto created = api->CreateCharge(account, Charge("pay_f", ""), h.transport);
  REQUIRE(created.ok());
  CHECK(h.Control("/sandbox/faults", R"({"poll_error_rate":1})").status == 200);
  auto failed =
      api->PollStatus(account, created->transaction_id, created->transaction_hash, h.transport);
  CHECK(failed.status.code() == absl::StatusCode::kUnavailable);
  CHECK(failed.http_status == 503);
  CHECK(h.Control("/sandbox/faults",
                  R"({"poll_error_rate":0,"poll_timeout_rate":1,"poll_timeout_ms":800})")
            .status == 200);
  http::HttpClient impatient_client;
  auto impatient = http::GatewayTransport(impatient_client, 200ms);
  auto late =
      api->PollStatus(account, created->transaction_id, created->transaction_hash, impatient);
  CHECK(late.status.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(late.http_status == 0);
}

TEST_CASE("webhook faults: duplicated webhooks arrive twice byte for byte, dropped ones never") {
  Receiver receiver;
  Harness h;
  const std::string hook = receiver.Url("/hook/paradise");
  auto account = h.Account("paradise", hook);
  const auto* api = Gateways().Find("paradise");
  CHECK(h.Control("/sandbox/faults", R"({"duplicate_rate":1})").status == 200);
  auto a = api->CreateCharge(account, Charge("pay_dup", hook), h.transport);
  REQUIRE(a.ok());
  CHECK(h.Control("/sandbox/charges/paradise/" + a->transaction_id + "/pay", "{}").status == 200);
  REQUIRE(receiver.WaitFor(2));
  testing::SandboxDrain(*h.sandbox);  // the deliveries' tasks finish after the receiver answers
  auto got = receiver.received();
  CHECK(got[0].second.body == got[1].second.body);
  CHECK(h.sandbox->stats().webhooks_duplicated == 1);

  CHECK(h.Control("/sandbox/faults", R"({"duplicate_rate":0,"drop_rate":1})").status == 200);
  auto b = api->CreateCharge(account, Charge("pay_drop", hook), h.transport);
  REQUIRE(b.ok());
  CHECK(h.Control("/sandbox/charges/paradise/" + b->transaction_id + "/pay", "{}").status == 200);
  CHECK(h.sandbox->stats().webhooks_dropped == 1);
  CHECK(h.sandbox->stats().pending == 0);  // nothing queued: the drop is decided at once
  CHECK(receiver.received().size() == 2);
}

TEST_CASE("Meta CAPI simulator: events_received, token error 190, injected 500") {
  Harness h;
  testing::SandboxAccount(h.client, *h.sandbox, "meta", "EAAtoken", "", "");
  // Meta refuses events older than 7 days: the event is from now.
  const std::string events = absl::StrCat(
      R"({"data":[{"event_name":"Purchase","event_time":)", absl::ToUnixSeconds(absl::Now()),
      R"(,"event_id":"pv_1","action_source":"website","user_data":{"em":["a1b2"],)"
      R"("fbp":"fb.1.1.1"},"custom_data":{"currency":"BRL","value":19.9}}]})");
  auto send = [&](const std::string& token) {
    auto r =
        h.client.Send({"POST",
                       h.sandbox->BaseUrl("meta") + "/v18.0/123456/events?access_token=" + token,
                       {{"Content-Type", "application/json"}},
                       events,
                       3000ms});
    REQUIRE(r.ok());
    return *r;
  };
  auto ok = send("EAAtoken");
  CHECK(ok.status == 200);
  CHECK(ok.body.find(R"("events_received":1)") != std::string::npos);
  CHECK(ok.body.find("fbtrace_id") != std::string::npos);
  auto bad = send("wrong");
  CHECK(bad.status == 400);
  CHECK(bad.body.find(R"("code":190)") != std::string::npos);
  CHECK(h.Control("/sandbox/faults", R"({"meta_error_rate":1})").status == 200);
  CHECK(send("EAAtoken").status == 500);
  auto received =
      h.client.Send({"GET",
                     absl::StrCat("http://127.0.0.1:", h.sandbox->port(), "/sandbox/meta/events"),
                     {},
                     "",
                     3000ms});
  REQUIRE(received.ok());
  CHECK(received->body.find(R"("pixel_id":"123456")") != std::string::npos);
  CHECK(received->body.find("pv_1") != std::string::npos);
}

TEST_CASE("Telegram Bot API simulator: sendMessage is kept, an unknown token is 401") {
  Harness h;
  testing::SandboxAccount(h.client, *h.sandbox, "telegram", "42:secret", "", "");
  auto send = [&](const std::string& token, const std::string& body) {
    auto r = h.client.Send({"POST",
                            h.sandbox->BaseUrl("telegram") + "/bot" + token + "/sendMessage",
                            {{"Content-Type", "application/json"}},
                            body,
                            3000ms});
    REQUIRE(r.ok());
    return *r;
  };
  auto sent = send("42:secret", R"({"chat_id":1001,"text":"Seu acesso: https://x/d/abc"})");
  CHECK(sent.status == 200);
  CHECK(sent.body.find(R"("ok":true)") != std::string::npos);
  CHECK(send("42:other", R"({"chat_id":1001,"text":"x"})").status == 401);
  CHECK(send("42:secret", R"({"text":"no chat"})").status == 400);
  auto messages = h.client.Send(
      {"GET",
       absl::StrCat("http://127.0.0.1:", h.sandbox->port(), "/sandbox/telegram/messages"),
       {},
       "",
       3000ms});
  REQUIRE(messages.ok());
  CHECK(messages->body.find("Seu acesso") != std::string::npos);
}

}  // namespace
}  // namespace tally::sandbox
