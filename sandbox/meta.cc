#include "sandbox/meta.h"

#include <simdjson.h>

#include <chrono>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

// Meta refuses a request carrying an event older than this.
constexpr int64_t kMaxEventAgeSeconds = 7 * 24 * 3600;

// The text of a string or integer element; "" for anything else.
std::string TextOf(simdjson::dom::element e) {
  std::string_view text;
  if (e.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  int64_t number = 0;
  if (e.get_int64().get(number) == simdjson::SUCCESS) return absl::StrCat(number);
  return "";
}

// An OAuthException answer, as the Graph API shapes its errors.
http::HttpResponse GraphError(int http_status, absl::string_view message, int code,
                              absl::string_view extra_fields = "") {
  return Json(http_status,
              absl::StrCat(R"({"error":{"message":)", JsonQuote(message),
                           R"(,"type":"OAuthException","code":)", code, extra_fields,
                           R"(,"fbtrace_id":)", JsonQuote(absl::StrCat("Asandbox", code)), "}}"));
}

}  // namespace

Meta::Meta(FaultInjector& faults, TaskTimer& timer) : faults_(faults), timer_(timer) {}

void Meta::AddAccessToken(const std::string& token) {
  std::lock_guard lock(mu_);
  access_tokens_.insert(token);
}

http::HttpResponse Meta::InvalidateToken(const gateways::PayloadFields& fields) {
  const std::string pixel_id = fields.Text("pixel_id");
  if (pixel_id.empty()) return Json(400, R"({"message":"pixel_id required"})");
  std::lock_guard lock(mu_);
  invalid_token_pixels_.insert(pixel_id);
  return Json(200, R"({"ok":true})");
}

void Meta::Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
                  const Query& query, const http::Responder& respond) {
  if (request.method != "POST" || path.size() != 3 || path[2] != "events") {
    return respond(Json(
        400,
        R"({"error":{"message":"Unsupported request","type":"GraphMethodException","code":100}})"));
  }
  auto token = query.find("access_token");
  std::string access_token = token == query.end() ? "" : token->second;
  if (access_token.empty()) {
    auto fields =
        gateways::PayloadFields::Parse(http::HeaderValue(request, "content-type"), request.body);
    if (fields.ok()) access_token = fields->Text("access_token");
  }
  http::HttpResponse answer;
  bool late = false;
  int late_ms = 0;
  {
    std::lock_guard lock(mu_);
    answer = Receive(path[1], access_token, request.body);
    if (answer.status == 200) {
      const Faults faults = faults_.faults();
      late = faults_.Chance(faults.meta_timeout_rate);
      late_ms = faults.meta_timeout_ms;
    }
  }
  if (!late) return respond(answer);
  timer_.RunAfter(std::chrono::milliseconds(late_ms), [respond, answer] { respond(answer); });
}

http::HttpResponse Meta::Receive(const std::string& pixel_id, const std::string& access_token,
                                 const std::string& body) {
  if (access_token.empty() || !access_tokens_.contains(access_token)) {
    return GraphError(400, "Invalid OAuth access token - Cannot parse access token", 190);
  }
  if (invalid_token_pixels_.contains(pixel_id)) {
    return GraphError(400, "Error validating access token", 190);
  }
  const Faults faults = faults_.faults();
  if (faults_.Chance(faults.meta_error_rate)) {
    return Json(
        500,
        R"({"error":{"message":"An unknown error has occurred.","type":"OAuthException","is_transient":true,"code":1,"fbtrace_id":"Asandbox1"}})");
  }

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array data;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      root["data"].get_array().get(data) != simdjson::SUCCESS || data.size() == 0) {
    return GraphError(400, "(#100) The parameter data is required", 100);
  }
  const int64_t now_s = absl::ToUnixSeconds(absl::Now());
  std::vector<Event> received;
  for (simdjson::dom::element element : data) {
    simdjson::dom::object object;
    if (element.get_object().get(object) != simdjson::SUCCESS) {
      return GraphError(400, "(#100) Each event must be an object", 100);
    }
    Event event;
    event.pixel_id = pixel_id;
    simdjson::dom::element field;
    if (object["event_name"].get(field) == simdjson::SUCCESS) event.event_name = TextOf(field);
    if (object["event_id"].get(field) == simdjson::SUCCESS) event.event_id = TextOf(field);
    if (event.event_name.empty()) {
      return GraphError(400, "(#100) The parameter event_name is required", 100);
    }
    if (object["event_time"].get(field) != simdjson::SUCCESS ||
        !absl::SimpleAtoi(TextOf(field), &event.event_time)) {
      return GraphError(400, "(#100) The parameter event_time is required", 100);
    }
    if (now_s - event.event_time > kMaxEventAgeSeconds) {
      return GraphError(
          400, "Invalid parameter", 100,
          R"(,"error_subcode":2804003,"is_transient":false,"error_user_title":"Event Timestamp Too Old","error_user_msg":"The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred. Enter a timestamp that has occurred within the last 7 days.")");
    }
    event.value_json = "null";
    event.user_data_json = "{}";
    if (object.at_pointer("/custom_data/value").get(field) == simdjson::SUCCESS) {
      event.value_json = simdjson::minify(field);
    }
    if (object.at_pointer("/custom_data/currency").get(field) == simdjson::SUCCESS) {
      event.currency = TextOf(field);
    }
    if (object["user_data"].get(field) == simdjson::SUCCESS) {
      event.user_data_json = simdjson::minify(field);
    }
    received.push_back(std::move(event));
  }

  const std::string fbtrace_id = absl::StrFormat("Asandbox%08x", faults_.Random32());
  if (faults_.Chance(faults.meta_zero_received_rate)) {
    return Json(200, absl::StrCat(R"({"events_received":0,"messages":[],"fbtrace_id":)",
                                  JsonQuote(fbtrace_id), "}"));
  }
  for (Event& event : received) {
    if (!event.event_id.empty()) {
      auto [it, first] = dedup_.try_emplace(
          std::make_tuple(event.pixel_id, event.event_name, event.event_id), events_.size());
      if (!first) {
        ++events_[it->second].receipts;
        continue;
      }
    }
    events_.push_back(std::move(event));
  }
  return Json(200, absl::StrCat(R"({"events_received":)", received.size(),
                                R"(,"messages":[],"fbtrace_id":)", JsonQuote(fbtrace_id), "}"));
}

std::string Meta::EventsJson(const std::string& pixel_id) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> rows;
  int64_t raw_receipts = 0;
  for (const Event& e : events_) {
    if (!pixel_id.empty() && e.pixel_id != pixel_id) continue;
    raw_receipts += e.receipts;
    rows.push_back(absl::StrCat(R"({"pixel_id":)", JsonQuote(e.pixel_id), R"(,"event_name":)",
                                JsonQuote(e.event_name), R"(,"event_id":)", JsonQuote(e.event_id),
                                R"(,"event_time":)", e.event_time, R"(,"value":)", e.value_json,
                                R"(,"currency":)", JsonQuote(e.currency), R"(,"receipts":)",
                                e.receipts, R"(,"user_data":)", e.user_data_json, "}"));
  }
  return absl::StrCat(R"({"unique":)", rows.size(), R"(,"raw_receipts":)", raw_receipts,
                      R"(,"events":[)", absl::StrJoin(rows, ","), "]}");
}

}  // namespace tally::sandbox
