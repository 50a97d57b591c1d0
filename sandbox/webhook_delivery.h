#pragma once
// Sends the simulators' webhooks the way the real services do, and the ways they fail: each
// notification is dropped, duplicated, delayed or held back (so that later ones overtake it) at
// the rates of the faults in force, then POSTed from the timer's threads and retried with
// exponential backoff on anything but 2xx, up to the configured number of attempts.
//
// Send decides the faults at once (a dropped webhook is counted before Send returns) and never
// waits for the network. Tasks on the timer refer to this object: shut the timer down before
// destroying it. Thread-safe.

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "http/client.h"
#include "sandbox/fault_injector.h"
#include "sandbox/sandbox.h"
#include "sandbox/task_timer.h"

namespace tally::sandbox {

struct Notification {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included
  std::string body;
};

class WebhookDelivery {
 public:
  // `faults` and `timer` must outlive this object.
  WebhookDelivery(FaultInjector& faults, TaskTimer& timer, int attempts, int retry_base_ms);

  void Send(Notification notification);

  // The webhook counters, and as pending every task on the timer (late poll answers too).
  SandboxStats stats() const;

 private:
  void Deliver(const Notification& notification, int attempt);

  FaultInjector& faults_;
  TaskTimer& timer_;
  const int attempts_;
  const int retry_base_ms_;
  http::HttpClient client_;
  std::atomic<uint64_t> sent_{0}, failed_attempts_{0}, dropped_{0}, duplicated_{0}, given_up_{0};
};

}  // namespace tally::sandbox
