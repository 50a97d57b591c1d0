// The Meta Conversions API simulator as the Purchase reactor's tests use it, over real loopback
// HTTP: events kept per pixel and deduplicated as Meta counts them, the faults (500, zero
// received, late answers), invalid tokens per pixel, and events too old to be accepted.

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "http/client.h"
#include "tests/sandbox/sandbox_harness.h"
#include "tests/support/sandbox_control.h"

namespace tally::sandbox {
namespace {

using namespace std::chrono_literals;

constexpr char kToken[] = "EAAtoken";

int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

// A Purchase as Tally sends it, `age_s` seconds old; user_data carries a quote and a backslash
// so that the listing's escaping shows.
std::string Purchase(const std::string& event_id, int64_t age_s = 0) {
  return absl::StrCat(
      R"({"event_name":"Purchase","event_time":)", Now() - age_s, R"(,"event_id":")", event_id,
      R"(","action_source":"website","event_source_url":"https://shop.example/p",)",
      R"("user_data":{"em":["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"],)",
      R"("client_user_agent":"Mozilla/5.0 \"X\" \\ 1","fbp":"fb.1.1.1"},)",
      R"("custom_data":{"currency":"BRL","value":19.9}})");
}

struct MetaHarness : Harness {
  MetaHarness() { testing::SandboxAccount(client, *sandbox, "meta", kToken, "", ""); }
  // POSTs {"data":[events]} for `pixel` with `timeout`; the answer, or the client's error.
  absl::StatusOr<http::ClientResponse> Send(const std::string& pixel, const std::string& events,
                                            std::chrono::milliseconds timeout = 3000ms) {
    return client.Send(
        {"POST",
         absl::StrCat(sandbox->BaseUrl("meta"), "/v21.0/", pixel, "/events?access_token=", kToken),
         {{"Content-Type", "application/json"}},
         absl::StrCat(R"({"data":[)", events, "]}"),
         timeout});
  }
  ParsedJson Events(const std::string& query = "") {
    auto r = Get("/sandbox/meta/events" + query);
    REQUIRE(r.status == 200);
    return ParsedJson(r.body);
  }
};

int64_t Int(simdjson::dom::element e) { return int64_t(e.get_int64()); }

