#pragma once
// The simulated Meta Conversions API, under /meta: POST /{version}/{pixel_id}/events with the
// access token in the query string or the body, answered as the Graph API answers: the number of
// events received, error 190 for a token it does not know, error 100 for a request without
// events, and transient 500s at the rate of the faults in force. Keeps every request it accepted
// for the control API. Thread-safe.

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/message.h"
#include "sandbox/fault_injector.h"
#include "sandbox/shapes.h"

namespace tally::sandbox {

class Meta {
 public:
  // `faults` must outlive this object.
  explicit Meta(FaultInjector& faults);

  // A token the API accepts from now on.
  void AddAccessToken(const std::string& token);

  // A request under the prefix; `path` is the rest of the path, split at '/'.
  http::HttpResponse Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
                            const Query& query);

  // {"requests":[{"pixel_id":…,"body":…},…]}: the accepted requests, oldest first.
  std::string RequestsJson() const;

 private:
  FaultInjector& faults_;
  mutable std::mutex mu_;
  std::set<std::string> access_tokens_;
  std::vector<std::string> requests_;
};

}  // namespace tally::sandbox
