// How a payment's times are rendered (http/payment_view.h): RFC 3339 UTC with six fraction
// digits, whatever PostgreSQL printed — from the session in UTC (the fast path that moves
// characters) and in another zone (the general path), with 0 to 6 fraction digits.

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "http/payment_view.h"
#include "tests/support/pg.h"

namespace tally::http {
namespace {

// One row of the payments view's columns with created_at = `time`; its JSON.
std::string RenderedWithCreatedAt(pqxx::connection& conn, const std::string& time) {
  pqxx::work txn(conn);
  pqxx::row row = txn.exec_params1(
      absl::StrCat(
          "SELECT ", kPaymentViewColumns,
          " FROM (SELECT NULL::text AS payment_id, 'payment-stripe-1' AS stream_id, 'stripe' AS "
          "gateway, '1' AS gateway_transaction_id, NULL::text AS bot_id, NULL::text AS product_id, "
          "NULL::text AS customer_id, NULL::text AS plan_id, 'direct' AS origin, 990 AS "
          "amount_minor, 0 AS paid_amount_minor, 'BRL' AS currency, 'pending' AS status, 'api' AS "
          "status_source, false AS paid_confirmed, $1::timestamptz AS created_at, $1::timestamptz "
          "AS first_seen_at, NULL::timestamptz AS expires_at, NULL::timestamptz AS paid_at, "
          "NULL::timestamptz AS refunded_at, NULL::text AS delivery_state, NULL::text AS "
          "purchase_state, false AS purchase_sent, NULL::text AS meta_event_id, false AS late, "
          "false AS amount_mismatch, 0 AS partition_id) AS payments"),
      time);
  return PaymentViewJson(row);
}

TEST_CASE("payment times render as RFC 3339 UTC with microseconds in any session time zone") {
  auto db = testing::NewDatabase(1);
  pqxx::connection conn(db->url());
  const std::pair<const char*, const char*> cases[] = {
      {"2026-09-21 10:00:00+00", "2026-09-21T10:00:00.000000Z"},
      {"2026-09-21 10:00:00.1+00", "2026-09-21T10:00:00.100000Z"},
      {"2026-09-21 10:00:00.12+00", "2026-09-21T10:00:00.120000Z"},
      {"2026-09-21 10:00:00.123456+00", "2026-09-21T10:00:00.123456Z"},
      {"2026-12-31 23:59:59.000009+00", "2026-12-31T23:59:59.000009Z"},
      {"2026-03-01 02:30:00.5-03", "2026-03-01T05:30:00.500000Z"},
  };
  for (const char* zone : {"UTC", "America/Sao_Paulo", "Asia/Kolkata"}) {
    pqxx::nontransaction(conn).exec(absl::StrCat("SET TIME ZONE '", zone, "'"));
    for (const auto& [time, expected] : cases) {
      CAPTURE(zone);
      CAPTURE(time);
      const std::string json = RenderedWithCreatedAt(conn, time);
      CHECK(json.find(absl::StrCat("\"created_at\":\"", expected, "\"")) != std::string::npos);
      CHECK(json.find(absl::StrCat("\"first_seen_at\":\"", expected, "\"")) != std::string::npos);
      CHECK(json.find("\"paid_at\":null") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace tally::http
