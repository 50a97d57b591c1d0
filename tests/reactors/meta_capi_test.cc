// The Conversions API pieces against Meta's documented normalization test vectors, its error
// bodies and the shapes EXTERNAL_APIS.md lists. Expected hashes were computed independently
// (Python's hashlib) from the normalized strings.

#include "reactors/meta_capi.h"

#include <doctest/doctest.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"

namespace tally::reactors {
namespace {

using gateways::ApiResponse;

constexpr char kJohnSmithEmail[] =
    "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f";
constexpr char kPhone16505551212[] =
    "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176";
constexpr char kMary[] = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec";
constexpr char kValery[] = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c";
constexpr char kCustomer42[] = "602014b94160fdac1abf17129820b3aaba8681eda75f833d94a73d044eb53140";
constexpr char kToken[] = "EAAGm0PX4ZCpsBAKZCsecretZCtokenZDZD";

TEST_CASE("Meta's normalization test vectors") {
  CHECK(NormalizeField(HashedField::kEmail, "John_Smith@gmail.com") == "john_smith@gmail.com");
  CHECK(HashField(HashedField::kEmail, "John_Smith@gmail.com") == kJohnSmithEmail);
  CHECK(NormalizePhone("(650)555-1212", kNorthAmerica) == "16505551212");
  CHECK(HashField(HashedField::kPhone, "+1 (650)555-1212") == kPhone16505551212);
  CHECK(HashField(HashedField::kFirstName, "Mary") == kMary);
  CHECK(NormalizeField(HashedField::kLastName, "Valéry") == "valéry");
  CHECK(HashField(HashedField::kLastName, "Valéry") == kValery);
}

TEST_CASE("e-mail: trimmed and lowercased") {
  CHECK(HashField(HashedField::kEmail, "  JOHN_SMITH@Gmail.COM \t") == kJohnSmithEmail);
}

TEST_CASE("phone: digits only, no leading zeros, Brazil's 55 when missing") {
  CHECK(NormalizePhone("(11) 98765-4321") == "5511987654321");    // mobile, 11 digits
  CHECK(NormalizePhone("(11) 3456-7890") == "551134567890");      // landline, 10 digits
  CHECK(NormalizePhone("011 98765-4321") == "5511987654321");     // trunk prefix dropped
  CHECK(NormalizePhone("+55 11 98765-4321") == "5511987654321");  // already international
  CHECK(NormalizePhone("5511987654321") == "5511987654321");
  CHECK(NormalizePhone("0055 11 98765 4321") == "5511987654321");
  // Written with '+', a foreign number of a Brazilian length keeps its own country code.
  CHECK(NormalizePhone("+1 650 555 1212") == "16505551212");
  CHECK(NormalizePhone("98765-4321") == "987654321");  // no area code: nothing to add
  CHECK(NormalizePhone("") == "");
  CHECK(NormalizePhone("n/a") == "");
  CHECK(HashField(HashedField::kPhone, "(11) 98765-4321") ==
        "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66");
}

TEST_CASE("names: lowercase, punctuation removed, UTF-8 kept") {
  CHECK(NormalizeField(HashedField::kFirstName, "  MARY ") == "mary");
  CHECK(HashField(HashedField::kLastName, "VALÉRY") == kValery);
  CHECK(NormalizeField(HashedField::kFirstName, "João") == "joão");
  CHECK(NormalizeField(HashedField::kFirstName, "JOÃO") == "joão");
  CHECK(HashField(HashedField::kFirstName, "João") ==
        "d147147c3dcbe0ac2756b42297dd7f013f8b2fa6178e209c3f74dc7d752243ef");
  CHECK(NormalizeField(HashedField::kLastName, "O'Brien-Smith") == "obriensmith");
  CHECK(NormalizeField(HashedField::kLastName, "D’Ávila.") == "dávila");
  CHECK(NormalizeField(HashedField::kFirstName, "ŁUKASZ") == "łukasz");
  CHECK(NormalizeField(HashedField::kFirstName, "ДМИТРИЙ") == "дмитрий");
  CHECK(NormalizeField(HashedField::kFirstName, "Ana Maria") == "ana maria");
  CHECK(NormalizeField(HashedField::kFirstName, "Mar\xFFy") == "mary");  // invalid byte dropped
  CHECK(NormalizeField(HashedField::kFirstName, "\xC3") == "");          // truncated sequence
  // Nothing left: no hash at all, never the hash of "".
  CHECK(HashField(HashedField::kFirstName, " .-' ") == "");
  CHECK(HashField(HashedField::kEmail, "   ") == "");
}

TEST_CASE("city, state, zip, country, external id: lowercased and trimmed") {
  CHECK(NormalizeField(HashedField::kCity, " Sao Paulo ") == "sao paulo");
  CHECK(NormalizeField(HashedField::kState, "SP") == "sp");
  CHECK(NormalizeField(HashedField::kZip, " 01310-100") == "01310-100");
  CHECK(NormalizeField(HashedField::kCountry, "BR ") == "br");
  CHECK(HashField(HashedField::kExternalId, " CUS_42 ") == kCustomer42);
}

TEST_CASE("value: minor units as a decimal in major units, exactly") {
  CHECK(FormatMajorUnits(1990, "BRL") == "19.90");
  CHECK(FormatMajorUnits(5, "BRL") == "0.05");
  CHECK(FormatMajorUnits(50, "brl") == "0.50");
  CHECK(FormatMajorUnits(100, "USD") == "1.00");
  CHECK(FormatMajorUnits(0, "BRL") == "0.00");
  // Past 2^53, where a double would round.
  CHECK(FormatMajorUnits(900719925474099317, "BRL") == "9007199254740993.17");
  CHECK(FormatMajorUnits(std::numeric_limits<int64_t>::max(), "BRL") == "92233720368547758.07");
  CHECK(FormatMajorUnits(-5, "BRL") == "-0.05");
  CHECK(FormatMajorUnits(std::numeric_limits<int64_t>::min(), "BRL") == "-92233720368547758.08");
  CHECK(FormatMajorUnits(1990, "JPY") == "1990");
  CHECK(FormatMajorUnits(1990, "KWD") == "1.990");
  CHECK(FormatMajorUnits(5, "KWD") == "0.005");
}

PurchaseInput Purchase() {
  payments::v1::PaymentCreated created;
  created.set_payment_id("pay_1");
  created.set_customer_id("cus_42");
  created.mutable_amount()->set_amount_minor(1990);
  created.mutable_amount()->set_currency("BRL");
  auto* tracking = created.mutable_tracking();
  tracking->set_fbp("fb.1.1558571054389.1098115397");
  tracking->set_fbc("fb.1.1554763741205.AbCdEfGh");
  tracking->set_client_ip("203.0.113.7");
  tracking->set_client_user_agent("Mozilla/5.0 (iPhone; \"quoted\")");
  tracking->set_pageview_event_id("pageview_tok123");
  tracking->set_source_url("https://loja.example/vip?utm_source=fb");
  return PurchaseFromPayment(created, 1767225600);
}

TEST_CASE("the Purchase event: hashed buyer data, raw browser ids, exact value") {
  PurchaseInput purchase = Purchase();
  purchase.email = "John_Smith@gmail.com";
  purchase.phone = "+1 (650) 555-1212";
  purchase.first_name = "Mary";
  purchase.last_name = "Valéry";
  auto event = BuildPurchaseEvent(purchase, "https://tally.example/delivery");
  REQUIRE(event.ok());
  CHECK(*event ==
        std::string(R"({"event_name":"Purchase","event_time":1767225600,)"
                    R"("action_source":"website",)"
                    R"("event_source_url":"https://loja.example/vip?utm_source=fb",)"
                    R"("event_id":"pageview_tok123","user_data":{)"
                    R"("em":")") +
            kJohnSmithEmail + R"(","ph":")" + kPhone16505551212 + R"(","fn":")" + kMary +
            R"(","ln":")" + kValery + R"(","external_id":")" + kCustomer42 +
            R"(","client_ip_address":"203.0.113.7",)"
            R"json("client_user_agent":"Mozilla/5.0 (iPhone; \"quoted\")",)json"
            R"("fbp":"fb.1.1558571054389.1098115397","fbc":"fb.1.1554763741205.AbCdEfGh"},)"
            R"("custom_data":{"value":"19.90","currency":"BRL"}})");
  auto fields = gateways::PayloadFields::ParseJson(*event);
  REQUIRE(fields.ok());
  CHECK(*fields->DecimalMinorUnits("custom_data.value") == 1990);
}

TEST_CASE("the Purchase event: what is unknown is left out") {
  PurchaseInput purchase = Purchase();
  purchase.tracking.clear_fbp();
  purchase.tracking.clear_fbc();
  purchase.tracking.clear_client_ip();
  purchase.amount.set_amount_minor(5);
  auto event = BuildPurchaseEvent(purchase, "https://tally.example/delivery");
  REQUIRE(event.ok());
  CHECK(event->find(R"("user_data":{"external_id":")") != std::string::npos);
  for (const char* absent : {"\"em\"", "\"ph\"", "\"fn\"", "\"ln\"", "fbp", "fbc", "client_ip"}) {
    CAPTURE(absent);
    CHECK(event->find(absent) == std::string::npos);
  }
  CHECK(event->find(R"("value":"0.05")") != std::string::npos);
}

TEST_CASE("event_id: the PageView's when tracked, else purchase_<payment id>") {
  PurchaseInput purchase = Purchase();
  CHECK(PurchaseEventId(purchase) == "pageview_tok123");
  purchase.tracking.clear_pageview_event_id();
  CHECK(PurchaseEventId(purchase) == "purchase_pay_1");
  auto event = BuildPurchaseEvent(purchase, "https://tally.example/delivery");
  REQUIRE(event.ok());
  CHECK(event->find(R"("event_id":"purchase_pay_1")") != std::string::npos);
}

TEST_CASE("event_source_url: the tracked URL when it is http(s), else the fallback") {
  PurchaseInput purchase = Purchase();
  for (const char* tracked : {"", "tg://resolve?domain=loja_bot", "javascript:alert(1)",
                              "https:///path-only", "https://bad host/"}) {
    CAPTURE(tracked);
    purchase.tracking.set_source_url(tracked);
    auto event = BuildPurchaseEvent(purchase, "https://tally.example/delivery");
    REQUIRE(event.ok());
    CHECK(event->find(R"("event_source_url":"https://tally.example/delivery")") !=
          std::string::npos);
  }
  purchase.tracking.set_source_url("HTTP://Loja.example/");
  CHECK(BuildPurchaseEvent(purchase, "")->find("HTTP://Loja.example/") != std::string::npos);
}

TEST_CASE("the Purchase event refuses what Meta would reject, naming the field") {
  const auto error_of = [](PurchaseInput purchase, const char* fallback = "https://t.example/") {
    auto event = BuildPurchaseEvent(purchase, fallback);
    CHECK(event.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(event.status().message());
  };
  PurchaseInput purchase = Purchase();
  purchase.tracking.set_client_user_agent(" ");
  CHECK(error_of(purchase).find("client_user_agent") != std::string::npos);
  purchase = Purchase();
  purchase.amount.set_amount_minor(0);
  CHECK(error_of(purchase).find("amount_minor") != std::string::npos);
  purchase = Purchase();
  purchase.amount.set_currency("R$");
  CHECK(error_of(purchase).find("currency") != std::string::npos);
  purchase = Purchase();
  purchase.paid_at_s = 0;
  CHECK(error_of(purchase).find("paid_at_s") != std::string::npos);
  purchase = Purchase();
  purchase.payment_id.clear();
  CHECK(error_of(purchase).find("payment_id") != std::string::npos);
  purchase = Purchase();
  purchase.tracking.clear_source_url();
  CHECK(error_of(purchase, "tally.example/x").find("fallback_source_url") != std::string::npos);
}

TEST_CASE("the events request: POST to the pixel's edge, the token only in the query") {
  const std::string event = R"({"event_name":"Purchase"})";
  auto request =
      BuildEventsRequest("https://graph.facebook.com/", "v19.0", "1234567890", kToken, event, "");
  REQUIRE(request.ok());
  CHECK(request->method == "POST");
  CHECK(request->url == std::string("https://graph.facebook.com/v19.0/1234567890/events"
                                    "?access_token=") +
                            kToken);
  CHECK(request->body == R"({"data":[{"event_name":"Purchase"}]})");
  CHECK(request->body.find(kToken) == std::string::npos);
  REQUIRE(request->headers.size() == 1);
  CHECK(request->headers[0].second == "application/json");

  request = BuildEventsRequest("http://127.0.0.1:8090/meta", "v19.0", "42", "a b&c=d", event,
                               "TEST12345");
  REQUIRE(request.ok());
  CHECK(request->url == "http://127.0.0.1:8090/meta/v19.0/42/events?access_token=a%20b%26c%3Dd");
  CHECK(request->body == R"({"data":[{"event_name":"Purchase"}],"test_event_code":"TEST12345"})");
}

TEST_CASE("the events request refuses bad arguments without echoing the token") {
  const std::string event = R"({"event_name":"Purchase"})";
  const std::string long_pixel(33, '1');
  struct Case {
    const char* base;
    const char* version;
    const char* pixel;
    const char* token;
    std::string event;
    const char* test_code;
    const char* names;
  };
  for (const Case& c : std::vector<Case>{
           {"graph.facebook.com", "v19.0", "1", kToken, event, "", "base_url"},
           {"https://graph.facebook.com?x=1", "v19.0", "1", kToken, event, "", "base_url"},
           {"https://graph.facebook.com", "19.0", "1", kToken, event, "", "api_version"},
           {"https://graph.facebook.com", "v19", "1", kToken, event, "", "api_version"},
           {"https://graph.facebook.com", "v19.0", "", kToken, event, "", "pixel_id"},
           {"https://graph.facebook.com", "v19.0", "12/../3", kToken, event, "", "pixel_id"},
           {"https://graph.facebook.com", "v19.0", long_pixel.c_str(), kToken, event, "",
            "pixel_id"},
           {"https://graph.facebook.com", "v19.0", "1", "", event, "", "access_token"},
           {"https://graph.facebook.com", "v19.0", "1", kToken, "[1]", "", "event_json"},
           {"https://graph.facebook.com", "v19.0", "1", kToken, event, "TEST 1", "test_event_code"},
       }) {
    auto request = BuildEventsRequest(c.base, c.version, c.pixel, c.token, c.event, c.test_code);
    CAPTURE(c.names);
    CHECK(request.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(request.status().message().find(c.names) != absl::string_view::npos);
    CHECK(request.status().message().find(kToken) == absl::string_view::npos);
  }
}

ApiResponse Answer(int status, std::string body) { return ApiResponse{status, std::move(body)}; }

TEST_CASE("an answer succeeds only with HTTP 200 and events_received >= 1") {
  MetaAnswer ok = ClassifyAnswer(
      Answer(200, R"({"events_received":1,"messages":[],"fbtrace_id":"AbCdEfGhIj"})"));
  CHECK(ok.outcome == MetaOutcome::kSucceeded);
  CHECK(ok.events_received == 1);
  CHECK(ok.fbtrace_id == "AbCdEfGhIj");
  CHECK(ok.http_status == 200);
  CHECK(ok.message.empty());

  MetaAnswer none =
      ClassifyAnswer(Answer(200, R"({"events_received":0,"messages":[],"fbtrace_id":"Ax"})"));
  CHECK(none.outcome == MetaOutcome::kRetryable);
  CHECK(none.message == "events_received 0");
  CHECK(none.fbtrace_id == "Ax");

  MetaAnswer unreadable = ClassifyAnswer(Answer(200, "<html>proxy</html>"));
  CHECK(unreadable.outcome == MetaOutcome::kRetryable);
  CHECK(unreadable.message.find("events_received 0") == 0);

  MetaAnswer created = ClassifyAnswer(Answer(201, R"({"events_received":1})"));
  CHECK(created.outcome == MetaOutcome::kRetryable);  // never counted without a 200
}

TEST_CASE("terminal errors: token, permissions, invalid parameters") {
  struct Case {
    int http;
    const char* body;
    int code;
    int subcode;
  };
  for (
      const Case& c : std::vector<Case>{
          {400,
           R"({"error":{"message":"Error validating access token: Session has expired on Tuesday, 02-Jan-24 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A190"}})",
           190, 463},
          {500,  // a known code decides over the HTTP status
           R"({"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"A190b"}})",
           190, 0},
          {403,
           R"({"error":{"message":"(#10) Application does not have permission for this action","type":"OAuthException","code":10,"fbtrace_id":"A10"}})",
           10, 0},
          {403,
           R"({"error":{"message":"(#200) Permissions error","type":"OAuthException","code":200,"fbtrace_id":"A200"}})",
           200, 0},
          {403,
           R"({"error":{"message":"(#294) Managing advertisements requires the extended permission ads_management","type":"OAuthException","code":294,"fbtrace_id":"A294"}})",
           294, 0},
          {400,
           R"({"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"error_user_title":"Event Timestamp Too Old","fbtrace_id":"A100"}})",
           100, 2804003},
      }) {
    MetaAnswer answer = ClassifyAnswer(Answer(c.http, c.body));
    CAPTURE(c.body);
    CHECK(answer.outcome == MetaOutcome::kTerminal);
    CHECK(answer.error_code == c.code);
    CHECK(answer.error_subcode == c.subcode);
    CHECK(answer.http_status == c.http);
    CHECK(answer.fbtrace_id.find('A') == 0);
    CHECK(answer.message.find(absl::StrCat("Meta error ", c.code)) == 0);
  }
  MetaAnswer token = ClassifyAnswer(Answer(
      400,
      R"({"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A190"}})"));
  CHECK(token.message ==
        "Meta error 190/463 (OAuthException): Error validating access token [HTTP 400]");
}

TEST_CASE("retryable errors: temporary, rate limits, 5xx, 429, no answer") {
  for (
      const auto& [http, body] : std::vector<std::pair<int, std::string>>{
          {500,
           R"({"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"error_subcode":99,"fbtrace_id":"A1"}})"},
          {500,
           R"({"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"A2"}})"},
          {400,
           R"({"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"A4"}})"},
          {400,
           R"({"error":{"message":"(#17) User request limit reached","type":"OAuthException","is_transient":true,"code":17,"error_subcode":2446079,"fbtrace_id":"A17"}})"},
          {400,
           R"({"error":{"message":"(#341) Application limit reached","type":"OAuthException","code":341,"fbtrace_id":"A341"}})"},
          {400,  // an unlisted code Meta itself calls transient
           R"({"error":{"message":"Temporarily unavailable","type":"OAuthException","code":9007,"is_transient":true,"fbtrace_id":"A9007"}})"},
          {502,  // an unlisted code on a 5xx
           R"({"error":{"message":"Bad gateway","type":"GraphMethodException","code":12345,"fbtrace_id":"A5"}})"},
          {503, ""},
          {429, "<html>Too Many Requests</html>"},
          {408, ""},
      }) {
    CAPTURE(body);
    MetaAnswer answer = ClassifyAnswer(Answer(http, body));
    CHECK(answer.outcome == MetaOutcome::kRetryable);
    CHECK(answer.http_status == http);
    CHECK_FALSE(answer.message.empty());
  }
  for (const absl::Status& error :
       {absl::UnavailableError("connection refused"), absl::DeadlineExceededError("1500 ms")}) {
    MetaAnswer answer = ClassifyAnswer(error);
    CHECK(answer.outcome == MetaOutcome::kRetryable);
    CHECK(answer.http_status == 0);
    CHECK(answer.message.find(std::string(error.message())) != std::string::npos);
  }
}

TEST_CASE("other 4xx answers are terminal") {
  MetaAnswer unknown = ClassifyAnswer(Answer(
      400,
      R"({"error":{"message":"(#2200) Callback verification failed","type":"OAuthException","code":2200,"fbtrace_id":"A"}})"));
  CHECK(unknown.outcome == MetaOutcome::kTerminal);
  CHECK(unknown.error_code == 2200);
  MetaAnswer not_found = ClassifyAnswer(Answer(404, "<html>Not Found</html>"));
  CHECK(not_found.outcome == MetaOutcome::kTerminal);
  CHECK(not_found.error_code == 0);
  CHECK(not_found.message == "HTTP 404: <html>Not Found</html>");
}

TEST_CASE("messages never carry a token, and are valid UTF-8 of bounded size") {
  const std::string url =
      absl::StrCat("https://graph.facebook.com/v19.0/1/events?access_token=", kToken, "&x=1");
  MetaAnswer transport = ClassifyAnswer(absl::UnavailableError(absl::StrCat("POST ", url)));
  CHECK(transport.message.find(kToken) == std::string::npos);
  CHECK(transport.message.find("access_token=[redacted]&x=1") != std::string::npos);

  MetaAnswer echoed = ClassifyAnswer(
      Answer(400, absl::StrCat(R"({"error":{"message":"Malformed access token )", kToken,
                               R"(","type":"OAuthException","code":190,"fbtrace_id":"A"}})")));
  CHECK(echoed.outcome == MetaOutcome::kTerminal);
  CHECK(echoed.message.find(kToken) == std::string::npos);
  CHECK(echoed.message.find("[redacted]") != std::string::npos);

  // An answer that is not UTF-8 (a Latin-1 error page) and is long.
  MetaAnswer page =
      ClassifyAnswer(Answer(502, std::string("Erro \xE9\n") + std::string(5000, 'x')));
  CHECK(page.message.size() <= 303);
  CHECK(page.message.find('\n') == std::string::npos);
  CHECK(page.message.find('\xE9') == std::string::npos);
  payments::v1::MetaPurchaseFailed failed;  // proto3 strings must be valid UTF-8 to parse back
  failed.set_error(page.message);
  payments::v1::MetaPurchaseFailed parsed;
  CHECK(parsed.ParseFromString(failed.SerializeAsString()));
}

TEST_CASE("events older than 7 days are never sent") {
  const int64_t now = 1767225600;
  const int64_t week = 7 * 24 * 3600;
  CHECK_FALSE(IsTooOldForMeta(now, now));
  CHECK_FALSE(IsTooOldForMeta(now - 3600, now));
  CHECK_FALSE(IsTooOldForMeta(now - week, now));
  CHECK(IsTooOldForMeta(now - week - 1, now));
  CHECK(IsTooOldForMeta(now - 30 * 24 * 3600, now));
}

}  // namespace
}  // namespace tally::reactors
