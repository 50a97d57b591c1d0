#include "sandbox/webhook_delivery.h"

#include <chrono>

namespace tally::sandbox {

WebhookDelivery::WebhookDelivery(FaultInjector& faults, TaskTimer& timer, int attempts,
                                 int retry_base_ms)
    : faults_(faults), timer_(timer), attempts_(attempts), retry_base_ms_(retry_base_ms) {}

void WebhookDelivery::Send(Notification n) {
  const Faults f = faults_.faults();
  if (faults_.Chance(f.drop_rate)) {
    ++dropped_;
    return;
  }
  const int copies = faults_.Chance(f.duplicate_rate) ? 2 : 1;
  if (copies == 2) ++duplicated_;
  for (int i = 0; i < copies; ++i) {
    int delay = f.delay_min_ms;
    if (f.delay_max_ms > f.delay_min_ms) delay = faults_.Uniform(f.delay_min_ms, f.delay_max_ms);
    if (faults_.Chance(f.reorder_rate)) delay += f.reorder_hold_ms;
    timer_.RunAfter(std::chrono::milliseconds(delay), [this, n] { Deliver(n, 0); });
  }
}

void WebhookDelivery::Deliver(const Notification& n, int attempt) {
  http::ClientRequest request;
  request.method = "POST";
  request.url = n.url;
  request.headers = n.headers;
  request.body = n.body;
  request.timeout = std::chrono::milliseconds(10000);
  auto response = client_.Send(request);
  if (response.ok() && response->status >= 200 && response->status < 300) {
    ++sent_;
    return;
  }
  ++failed_attempts_;
  if (attempt + 1 >= attempts_) {
    ++given_up_;
    return;
  }
  timer_.RunAfter(std::chrono::milliseconds(retry_base_ms_ << attempt),
                  [this, n, attempt] { Deliver(n, attempt + 1); });
}

SandboxStats WebhookDelivery::stats() const {
  SandboxStats s;
  s.webhooks_sent = sent_;
  s.webhooks_failed_attempts = failed_attempts_;
  s.webhooks_dropped = dropped_;
  s.webhooks_duplicated = duplicated_;
  s.webhooks_given_up = given_up_;
  s.pending = timer_.pending();
  return s;
}

}  // namespace tally::sandbox