TEST_CASE(
    "Meta keeps the events per pixel, one per pixel + event_name + event_id, counting "
    "every receipt") {
  MetaHarness h;
  const std::string page_view =
      absl::StrCat(R"({"event_name":"PageView","event_time":)", Now(),
                   R"(,"event_id":"purchase_p1","action_source":"website","user_data":{}})");
  const std::string no_id =
      absl::StrCat(R"({"event_name":"Purchase","event_time":)", Now(), R"(,"user_data":{}})");
  auto first = h.Send("111", absl::StrCat(Purchase("purchase_p1"), ",", page_view));
  REQUIRE(first.ok());
  CHECK(first->status == 200);
  CHECK(Int(ParsedJson(first->body)["events_received"]) == 2);
  // The retry of the Purchase, the same event on another pixel, and two events without an id.
  REQUIRE(h.Send("111", Purchase("purchase_p1")).ok());
  REQUIRE(h.Send("222", Purchase("purchase_p1")).ok());
  REQUIRE(h.Send("111", absl::StrCat(no_id, ",", no_id)).ok());

  ParsedJson all = h.Events();
  CHECK(Int(all["unique"]) == 5);  // Purchase and PageView on 111, Purchase on 222, two without id
  CHECK(Int(all["raw_receipts"]) == 6);
  ParsedJson pixel = h.Events("?pixel_id=111");
  CHECK(Int(pixel["unique"]) == 4);
  CHECK(Int(pixel["raw_receipts"]) == 5);
  simdjson::dom::element purchase = pixel["events"].at(0);
  CHECK(JsonText(purchase["pixel_id"]) == "111");
  CHECK(JsonText(purchase["event_name"]) == "Purchase");
  CHECK(JsonText(purchase["event_id"]) == "purchase_p1");
  CHECK(Int(purchase["receipts"]) == 2);
  CHECK(JsonText(purchase["value"]) == "19.9");
  CHECK(JsonText(purchase["currency"]) == "BRL");
  CHECK(Int(purchase["event_time"]) > Now() - 60);
  // user_data as received, escapes included.
  CHECK(JsonText(purchase["user_data"]["client_user_agent"]) == R"(Mozilla/5.0 "X" \ 1)");
  CHECK(JsonText(purchase["user_data"]["em"].at(0)) ==
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f");
  simdjson::dom::element view = pixel["events"].at(1);
  CHECK(JsonText(view["event_name"]) == "PageView");
  CHECK(Int(view["receipts"]) == 1);
  CHECK(JsonText(view["value"]) == "null");
  CHECK(Int(h.Events("?pixel_id=222")["unique"]) == 1);
  CHECK(Int(h.Events("?pixel_id=333")["unique"]) == 0);
}

TEST_CASE(
    "Meta faults: 500 code 1, zero received, a late answer, an invalid token per pixel, "
    "a failed call keeps nothing") {
  MetaHarness h;
  CHECK(h.Control("/sandbox/faults", R"({"meta_error_rate":1})").status == 200);
  auto failed = h.Send("111", Purchase("e1"));
  REQUIRE(failed.ok());
  CHECK(failed->status == 500);
  ParsedJson error(failed->body);
  CHECK(Int(error["error"]["code"]) == 1);
  CHECK(!JsonText(error["error"]["message"]).empty());
  CHECK(!JsonText(error["error"]["type"]).empty());
  CHECK(!JsonText(error["error"]["fbtrace_id"]).empty());

  CHECK(
      h.Control("/sandbox/faults", R"({"meta_error_rate":0,"meta_zero_received_rate":1})").status ==
      200);
  auto zero = h.Send("111", Purchase("e2"));
  REQUIRE(zero.ok());
  CHECK(zero->status == 200);
  CHECK(Int(ParsedJson(zero->body)["events_received"]) == 0);
  CHECK(Int(h.Events()["raw_receipts"]) == 0);

  // Late: an impatient caller gives up; Meta got the event all the same, and the retry is the
  // same event.
  CHECK(h.Control("/sandbox/faults",
                  R"({"meta_zero_received_rate":0,"meta_timeout_rate":1,"meta_timeout_ms":600})")
            .status == 200);
  auto late = h.Send("111", Purchase("e3"), 200ms);
  CHECK(late.status().code() == absl::StatusCode::kDeadlineExceeded);
  const auto started = std::chrono::steady_clock::now();
  auto patient = h.Send("111", Purchase("e3"), 3000ms);
  REQUIRE(patient.ok());
  CHECK(patient->status == 200);
  CHECK(std::chrono::steady_clock::now() - started >= 600ms);
  ParsedJson kept = h.Events();
  CHECK(Int(kept["unique"]) == 1);
  CHECK(Int(kept["raw_receipts"]) == 2);
  CHECK(JsonText(kept["events"].at(0)["event_id"]) == "e3");

  CHECK(h.Control("/sandbox/faults", R"({"meta_timeout_rate":0})").status == 200);
  CHECK(h.Control("/sandbox/meta/invalid_token", R"({"pixel_id":"111"})").status == 200);
  CHECK(h.Control("/sandbox/meta/invalid_token", "{}").status == 400);
  auto invalid = h.Send("111", Purchase("e4"));
  REQUIRE(invalid.ok());
  CHECK(invalid->status == 400);
  ParsedJson oauth(invalid->body);
  CHECK(Int(oauth["error"]["code"]) == 190);
  CHECK(JsonText(oauth["error"]["message"]) == "Error validating access token");
  CHECK(JsonText(oauth["error"]["type"]) == "OAuthException");
  CHECK(!JsonText(oauth["error"]["fbtrace_id"]).empty());
  auto other_pixel = h.Send("222", Purchase("e4"));
  REQUIRE(other_pixel.ok());
  CHECK(other_pixel->status == 200);
  CHECK(Int(h.Events("?pixel_id=111")["raw_receipts"]) == 2);
  testing::SandboxDrain(*h.sandbox);
}

TEST_CASE("Meta refuses a whole request with an event older than 7 days, as it does") {
  MetaHarness h;
  const int64_t day = 24 * 3600;
  auto old = h.Send("111", absl::StrCat(Purchase("fresh"), ",", Purchase("old", 7 * day + 60)));
  REQUIRE(old.ok());
  CHECK(old->status == 400);
  CHECK(Int(ParsedJson(old->body)["error"]["code"]) == 100);
  CHECK(Int(h.Events()["raw_receipts"]) == 0);  // not even the fresh one
  auto six_days = h.Send("111", Purchase("six_days", 6 * day));
  REQUIRE(six_days.ok());
  CHECK(six_days->status == 200);
  auto no_time = h.Send("111", R"({"event_name":"Purchase","event_id":"x"})");
  REQUIRE(no_time.ok());
  CHECK(no_time->status == 400);
  CHECK(Int(ParsedJson(no_time->body)["error"]["code"]) == 100);
  CHECK(Int(h.Events()["raw_receipts"]) == 1);
}

}  // namespace
}  // namespace tally::sandbox
