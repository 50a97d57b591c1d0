#pragma once
// How the read API and the dashboard's live feed render a row of the payments view, so both
// say the same thing about a payment. Select kPaymentViewColumns and hand each row to
// PaymentViewJson:
//
//   {"payment_id","stream_id","gateway","gateway_transaction_id","bot_id","product_id",
//    "customer_id","plan_id","origin","amount_minor","paid_amount_minor","currency","status",
//    "status_source","paid_confirmed","created_at","first_seen_at","expires_at","paid_at",
//    "refunded_at","delivery_state","purchase_state","purchase_sent","meta_event_id","late",
//    "amount_mismatch"}
//
// payment_id is the id Tally gave the charge (null for a payment Tally only saw webhooks of);
// stream_id always names it ("payment-<gateway>-<transaction id>"). Times are RFC 3339 UTC
// with microseconds, null when unset; money is integer minor units. The tenant id is not
// rendered (the caller is that tenant). Thread-safe (stateless).

#include <string>

namespace pqxx {
class field;
class row;
}  // namespace pqxx

namespace tally::http {

// The SELECT list (over the payments view) PaymentViewJson reads, in its order (26 columns;
// more may follow it in a SELECT).
extern const char* const kPaymentViewColumns;

std::string PaymentViewJson(const pqxx::row& row);

// A result field as a JSON value, for every read API renderer: text quoted (null for NULL or
// ""), a boolean as true/false (NULL: false), a timestamptz read in a UTC session as RFC 3339
// UTC with microseconds (null for NULL).
std::string JsonText(const pqxx::field& field);
std::string JsonFlag(const pqxx::field& field);
std::string JsonTime(const pqxx::field& field);

}  // namespace tally::http
