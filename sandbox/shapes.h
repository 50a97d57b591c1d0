#pragma once
// What the sandbox's simulated services say, in each service's documented wire shapes: charge
// objects (create and poll answers), webhook notifications (signed or with the secret header),
// PIX copy-and-paste codes, Telegram updates. Pure functions; the sandbox keeps the state.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "http/message.h"
#include "sandbox/webhook_delivery.h"

namespace tally::sandbox {

// A query string's parameters, decoded.
using Query = std::map<std::string, std::string>;

// An answer with a JSON body.
http::HttpResponse Json(int status, std::string body);

struct Charge {
  std::string service;  // pushinpay, paradise, atomopay, mercadopago, stripe
  std::string id;       // as the gateway shows it in API answers
  std::string hash;     // Atomopay
  std::string api_key;
  std::string reference;  // the caller's external reference
  std::string description;
  std::string notification_url;
  std::string status;  // in the gateway's own vocabulary
  std::string pix_code;
  std::string end_to_end_id;  // set once paid
  int64_t amount_minor = 0;
  std::string currency = "BRL";
  int64_t created_s = 0;
  int64_t updated_s = 0;
  bool refunded = false;
};

// The gateway's word for a charge after `action` (create, pay, refund, expire).
std::string StatusAfter(const std::string& service, const std::string& action);

// The charge as the gateway's create (creation = true) or status answer renders it.
std::string ChargeJson(const Charge& charge, bool creation);

// The webhook the gateway sends after `action` on `charge`, to `url` (the charge's
// notification URL, or the account's endpoint for Stripe), signed with `secret` where the
// gateway signs, else carrying it in the secret header when not empty. `sequence` makes event
// ids unique.
Notification WebhookFor(const Charge& charge, const std::string& action, const std::string& url,
                        const std::string& secret, int64_t now_s, uint64_t sequence);

// An EMV "BR Code" (PIX copia e cola) for a dynamic charge, CRC16-CCITT included.
std::string PixCopyPaste(const std::string& txid, int64_t amount_minor);

// 1990 -> "19.9", 2000 -> "20", 1905 -> "19.05": a decimal as a JSON number.
std::string DecimalFromMinor(int64_t minor);

}  // namespace tally::sandbox
