#pragma once
// The sandbox's control API under /sandbox, for tests and the demo (its calls are listed in
// sandbox/sandbox.h): the accounts each simulated service accepts, the faults in force (and the
// blocked Telegram chats and invalid Meta tokens), pay, refund and expire on a gateway's
// charges, made-up Telegram updates, and what the services received, sent and counted. Answers
// JSON. Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateways/payload_fields.h"
#include "http/message.h"
#include "sandbox/charge_book.h"
#include "sandbox/fault_injector.h"
#include "sandbox/meta.h"
#include "sandbox/shapes.h"
#include "sandbox/telegram.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

class ControlApi {
 public:
  // Every argument must outlive this object.
  ControlApi(ChargeBook& book, Meta& meta, Telegram& telegram, FaultInjector& faults,
             const WebhookDelivery& delivery);

  // A request under the prefix; `path` is the rest of the path, split at '/'.
  http::HttpResponse Handle(const http::HttpRequest& request, const std::vector<std::string>& path,
                            const Query& query);

 private:
  http::HttpResponse AddAccount(const gateways::PayloadFields& fields);
  // `body` is what `fields` was parsed from: the lists in it are read from there.
  http::HttpResponse SetFaults(const gateways::PayloadFields& fields, const std::string& body);
  // The gateway names of body's silent_gateways: nullopt when it has none, InvalidArgument when
  // it is not a list of simulated gateways' names.
  absl::StatusOr<std::optional<std::vector<std::string>>> SilentGateways(
      const std::string& body) const;
  std::string StatsJson() const;

  ChargeBook& book_;
  Meta& meta_;
  Telegram& telegram_;
  FaultInjector& faults_;
  const WebhookDelivery& delivery_;
};

}  // namespace tally::sandbox
