#include "http/payment_view.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "ledger/event_json.h"
#include "projections/payment_row.h"

namespace tally::http {

const char* const kPaymentViewColumns =
    "payment_id, stream_id, gateway, gateway_transaction_id, bot_id, product_id, customer_id, "
    "plan_id, origin, amount_minor, paid_amount_minor, currency, status, status_source, "
    "paid_confirmed, created_at, first_seen_at, expires_at, paid_at, refunded_at, "
    "delivery_state, purchase_state, purchase_sent, meta_event_id, late, amount_mismatch";

namespace {

std::string Number(const pqxx::field& field) {
  return field.is_null() ? "0" : std::string(field.c_str());
}

// PostgreSQL's text of a timestamptz in UTC (DateStyle ISO, session time zone UTC: "2026-09-21
// 10:00:00.12+00") as FormatMicros writes it ("2026-09-21T10:00:00.120000Z"), by moving
// characters: a page of payments has five timestamps a row, and parsing each into absl::Time
// to print it again was a tenth of the API's CPU. "" for any other shape (another zone, BC,
// years past 9999), which takes the general path.
std::string UtcTimeJson(const char* text, size_t n) {
  auto digits = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
    }
    return true;
  };
  if (n < 22 || n > 29 || text[4] != '-' || text[7] != '-' || text[10] != ' ' || text[13] != ':' ||
      text[16] != ':' || !digits(0, 4) || !digits(5, 7) || !digits(8, 10) || !digits(11, 13) ||
      !digits(14, 16) || !digits(17, 19) || text[n - 3] != '+' || text[n - 2] != '0' ||
      text[n - 1] != '0') {
    return "";
  }
  const size_t fraction = n - 3 - 19;  // ".d" to ".dddddd", or nothing
  if (fraction == 1 || (fraction > 1 && (text[19] != '.' || !digits(20, n - 3)))) return "";
  std::string out = "\"";
  out.append(text, 10);
  out.push_back('T');
  out.append(text + 11, 8);
  out.push_back('.');
  if (fraction > 1) out.append(text + 20, fraction - 1);
  out.append(fraction > 1 ? 7 - fraction : 6, '0');
  out.append("Z\"");
  return out;
}

}  // namespace

std::string JsonText(const pqxx::field& field) {
  return field.is_null() || field.c_str()[0] == '\0' ? "null" : ledger::JsonQuote(field.c_str());
}

std::string JsonFlag(const pqxx::field& field) {
  return !field.is_null() && field.c_str()[0] == 't' ? "true" : "false";
}

std::string JsonTime(const pqxx::field& field) {
  if (field.is_null()) return "null";
  if (std::string fast = UtcTimeJson(field.c_str(), field.size()); !fast.empty()) return fast;
  return ledger::JsonQuote(
      ledger::FormatMicros(projections::ParseTimestamp(std::string(field.c_str()))));
}

std::string PaymentViewJson(const pqxx::row& r) {
  return absl::StrCat(
      "{\"payment_id\":", JsonText(r[0]), ",\"stream_id\":", JsonText(r[1]),
      ",\"gateway\":", JsonText(r[2]), ",\"gateway_transaction_id\":", JsonText(r[3]),
      ",\"bot_id\":", JsonText(r[4]), ",\"product_id\":", JsonText(r[5]),
      ",\"customer_id\":", JsonText(r[6]), ",\"plan_id\":", JsonText(r[7]),
      ",\"origin\":", JsonText(r[8]), ",\"amount_minor\":", Number(r[9]),
      ",\"paid_amount_minor\":", Number(r[10]), ",\"currency\":", JsonText(r[11]),
      ",\"status\":", JsonText(r[12]), ",\"status_source\":", JsonText(r[13]),
      ",\"paid_confirmed\":", JsonFlag(r[14]), ",\"created_at\":", JsonTime(r[15]),
      ",\"first_seen_at\":", JsonTime(r[16]), ",\"expires_at\":", JsonTime(r[17]),
      ",\"paid_at\":", JsonTime(r[18]), ",\"refunded_at\":", JsonTime(r[19]),
      ",\"delivery_state\":", JsonText(r[20]), ",\"purchase_state\":", JsonText(r[21]),
      ",\"purchase_sent\":", JsonFlag(r[22]), ",\"meta_event_id\":", JsonText(r[23]),
      ",\"late\":", JsonFlag(r[24]), ",\"amount_mismatch\":", JsonFlag(r[25]), "}");
}

}  // namespace tally::http
