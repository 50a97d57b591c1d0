#pragma once
// The simulated Meta Conversions API, under /meta: POST /{version}/{pixel_id}/events with the
// access token in the query string or the body, answered as the Graph API answers: the number of
// events received; error 190 for a token it does not know, and for every call for a pixel the
// control API marked as having an invalid token; error 100 for a request without events, or
// with an event missing its name or time, or older than 7 days (the whole request is refused).
// At the rates of the faults in force: 500 (code 1), 200 with events_received 0, or the answer a
// call would get sent only after meta_timeout_ms.
//
// Keeps the events of every call answered 200 with events_received ≥ 1 (a late answer's too:
// Meta got them), deduplicated as Meta counts them: the same pixel, event_name and event_id are
// one event, however many receipts; an event without event_id is never merged. Nothing is kept
// from a call answered otherwise.
//
// Thread-safe. Late answers wait on the timer: it must outlive this object and be shut down
// before it is destroyed.

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gateways/payload_fields.h"
#include "http/message.h"
#include "http/server.h"
#include "sandbox/fault_injector.h"
#include "sandbox/shapes.h"
#include "sandbox/task_timer.h"

namespace tally::sandbox {

class Meta {
 public:
  // `faults` and `timer` must outlive this object.
  Meta(FaultInjector& faults, TaskTimer& timer);

  // A token the API accepts from now on.
  void AddAccessToken(const std::string& token);

  // The control API's POST /sandbox/meta/invalid_token {"pixel_id"}: from now on every call for
  // the pixel answers 400, code 190, whatever token it carries. 400 without a pixel_id.
  http::HttpResponse InvalidateToken(const gateways::PayloadFields& fields);

  // A request under the prefix; `path` is the rest of the path, split at '/'. Answers through
  // `respond`, at once or, for a late answer, from the timer.
  void Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
              const Query& query, const http::Responder& respond);

  // The control API's GET /sandbox/meta/events[?pixel_id=P]: {"unique":U,"raw_receipts":R,
  // "events":[{"pixel_id","event_name","event_id","event_time","value","currency","receipts",
  // "user_data"},…]}, in order of first receipt, for one pixel or ("") all. `value` and
  // `user_data` are the JSON received (null and {} when absent), the first receipt's.
  std::string EventsJson(const std::string& pixel_id) const;

 private:
  struct Event {
    std::string pixel_id;
    std::string event_name;
    std::string event_id;
    int64_t event_time = 0;
    std::string value_json;
    std::string currency;
    std::string user_data_json;
    int64_t receipts = 1;
  };

  // Under mu_: the answer to a call for `pixel_id` authenticated with `access_token`, keeping
  // its events when it succeeds.
  http::HttpResponse Receive(const std::string& pixel_id, const std::string& access_token,
                             const std::string& body);

  FaultInjector& faults_;
  TaskTimer& timer_;
  mutable std::mutex mu_;
  std::set<std::string> access_tokens_;
  std::set<std::string> invalid_token_pixels_;
  std::vector<Event> events_;  // in order of first receipt
  // (pixel, event_name, event_id) -> index in events_
  std::map<std::tuple<std::string, std::string, std::string>, size_t> dedup_;
};

}  // namespace tally::sandbox
