#pragma once
// One simulated payment gateway: what sets it apart from the others. The charge book
// (sandbox/charge_book.h) runs every gateway the same way — accounts, charges, idempotency,
// poll faults, the control API's pay/refund/expire — and asks the gateway only what differs:
// the routes of its API (creation, status, and where the gateway has one, the search for the
// charges carrying the caller's reference), how a caller shows its API key, what a create request
// carries, the ids it invents, its words for each status, its charge, search and error shapes,
// and its webhooks (how they are built and signed, and where they are sent).
//
// A simulator speaks the wire shapes of the gateway's documentation, written down again here and
// never taken from Tally's production gateway code (adapters, gateway APIs, status
// vocabularies): a simulator that shared the code it tests could not catch its bugs. Shared
// mechanics (HMAC, payload parsing) are fine.
//
// Implementations keep no state and are thread-safe. A new gateway is a file pair with its
// factory (sources listed in sandbox/CMakeLists.txt) and one line in the list in
// sandbox/sandbox.cc.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateways/payload_fields.h"
#include "http/message.h"
#include "sandbox/shapes.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

struct Charge {
  std::string service;  // the gateway's name
  std::string id;       // as the gateway shows it in API answers
  std::string hash;     // a second id, where the gateway has one (Atomopay)
  std::string api_key;
  std::string reference;  // the caller's external reference (Tally's payment id), "" if none
  std::string description;
  std::string notification_url;
  std::string status;  // in the gateway's own words
  std::string pix_code;
  std::string end_to_end_id;  // set once paid
  int64_t amount_minor = 0;
  std::string currency = "BRL";
  int64_t created_s = 0;
  int64_t updated_s = 0;
  bool refunded = false;
};

// What the control API does to a charge, as the payer or the gateway would.
enum class ChargeAction { kPay, kRefund, kExpire };

// The gateway's word for a charge waiting for payment, and after each action.
struct StatusWords {
  absl::string_view created;
  absl::string_view paid;
  absl::string_view refunded;
  absl::string_view expired;
};

// A request under the gateway's prefix, as its API reads it: a charge creation, a status
// request for a charge id (as the path or the query carries it), a search for the charges
// carrying the caller's reference, or none of these (404).
// A call the gateway recognises but refuses as malformed is Invalid (400, with its message).
struct ApiCall {
  enum class Kind { kNone, kCreate, kStatus, kLookup, kInvalid };

  static ApiCall Create() { return {Kind::kCreate, ""}; }
  static ApiCall Status(std::string charge_id) { return {Kind::kStatus, std::move(charge_id)}; }
  static ApiCall Lookup(std::string reference) { return {Kind::kLookup, std::move(reference)}; }
  static ApiCall Invalid(std::string message) { return {Kind::kInvalid, std::move(message)}; }

  Kind kind = Kind::kNone;
  // The charge id of a status request, the reference of a lookup, the message of an invalid call.
  std::string argument;
};

struct ChargeIds {
  explicit ChargeIds(std::string id, std::string hash = "")
      : id(std::move(id)), hash(std::move(hash)) {}

  std::string id;
  std::string hash;  // "" but for gateways with a second id
};

class SimulatedGateway {
 public:
  virtual ~SimulatedGateway() = default;

  // The path prefix, and the `service` of the control API's accounts and charges.
  virtual absl::string_view name() const = 0;

  // Which call `method` on `path` (the path after the prefix, split at '/') is.
  virtual ApiCall Route(const std::string& method, const std::vector<std::string>& path,
                        const Query& query) const = 0;

  // The API key the request authenticates with, "" when it carries none.
  virtual std::string ApiKey(const http::HttpRequest& request, const Query& query) const = 0;

  // The charge a create request asks for: amount (0 when missing or malformed; the book refuses
  // what is not positive), currency, reference, description, notification URL.
  // InvalidArgument, with the gateway's message, for a request it refuses otherwise.
  virtual absl::StatusOr<Charge> ChargeFromRequest(const gateways::PayloadFields& fields) const = 0;

  // The key that makes a retried create return the first charge; "" for none.
  virtual std::string IdempotencyKey(const http::HttpRequest& request) const { return ""; }

  // The HTTP status of a create answer.
  virtual int CreatedStatus() const { return 200; }

  // The ids of the `sequence`-th charge of the sandbox, drawing on the seeded random source.
  virtual ChargeIds NewIds(uint64_t sequence, absl::FunctionRef<uint32_t()> random32) const = 0;

  // An id as the gateway compares ids (the default: exactly). A charge is filed under the key
  // of its hash, or of its id when it has none; a request finds it under the key of the id it
  // names, or by the charge's id.
  virtual std::string LookupKey(absl::string_view id) const { return std::string(id); }

  // Its words for a charge's states; pay, refund and expire move a charge between them.
  virtual StatusWords statuses() const = 0;

  // The charge as the gateway's create answer (creation = true) or status answer renders it.
  virtual std::string ChargeJson(const Charge& charge, bool creation) const = 0;

  // The answer to a lookup by reference: `found` holds the caller's charges carrying it, in
  // creation order (possibly none). The default is for gateways that have no such lookup and so
  // never route to one: 404.
  virtual http::HttpResponse LookupAnswer(const std::vector<const Charge*>& found) const;

  // Errors in the gateway's own shapes; the defaults are {"message": …}.
  virtual http::HttpResponse Unauthorized() const;
  virtual http::HttpResponse NotFound(const std::string& what) const;
  virtual http::HttpResponse BadRequest(const std::string& message) const;
  // The body of a 429 answer (the charge book adds the status and a Retry-After header); it
  // carries `retry_after` in seconds. The default is {"message":…,"retry_after":…}.
  virtual std::string RateLimitedJson(int retry_after_s) const;

  // Where the webhooks about `charge` go: its notification URL, else the account's endpoint
  // (the default); "" sends none.
  virtual std::string WebhookUrl(const Charge& charge, const std::string& account_url) const;

  // The webhook the gateway sends to `url` after `action` on `charge`: signed with `secret`
  // where the gateway signs, else carrying it in the secret header when not empty. `sequence`
  // makes event ids unique.
  virtual Notification Webhook(const Charge& charge, ChargeAction action, const std::string& url,
                               const std::string& secret, int64_t now_s,
                               uint64_t sequence) const = 0;
};

// The headers of an unsigned gateway's webhook: the content type, and the seller's secret in
// the custom header their dashboards let a seller add, when one is configured.
std::vector<std::pair<std::string, std::string>> UnsignedWebhookHeaders(
    absl::string_view content_type, const std::string& secret);

}  // namespace tally::sandbox
