#pragma once
// The simulated gateways at work: the accounts each accepts, every charge created, and the
// calls on them. A gateway's own API — charge creation (with its idempotency key; its answer
// held back past the caller's deadline at create_answer_lost_rate, the charge created all the
// same), status requests (answered 429, 503 or too late at the rates of the poll faults, and
// counted in the poll accounting) and the lookup of the caller's charges by reference — and the
// control API's pay, refund and expire, which move a charge on in the gateway's words and send
// the gateway's webhook (none for the silent gateways). Everything here is the same for every
// gateway; what differs is asked of its SimulatedGateway.
//
// Thread-safe. Late answers wait on the timer, and webhooks go out through the delivery: both
// must outlive this object, and the timer must be shut down before it is destroyed.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "http/message.h"
#include "http/server.h"
#include "sandbox/fault_injector.h"
#include "sandbox/poll_accounting.h"
#include "sandbox/shapes.h"
#include "sandbox/simulated_gateway.h"
#include "sandbox/task_timer.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

class ChargeBook {
 public:
  ChargeBook(std::vector<std::unique_ptr<SimulatedGateway>> gateways, FaultInjector& faults,
             WebhookDelivery& delivery, TaskTimer& timer);

  // The gateway simulated under `name`, or nullptr.
  const SimulatedGateway* Find(absl::string_view name) const;

  // An account `gateway` accepts from now on (replacing one with the same key): its webhooks
  // are signed with, or carry, `webhook_secret`, and go to `webhook_url` when a charge names
  // no URL of its own.
  void AddAccount(const std::string& gateway, const std::string& api_key,
                  const std::string& webhook_secret, const std::string& webhook_url);

  // A request under `gateway`'s prefix; `path` is the rest of the path, split at '/'. Answers
  // through `respond`, at once or, for a late poll or a lost create answer, from the timer.
  void Handle(const SimulatedGateway& gateway, const http::HttpRequest& request,
              const std::vector<std::string>& path, const Query& query,
              const http::Responder& respond);

  // The control API's POST /sandbox/charges/{gateway}/{id}/{pay|refund|expire}: 404 for an
  // unknown gateway or charge, 409 when the charge is not in a state the action applies to.
  http::HttpResponse Act(const std::string& gateway, const std::string& id,
                         const std::string& action);

  // {"charges":[{"service","id","hash","reference","status","amount_minor","pix_copy_paste"},…]}
  // in creation order.
  std::string ChargesJson() const;

  // The control API's GET /sandbox/polls: PollAccounting::Json.
  std::string PollsJson() const;

 private:
  using Key = std::pair<std::string, std::string>;  // gateway name, key within the gateway
  struct Account {
    std::string webhook_secret;
    std::string webhook_url;
  };

  void CreateCharge(const SimulatedGateway& gateway, const std::string& api_key,
                    const http::HttpRequest& request, const http::Responder& respond);
  void Poll(const SimulatedGateway& gateway, const std::string& api_key, const std::string& id,
            const http::Responder& respond);
  // Under mu_. Files a new charge (or finds the one `idempotency_key` already made) and
  // renders the create answer.
  http::HttpResponse NewCharge(const SimulatedGateway& gateway, Charge charge,
                               const std::string& idempotency_key);
  http::HttpResponse Lookup(const SimulatedGateway& gateway, const std::string& api_key,
                            const std::string& reference) const;
  // Under mu_. The charge `id` names (its id or hash), or nullptr.
  Charge* FindCharge(const SimulatedGateway& gateway, const std::string& id);

  const std::vector<std::unique_ptr<SimulatedGateway>> gateways_;
  FaultInjector& faults_;
  WebhookDelivery& delivery_;
  TaskTimer& timer_;

  mutable std::mutex mu_;
  std::map<Key, Account> accounts_;                 // by api key
  std::map<Key, Charge> charges_;                   // by lookup key
  std::vector<Key> order_;                          // charges_ keys in creation order
  std::map<Key, std::string> ids_;                  // a hashed charge's id -> its lookup key
  std::map<std::string, std::string> idempotency_;  // gateway, api key, idempotency key -> lookup
  uint64_t charge_sequence_ = 0;
  uint64_t event_sequence_ = 0;
  PollAccounting polls_;
};

}  // namespace tally::sandbox
