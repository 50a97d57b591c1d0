#include "sandbox/control_api.h"

#include <simdjson.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/event_json.h"

namespace tally::sandbox {

ControlApi::ControlApi(ChargeBook& book, Meta& meta, Telegram& telegram, FaultInjector& faults,
                       const WebhookDelivery& delivery)
    : book_(book), meta_(meta), telegram_(telegram), faults_(faults), delivery_(delivery) {}

http::HttpResponse ControlApi::Handle(const http::HttpRequest& request,
                                      const std::vector<std::string>& path, const Query& query) {
  const std::string joined = absl::StrJoin(path, "/");
  if (request.method == "GET" && joined == "stats") return Json(200, StatsJson());
  if (request.method == "GET" && joined == "charges") return Json(200, book_.ChargesJson());
  if (request.method == "GET" && joined == "polls") return Json(200, book_.PollsJson());
  if (request.method == "GET" && joined == "meta/events") {
    auto pixel = query.find("pixel_id");
    return Json(200, meta_.EventsJson(pixel == query.end() ? "" : pixel->second));
  }
  if (request.method == "GET" && joined == "telegram/messages") {
    return Json(200, telegram_.MessagesJson(query));
  }
  if (request.method == "GET" && joined == "telegram/members") {
    return Json(200, telegram_.MembersJson(query));
  }
  if (request.method != "POST") return Json(404, R"({"message":"unknown control call"})");
  const std::string body = request.body.empty() ? "{}" : request.body;
  auto fields = gateways::PayloadFields::ParseJson(body);
  if (!fields.ok()) return Json(400, R"({"message":"body must be a JSON object"})");
  if (joined == "accounts") return AddAccount(*fields);
  if (joined == "faults") return SetFaults(*fields, body);
  if (joined == "telegram/updates") return telegram_.SendUpdate(*fields);
  if (joined == "telegram/blocked") return telegram_.Block(*fields);
  if (joined == "meta/invalid_token") return meta_.InvalidateToken(*fields);
  if (path.size() == 4 && path[0] == "charges") {
    return book_.Act(path[1], gateways::UrlDecode(path[2]), path[3]);
  }
  return Json(404, R"({"message":"unknown control call"})");
}

http::HttpResponse ControlApi::AddAccount(const gateways::PayloadFields& fields) {
  const std::string service = fields.Text("service");
  const std::string key = fields.Text("api_key");
  if (!(book_.Find(service) || service == "meta" || service == "telegram") || key.empty()) {
    return Json(400, R"({"message":"service (a gateway, meta or telegram) and api_key required"})");
  }
  if (service == "meta") {
    meta_.AddAccessToken(key);
  } else if (service == "telegram") {
    telegram_.AddBot(key);
  } else {
    book_.AddAccount(service, key, fields.Text("webhook_secret"), fields.Text("webhook_url"));
  }
  return Json(200, R"({"ok":true})");
}

http::HttpResponse ControlApi::SetFaults(const gateways::PayloadFields& fields,
                                         const std::string& body) {
  absl::StatusOr<std::optional<std::vector<std::string>>> silent = SilentGateways(body);
  if (!silent.ok()) {
    return Json(400,
                absl::StrCat(R"({"message":)", ledger::JsonQuote(silent.status().message()), "}"));
  }
  auto rate = [&](const char* name, double& out) {
    double v = 0;
    if (absl::SimpleAtod(fields.Text(name), &v)) out = std::clamp(v, 0.0, 1.0);
  };
  auto ms = [&](const char* name, int& out) {
    int v = 0;
    if (absl::SimpleAtoi(fields.Text(name), &v)) out = std::clamp(v, 0, 600000);
  };
  auto seconds = [&](const char* name, int& out) {
    int v = 0;
    if (absl::SimpleAtoi(fields.Text(name), &v)) out = std::clamp(v, 0, 3600);
  };
  faults_.Update([&](Faults& faults) {
    rate("drop_rate", faults.drop_rate);
    rate("duplicate_rate", faults.duplicate_rate);
    rate("reorder_rate", faults.reorder_rate);
    rate("poll_429_rate", faults.poll_429_rate);
    rate("poll_error_rate", faults.poll_error_rate);
    rate("poll_timeout_rate", faults.poll_timeout_rate);
    rate("create_answer_lost_rate", faults.create_answer_lost_rate);
    rate("meta_error_rate", faults.meta_error_rate);
    rate("meta_timeout_rate", faults.meta_timeout_rate);
    rate("meta_zero_received_rate", faults.meta_zero_received_rate);
    rate("telegram_429_rate", faults.telegram_429_rate);
    rate("telegram_error_rate", faults.telegram_error_rate);
    ms("delay_min_ms", faults.delay_min_ms);
    ms("delay_max_ms", faults.delay_max_ms);
    ms("reorder_hold_ms", faults.reorder_hold_ms);
    ms("poll_timeout_ms", faults.poll_timeout_ms);
    ms("create_answer_lost_ms", faults.create_answer_lost_ms);
    ms("meta_timeout_ms", faults.meta_timeout_ms);
    seconds("poll_retry_after_s", faults.poll_retry_after_s);
    seconds("telegram_retry_after_s", faults.telegram_retry_after_s);
    if (faults.delay_max_ms < faults.delay_min_ms) faults.delay_max_ms = faults.delay_min_ms;
    if (*silent) faults.silent_gateways = **std::move(silent);
  });
  return Json(200, R"({"ok":true})");
}

absl::StatusOr<std::optional<std::vector<std::string>>> ControlApi::SilentGateways(
    const std::string& body) const {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body must be a JSON object");
  }
  simdjson::dom::element list;
  if (root["silent_gateways"].get(list) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::array names;
  if (list.get_array().get(names) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("silent_gateways must be a list of gateway names");
  }
  std::vector<std::string> gateways;
  for (simdjson::dom::element element : names) {
    std::string_view name;
    if (element.get_string().get(name) != simdjson::SUCCESS ||
        !book_.Find(absl::string_view(name.data(), name.size()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("silent_gateways: not a simulated gateway: ", simdjson::minify(element)));
    }
    gateways.emplace_back(name);
  }
  return gateways;
}

std::string ControlApi::StatsJson() const {
  const SandboxStats s = delivery_.stats();
  return absl::StrCat(R"({"webhooks_sent":)", s.webhooks_sent, R"(,"webhooks_failed_attempts":)",
                      s.webhooks_failed_attempts, R"(,"webhooks_dropped":)", s.webhooks_dropped,
                      R"(,"webhooks_duplicated":)", s.webhooks_duplicated,
                      R"(,"webhooks_given_up":)", s.webhooks_given_up, R"(,"pending":)", s.pending,
                      "}");
}

}  // namespace tally::sandbox
