#pragma once
// Meta's Conversions API for one Purchase, as pure functions: the buyer's data normalized and
// hashed as Meta specifies, the event JSON, the HTTP request that carries it, and what Meta's
// answer means (succeeded, retry later, or terminal until the seller reconfigures). No I/O, no
// clock: the meta purchase reactor and its outbox sender (elsewhere) record the event JSON in
// MetaPurchaseRequested, send it through a gateways::Transport and record the outcome.
//
// The access token travels only in the request URL's query. Nothing here puts it in a
// message: errors name the field that is wrong, never its value, and ClassifyAnswer scrubs
// anything that looks like a token from the messages it passes on (a transport error or Meta's
// own message could echo the URL).
//
// Facts come from ../shared/EXTERNAL_APIS.md ("Meta Conversions API"). All functions are
// thread-safe (stateless).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateways/gateway.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {

// --- Customer information: normalization and hashing ---------------------------------------

// The user_data fields Meta wants as SHA-256 hex of a normalized value.
enum class HashedField {
  kEmail,
  kPhone,
  kFirstName,
  kLastName,
  kCity,
  kState,
  kZip,
  kCountry,
  kExternalId
};

// Which country a phone number without an international prefix belongs to: its calling code and
// the digit counts of a national number there (area code included).
struct PhoneCountry {
  absl::string_view calling_code;
  int min_national_digits;
  int max_national_digits;
};
// Brazil: DDD (2 digits) + 8 (landline) or 9 (mobile) digits.
inline constexpr PhoneCountry kBrazil{"55", 10, 11};
// The North American Numbering Plan: area code + 7 digits.
inline constexpr PhoneCountry kNorthAmerica{"1", 10, 10};

// Digits only, leading zeros (trunk and international prefixes) removed, and the country code
// of `country` prepended when the number has a national number's length and was not written
// with a leading '+'. "(11) 98765-4321" -> "5511987654321"; "+1 (650) 555-1212" ->
// "16505551212"; "" when no digit is left.
std::string NormalizePhone(absl::string_view raw, const PhoneCountry& country = kBrazil);

// The value Meta hashes for `field`:
//  - email: trimmed, lowercased;
//  - phone: NormalizePhone(raw, kBrazil);
//  - first and last name: trimmed, lowercased (ASCII, Latin-1, Latin Extended-A, Greek and
//    Cyrillic letters), punctuation removed; other UTF-8 kept as is, invalid UTF-8 bytes dropped;
//  - city, state, zip, country, external id: trimmed, lowercased (ASCII).
// "" when nothing is left (the field is then omitted, never sent as the hash of "").
std::string NormalizeField(HashedField field, absl::string_view raw);

// Lowercase hex SHA-256 of NormalizeField(field, raw); "" when the normalized value is empty.
std::string HashField(HashedField field, absl::string_view raw);

// --- The Purchase event ---------------------------------------------------------------------

// What a Purchase says, from the payment's PaymentCreated (payment_id, customer_id, amount,
// tracking) plus what is known of the buyer and when the payment was paid.
struct PurchaseInput {
  std::string payment_id;
  std::string customer_id;
  payments::v1::Money amount;
  payments::v1::Tracking tracking;
  // The buyer, when known ("" otherwise); normalized and hashed here.
  std::string email;
  std::string phone;
  std::string first_name;
  std::string last_name;
  // When the payment was paid, Unix seconds: the event_time.
  int64_t paid_at_s = 0;
};

// The fields of PurchaseInput that PaymentCreated carries; the buyer's details are left empty.
PurchaseInput PurchaseFromPayment(const payments::v1::PaymentCreated& created, int64_t paid_at_s);

// The Purchase's event_id, Meta's deduplication key (pixel + event_name + event_id): the
// tracking's PageView event id when there is one, else "purchase_<payment_id>".
std::string PurchaseEventId(const PurchaseInput& purchase);

