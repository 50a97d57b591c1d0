#pragma once
// The owner read API: what a seller's dashboard shows, served from the projections (never from
// the log on the hot path, except one payment's own history), on the read database
// (http/read_database.h: the primary, or a hot standby).
//
// Keys: an owner key, or an auditor key bound to a tenant (read-only by nature); each sees only
// its tenant. Another tenant's payment is 404 payment_not_found, exactly like one that does not
// exist. No key or an unknown one: 401; another scope (admin, an all-tenant auditor): 403.
//
//   GET /v1/payments?status=&gateway=&bot_id=&product_id=&created_from=&created_to=
//                    &paid_from=&paid_to=&limit=&cursor=
//     {"payments":[<payment>...],"next_cursor":"..."|null}, newest first. status is a comma
//     list (pending,paid,refunded,charged_back,expired,cancelled,refused,abandoned,unknown);
//     created_* bound when Tally first saw the payment (its PaymentCreated, or a webhook that
//     came first), paid_* its paid time: RFC 3339 times, or dates (YYYY-MM-DD) meaning that
//     day's start in the tenant's time zone; *_from is inclusive, *_to exclusive. limit 1..500
//     (default 50). The order (first seen, partition, stream) is stable, so following
//     next_cursor never repeats or skips a payment, whatever is appended meanwhile (new
//     payments are newer than any cursor). <payment>: http/payment_view.h.
//   GET /v1/payments/<id>    (id: the payment_id, or the stream_id)
//     {"payment":<payment>,"history":[<event>...]}: the row and its stream's events rendered
//     as JSON (ledger/event_json.h), oldest first, at most 1,000.
//   GET /v1/revenue?from=&to=&group_by=
//     Confirmed sales and refunds by local day in the tenant's time zone (revenue_daily): from
//     and to are dates, both inclusive (default: the last 30 days, today included; at most
//     3,660 days); group_by is a comma list of day, bot, gateway, product, origin (default day).
//     {"from","to","time_zone","group_by":[...],"groups":[{<dimensions>,"currency",
//     "paid_count","paid_minor","refunded_count","refunded_minor","net_minor"}],
//     "totals":[{"currency",...the same sums}]}; dimensions are named day, bot_id, gateway,
//     product_id (null: no product), origin (direct, upsell, downsell).
//   GET /v1/stats?from=&to=   (dates as for revenue)
//     {"from","to","time_zone","currency","sales","revenue_minor","refunded_minor","net_minor",
//      "average_ticket_minor","upsell_revenue_minor","downsell_revenue_minor","paying_buyers",
//      "by_gateway":[{"gateway","sales","revenue_minor"}],"by_hour":[24 x {"hour","sales",
//      "revenue_minor"}],"currencies":[{"currency","sales",...}]}: sales are confirmed sales
//     by paid day (refunds on their own day, as in revenue); the top-level figures are those of
//     the tenant's main currency (the one with most sales; "currencies" has all of them);
//     paying_buyers counts distinct customers with a sale; by_hour is the local hour of day.
//     "leads" counts the leads whose first /start fell in those days and "conversion" is
//     distinct paying customers (any currency) / leads, 4 decimals (null without leads).
//   GET /v1/leads?bot_id=&started_from=&started_to=&limit=&cursor=
//     {"leads":[{"bot_id","telegram_user_id","first_name","username","start_payload",
//     "first_started_at","last_started_at","starts"}],"next_cursor"}, newest first /start.
//   GET /v1/subscriptions?status=active,expired,revoked&bot_id=&plan_id=&limit=&cursor=
//     {"subscriptions":[{"subscription_id","bot_id","plan_id","customer_id","status",
//     "cancelled" (ends at ends_at, not renewed),"started_at","ends_at","renewals",
//     "last_payment_id"}],"next_cursor"}, newest first.
//
// A tenant's time zone (the days of revenue and stats, date bounds) is kept for 5 s after it
// is read, as keys are (http/api_auth.h): a change of zone applies within that.
//
// Bad parameters: 400 invalid_parameter, the message naming the parameter (unknown parameters
// too). Handle blocks on the database: call it from a worker thread. Thread-safe.

#include <string>

#include "http/api_auth.h"
#include "http/message.h"
#include "http/read_database.h"
#include "http/server.h"
#include "http/ttl_cache.h"
#include "ledger/clock.h"
#include "ledger/event_registry.h"
#include "ledger/event_store.h"

namespace tally::http {

class ReadApi {
 public:
  ReadApi(ledger::EventStore& store, const ledger::Clock& clock, ReadDatabase& database);

  // GET /v1/payments[/<id>], /v1/revenue, /v1/stats, /v1/leads, /v1/subscriptions (`path`
  // without the query).
  void Handle(const HttpRequest& request, const std::string& path, Responder respond);

 private:
  ledger::EventStore& store_;  // keys and partitions; reads go to `database_`
  const ledger::Clock& clock_;
  ReadDatabase& database_;
  ApiKeyAuthenticator auth_;
  TtlCache<std::string> zones_{5 * 1000000};  // tenant id -> zone name ("" when unknown)
  const ledger::EventRegistry registry_;
};

}  // namespace tally::http
