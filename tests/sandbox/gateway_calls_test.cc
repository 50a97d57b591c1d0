// What the reconciliation reactor's tests need from the simulated gateways, over real loopback
// HTTP: the lookup of charges by Tally's reference, create answers lost after the charge is
// made, gateways that send no webhooks, polls answered 429, and the poll accounting that shows
// whether limits held.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "http/gateway_transport.h"
#include "tests/sandbox/sandbox_harness.h"
#include "tests/support/sandbox_control.h"

namespace tally::sandbox {
namespace {

using namespace std::chrono_literals;
namespace pb = payments::v1;

// The ids a lookup by reference answered, in the order given.
struct Found {
  int status = 0;
  std::vector<std::string> ids;
};

// Each gateway's own search by reference, authenticated as its other calls are.
Found LookUp(Harness& h, const std::string& gateway, const std::string& key,
             const std::string& reference) {
  const std::string ref = gateways::PercentEncode(reference);
  const std::pair<std::string, std::string> bearer = {"Authorization", "Bearer " + key};
  http::ClientResponse r;
  if (gateway == "paradise") {
    r = h.Get("/paradise/api/v1/query.php?action=get_transaction_by_reference&reference=" + ref,
              {{"X-API-Key", key}});
  } else if (gateway == "atomopay") {
    r = h.Get(absl::StrCat("/atomopay/api/public/v1/transactions?external_reference=", ref,
                           "&api_token=", key));
  } else if (gateway == "mercadopago") {
    r = h.Get("/mercadopago/v1/payments/search?external_reference=" + ref, {bearer});
  } else {
    r = h.Get("/stripe/v1/payment_intents/search?query=" +
                  gateways::PercentEncode("metadata['payment_id']:'" + reference + "'"),
              {bearer});
  }
  Found found{r.status, {}};
  if (r.status != 200) return found;
  ParsedJson json(r.body);
  if (gateway == "paradise") {
    found.ids.push_back(JsonText(json["transaction_id"]));
    return found;
  }
  const char* list = gateway == "mercadopago" ? "results" : "data";
  for (simdjson::dom::element charge : json[list].get_array()) {
    found.ids.push_back(JsonText(charge[gateway == "atomopay" ? "hash" : "id"]));
  }
  if (gateway == "mercadopago") {
    CHECK(int64_t(json["paging"]["total"].get_int64()) == int64_t(found.ids.size()));
  }
  if (gateway == "stripe") CHECK(JsonText(json["object"]) == "search_result");
  return found;
}

// A status request in the gateway's own API, as Tally's adapters make it.
http::ClientResponse RawPoll(Harness& h, const std::string& gateway, const std::string& key,
                             const std::string& id, const std::string& hash) {
  const std::pair<std::string, std::string> bearer = {"Authorization", "Bearer " + key};
  if (gateway == "pushinpay") return h.Get("/pushinpay/api/transactions/" + id, {bearer});
  if (gateway == "paradise") {
    return h.Get("/paradise/api/v1/query.php?action=get_transaction&id=" + id,
                 {{"X-API-Key", key}});
  }
  if (gateway == "atomopay") {
    return h.Get(absl::StrCat("/atomopay/api/public/v1/transactions/", hash, "?api_token=", key));
  }
  if (gateway == "mercadopago") return h.Get("/mercadopago/v1/payments/" + id, {bearer});
  return h.Get("/stripe/v1/payment_intents/" + id, {bearer});
}

// How many charges of `service` carry `reference`, as the control API lists them.
int ChargesWithReference(Harness& h, const std::string& service, const std::string& reference) {
  ParsedJson json(h.Get("/sandbox/charges").body);
  int n = 0;
  for (simdjson::dom::element c : json["charges"].get_array()) {
    n += JsonText(c["service"]) == service && JsonText(c["reference"]) == reference;
  }
  return n;
}

int64_t PollCount(const gateways::PayloadFields& polls, const std::string& path) {
  int64_t n = -2;
  REQUIRE_MESSAGE(absl::SimpleAtoi(polls.Text(path), &n), path);
  return n;
}

TEST_CASE(
    "lookup by reference: the caller's charges carrying Tally's payment id, in each gateway's "
    "shape") {
  Harness h;
  for (const std::string gateway : {"paradise", "atomopay", "mercadopago", "stripe"}) {
    CAPTURE(gateway);
    const gateways::Gateway* api = Gateways().Find(gateway);
    const gateways::ApiAccount mine = h.Account(gateway, "http://127.0.0.1:1/unused");
    testing::SandboxAccount(h.client, *h.sandbox, gateway, "another-seller", "", "");
    const gateways::ApiAccount theirs{h.sandbox->BaseUrl(gateway), "another-seller"};
    auto request = Charge("pay_ref_1", "http://127.0.0.1:1/unused");
    request.idempotency_key = "first";
    auto first = api->CreateCharge(mine, request, h.transport);
    request.idempotency_key = "second";  // a second charge for the same payment: an orphan
    auto second = api->CreateCharge(mine, request, h.transport);
    auto unrelated = api->CreateCharge(mine, Charge("pay_ref_2", ""), h.transport);
    auto other_sellers = api->CreateCharge(theirs, Charge("pay_ref_1", ""), h.transport);
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    REQUIRE(unrelated.ok());
    REQUIRE(other_sellers.ok());
    REQUIRE(first->transaction_id != second->transaction_id);

    const Found found = LookUp(h, gateway, mine.api_key, "pay_ref_1");
    CHECK(found.status == 200);
    if (gateway == "paradise") {
      // Paradise answers one transaction: the latest.
      CHECK(found.ids == std::vector<std::string>{second->transaction_id});
    } else {
      CHECK(found.ids == std::vector<std::string>{first->transaction_id, second->transaction_id});
    }
    const Found none = LookUp(h, gateway, mine.api_key, "pay_nobody");
    CHECK(none.status == (gateway == "paradise" ? 404 : 200));
    CHECK(none.ids.empty());
    CHECK(LookUp(h, gateway, "not-a-key", "pay_ref_1").status == 401);
  }
  // PushinPay has no such lookup; Stripe refuses a query it does not understand.
  auto pushinpay = h.Account("pushinpay", "");
  CHECK(h.Get("/pushinpay/api/transactions?reference=pay_ref_1",
              {{"Authorization", "Bearer " + pushinpay.api_key}})
            .status == 404);
  auto bad = h.Get(
      "/stripe/v1/payment_intents/search?query=" + gateways::PercentEncode("status:'succeeded'"),
      {{"Authorization", "Bearer key-stripe"}});
  CHECK(bad.status == 400);
  CHECK(JsonText(ParsedJson(bad.body)["error"]["type"]) == "invalid_request_error");
}

TEST_CASE(
    "a lost create answer: the charge is made, the answer comes after the caller's "
    "deadline, and Tally can find the charge instead of opening a second one") {
  Harness h;
  const auto atomopay = h.Account("atomopay", "");
  const auto stripe = h.Account("stripe", "");
  CHECK(h.Control("/sandbox/faults", R"({"create_answer_lost_rate":1,"create_answer_lost_ms":800})")
            .status == 200);
  http::HttpClient impatient_client;
  auto impatient = http::GatewayTransport(impatient_client, 200ms);
  auto request = Charge("pay_lost", "");
  request.idempotency_key = "tenant-1:order-9";
  const auto started = std::chrono::steady_clock::now();
  CHECK(Gateways().Find("atomopay")->CreateCharge(atomopay, request, impatient).status().code() ==
        absl::StatusCode::kDeadlineExceeded);
  CHECK(Gateways().Find("stripe")->CreateCharge(stripe, request, impatient).status().code() ==
        absl::StatusCode::kDeadlineExceeded);
  CHECK(std::chrono::steady_clock::now() - started < 800ms);
  CHECK(h.Control("/sandbox/faults", R"({"create_answer_lost_rate":0})").status == 200);

  // The charges exist all the same, one each, and the lookup by reference finds them.
  CHECK(ChargesWithReference(h, "atomopay", "pay_lost") == 1);
  CHECK(ChargesWithReference(h, "stripe", "pay_lost") == 1);
  const Found found = LookUp(h, "atomopay", atomopay.api_key, "pay_lost");
  REQUIRE(found.ids.size() == 1);
  auto polled =
      Gateways().Find("atomopay")->PollStatus(atomopay, found.ids[0], found.ids[0], h.transport);
  CHECK(polled.observation.status() == pb::OBSERVED_STATUS_PENDING);
  // Stripe: the retry with the same idempotency key answers the charge made the first time.
  auto retried = Gateways().Find("stripe")->CreateCharge(stripe, request, h.transport);
  REQUIRE(retried.ok());
  CHECK(LookUp(h, "stripe", stripe.api_key, "pay_lost").ids ==
        std::vector<std::string>{retried->transaction_id});
  CHECK(ChargesWithReference(h, "stripe", "pay_lost") == 1);
  testing::SandboxDrain(*h.sandbox);  // the late answers, to callers long gone
}

TEST_CASE("silent gateways: pay, refund and expire change the charge and send nothing") {
  Receiver receiver;
  Harness h;
  const auto atomopay = h.Account("atomopay", receiver.Url("/hook/atomopay"));
  const auto paradise = h.Account("paradise", receiver.Url("/hook/paradise"));
  const auto* api = Gateways().Find("atomopay");
  CHECK(h.Control("/sandbox/faults", R"({"silent_gateways":["atomopay"]})").status == 200);
  auto paid =
      api->CreateCharge(atomopay, Charge("pay_s1", receiver.Url("/hook/atomopay")), h.transport);
  auto expired =
      api->CreateCharge(atomopay, Charge("pay_s2", receiver.Url("/hook/atomopay")), h.transport);
  auto heard =
      Gateways()
          .Find("paradise")
          ->CreateCharge(paradise, Charge("pay_s3", receiver.Url("/hook/paradise")), h.transport);
  REQUIRE(paid.ok());
  REQUIRE(expired.ok());
  REQUIRE(heard.ok());
  for (const std::string& action :
       {"/sandbox/charges/atomopay/" + paid->transaction_id + "/pay",
        "/sandbox/charges/atomopay/" + paid->transaction_id + "/refund",
        "/sandbox/charges/atomopay/" + expired->transaction_id + "/expire"}) {
    CAPTURE(action);
    CHECK(h.Control(action, "{}").status == 200);
    CHECK(h.sandbox->stats().pending == 0);  // nothing queued
  }
  auto polled =
      api->PollStatus(atomopay, paid->transaction_id, paid->transaction_hash, h.transport);
  CHECK(polled.observation.status() == pb::OBSERVED_STATUS_REFUNDED);
  // Another gateway is heard as before.
  CHECK(h.Control("/sandbox/charges/paradise/" + heard->transaction_id + "/pay", "{}").status ==
        200);
  REQUIRE(receiver.WaitFor(1));
  testing::SandboxDrain(*h.sandbox);
  REQUIRE(receiver.received().size() == 1);
  CHECK(absl::StartsWith(receiver.received()[0].first, "/hook/paradise"));

  // An unknown name is refused, and nothing in that call takes effect.
  auto refused = h.Control("/sandbox/faults", R"({"silent_gateways":["atomopey"],"drop_rate":1})");
  CHECK(refused.status == 400);
  CHECK(absl::StrContains(refused.body, "atomopey"));
  CHECK(h.Control("/sandbox/faults", R"({"silent_gateways":"atomopay"})").status == 400);
  // Emptied, the list lets Atomopay speak again.
  CHECK(h.Control("/sandbox/faults", R"({"silent_gateways":[]})").status == 200);
  auto later =
      api->CreateCharge(atomopay, Charge("pay_s4", receiver.Url("/hook/atomopay")), h.transport);
  REQUIRE(later.ok());
  CHECK(h.Control("/sandbox/charges/atomopay/" + later->transaction_id + "/pay", "{}").status ==
        200);
  REQUIRE(receiver.WaitFor(2));
  CHECK(absl::StartsWith(receiver.received()[1].first, "/hook/atomopay"));
}

TEST_CASE("a sandbox started with an unknown silent gateway is refused") {
  SandboxOptions options;
  options.faults.silent_gateways = {"atomopay", "nopay"};
  auto started = Sandbox::Start(options);
  CHECK(started.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(started.status().message(), "nopay"));
}

TEST_CASE("poll 429: a Retry-After header and retry_after in each gateway's error shape") {
  Harness h;
  const std::vector<std::string> all = {"pushinpay", "paradise", "atomopay", "mercadopago",
                                        "stripe"};
  std::vector<gateways::CreatedCharge> charges;
  for (const std::string& gateway : all) {
    auto created = Gateways().Find(gateway)->CreateCharge(h.Account(gateway, ""),
                                                          Charge("pay_429", ""), h.transport);
    REQUIRE(created.ok());
    charges.push_back(*created);
  }
  CHECK(h.Control("/sandbox/faults", R"({"poll_429_rate":1})").status == 200);
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string& gateway = all[i];
    CAPTURE(gateway);
    const gateways::Gateway* api = Gateways().Find(gateway);
    const auto account = gateways::ApiAccount{h.sandbox->BaseUrl(gateway), "key-" + gateway};
    auto polled = api->PollStatus(account, charges[i].transaction_id, charges[i].transaction_hash,
                                  h.transport);
    CHECK(polled.http_status == 429);
    CHECK(polled.status.code() == absl::StatusCode::kResourceExhausted);
    CHECK(polled.retry_after_s == 2);  // Tally reads the header through its transport
    auto raw = RawPoll(h, gateway, "key-" + gateway, charges[i].transaction_id,
                       charges[i].transaction_hash);
    CHECK(raw.status == 429);
    CHECK(raw.Header("retry-after") == "2");
    ParsedJson body(raw.body);
    simdjson::dom::element shape = gateway == "stripe" ? body["error"] : body.root();
    CHECK(JsonText(shape["retry_after"]) == "2");
  }
  CHECK(h.Control("/sandbox/faults", R"({"poll_retry_after_s":7})").status == 200);
  auto raw = RawPoll(h, "pushinpay", "key-pushinpay", charges[0].transaction_id, "");
  CHECK(raw.Header("retry-after") == "7");
  CHECK(JsonText(ParsedJson(raw.body)["retry_after"]) == "7");
  // A gateway that says it in its body only (Stripe, under "error") is heard too.
  const gateways::Transport body_only = [&](const gateways::ApiRequest& request) {
    auto answer = h.transport(request);
    if (answer.ok()) answer->retry_after_s = 0;
    return answer;
  };
  auto stripe = Gateways().Find("stripe")->PollStatus(
      gateways::ApiAccount{h.sandbox->BaseUrl("stripe"), "key-stripe"}, charges[4].transaction_id,
      charges[4].transaction_hash, body_only);
  CHECK(stripe.http_status == 429);
  CHECK(stripe.retry_after_s == 7);
}

TEST_CASE(
    "poll accounting: polls, the most in any second, the least gap between two polls of "
    "one transaction, per account and per gateway") {
  Harness h;
  const auto mine = h.Account("pushinpay", "");
  testing::SandboxAccount(h.client, *h.sandbox, "pushinpay", "key-2", "", "");
  h.Account("paradise", "");
  const auto* api = Gateways().Find("pushinpay");
  auto a = api->CreateCharge(mine, Charge("pay_a", ""), h.transport);
  auto b = api->CreateCharge(mine, Charge("pay_b", ""), h.transport);
  auto c = api->CreateCharge(mine, Charge("pay_c", ""), h.transport);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  {
    auto before = gateways::PayloadFields::ParseJson(h.Get("/sandbox/polls").body);
    REQUIRE(before.ok());
    CHECK(PollCount(*before, "services.pushinpay.accounts.key-pushinpay.polls") == 0);
    CHECK(PollCount(*before, "services.pushinpay.min_gap_ms_same_transaction") == -1);
  }
  auto poll = [&](const std::string& key, const std::string& id) {
    RawPoll(h, "pushinpay", key, id, "");
  };
  // One second: A, A again 300 ms later, B. Then past that second: B, C, and an unknown id.
  poll("key-pushinpay", a->transaction_id);
  std::this_thread::sleep_for(300ms);
  poll("key-pushinpay", a->transaction_id);
  poll("key-pushinpay", b->transaction_id);
  std::this_thread::sleep_for(1100ms);
  poll("key-pushinpay", b->transaction_id);
  poll("key-pushinpay", c->transaction_id);
  poll("key-pushinpay", "no-such-transaction");
  // Another account polling A (not its charge: 404) is a poll of its own, with no gap.
  poll("key-2", a->transaction_id);

  auto polls = gateways::PayloadFields::ParseJson(h.Get("/sandbox/polls").body);
  REQUIRE(polls.ok());
  const std::string account = "services.pushinpay.accounts.key-pushinpay.";
  CHECK(PollCount(*polls, account + "polls") == 6);
  CHECK(PollCount(*polls, account + "max_in_any_second") == 3);
  const int64_t gap = PollCount(*polls, account + "min_gap_ms_same_transaction");
  CHECK(gap >= 300);
  CHECK(gap < 1100);  // A's gap, not B's
  CHECK(PollCount(*polls, "services.pushinpay.accounts.key-2.polls") == 1);
  CHECK(PollCount(*polls, "services.pushinpay.accounts.key-2.min_gap_ms_same_transaction") == -1);
  CHECK(PollCount(*polls, "services.pushinpay.polls") == 7);
  CHECK(PollCount(*polls, "services.pushinpay.max_in_any_second") == 4);
  CHECK(PollCount(*polls, "services.pushinpay.min_gap_ms_same_transaction") == gap);
  CHECK(PollCount(*polls, "services.paradise.polls") == 0);
  CHECK(PollCount(*polls, "services.paradise.accounts.key-paradise.polls") == 0);
}

}  // namespace
}  // namespace tally::sandbox