// Minor units as a decimal in the currency's major unit, exactly (integer arithmetic only):
// 1990 BRL -> "19.90", 5 BRL -> "0.05", 1990 JPY -> "1990", 1990 KWD -> "1.990". ISO 4217
// exponents: 0 and 3 for the currencies listed in meta_capi.cc, 2 for every other code.
std::string FormatMajorUnits(int64_t amount_minor, absl::string_view currency);

// The CAPI event object (one element of "data") for one Purchase, as compact JSON:
//   event_name "Purchase", event_time = paid_at_s, action_source "website",
//   event_source_url = the tracking's source_url when it is http(s), else
//   `fallback_source_url`; event_id = PurchaseEventId;
//   user_data: client_ip_address, client_user_agent, fbp, fbc unhashed; em, ph, fn, ln hashed;
//   external_id = the hash of the customer id; empty fields omitted;
//   custom_data: value (FormatMajorUnits, a JSON string) and currency.
// InvalidArgument naming the field when: the amount is not positive or the currency is not
// three letters; paid_at_s is not positive; there is no client_user_agent (Meta requires it
// for website events); the payment id is empty; no http(s) URL is available.
absl::StatusOr<std::string> BuildPurchaseEvent(const PurchaseInput& purchase,
                                               absl::string_view fallback_source_url);

// POST {base_url}/{api_version}/{pixel_id}/events?access_token=<token, percent-encoded> with
// body {"data":[event_json]} (plus "test_event_code" when not empty), JSON content type.
// InvalidArgument naming the argument (never echoing the token) when: base_url is not
// http(s); api_version is not "v<major>.<minor>"; pixel_id is not 1–32 digits; the token is
// empty; event_json is not a JSON object; test_event_code is longer than 64 characters or
// holds other than [A-Za-z0-9_-].
absl::StatusOr<gateways::ApiRequest> BuildEventsRequest(absl::string_view base_url,
                                                        absl::string_view api_version,
                                                        absl::string_view pixel_id,
                                                        absl::string_view access_token,
                                                        absl::string_view event_json,
                                                        absl::string_view test_event_code);

// --- Meta's answer --------------------------------------------------------------------------

enum class MetaOutcome {
  kSucceeded,  // HTTP 200 with events_received >= 1
  kRetryable,  // try again later, with backoff
  kTerminal,   // will not succeed until the seller reconfigures (token, permissions, input)
};

// Shaped like MetaPurchaseSucceeded / MetaPurchaseFailed.
struct MetaAnswer {
  MetaOutcome outcome = MetaOutcome::kRetryable;
  int events_received = 0;
  std::string fbtrace_id;
  // Meta's error.code and error.error_subcode, 0 when it answered none.
  int error_code = 0;
  int error_subcode = 0;
  // 0 when no answer was read (transport error, timeout).
  int http_status = 0;
  // For operators: what went wrong, bounded, with anything token-like scrubbed. "" on success.
  std::string message;
};

// What one call's result means:
//  - succeeded only for HTTP 200 whose events_received >= 1;
//  - HTTP 200 with events_received 0 (or an unreadable body): retryable, "events_received 0";
//  - Meta error codes 1, 2 (temporary), 4, 17, 32, 341, 613 (rate limits), or is_transient:
//    retryable; 190 (token), 10 and 200–299 (permission), 100 (invalid parameter): terminal;
//  - otherwise by HTTP status: 5xx, 408 and 429 retryable, anything else terminal;
//  - a transport error (no answer: Unavailable, DeadlineExceeded, ...): retryable.
// A known error code decides over the HTTP status (190 answered with a 500 is still terminal).
MetaAnswer ClassifyAnswer(const absl::StatusOr<gateways::ApiResponse>& answer);

// Meta rejects a whole request holding an event more than 7 days old: such a Purchase is
// terminal and never sent. True when now_s - event_time_s > 7 days. Ask at send time, not
// only when the Purchase is decided (retries take time).
bool IsTooOldForMeta(int64_t event_time_s, int64_t now_s);

}  // namespace tally::reactors
