#include "sandbox/shapes.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::sandbox {
namespace {

using ledger::JsonQuote;

std::string Iso(int64_t s, absl::string_view zone_suffix = "Z") {
  if (zone_suffix == "-03:00") {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S-03:00", absl::FromUnixSeconds(s),
                            absl::FixedTimeZone(-3 * 3600));
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(s), absl::UTCTimeZone());
}

std::string NullOr(const std::string& text) { return text.empty() ? "null" : JsonQuote(text); }

uint16_t Crc16Ccitt(absl::string_view data) {
  uint16_t crc = 0xFFFF;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
  }
  return crc;
}

std::string Tlv(absl::string_view id, absl::string_view value) {
  return absl::StrCat(id, absl::StrFormat("%02d", value.size()), value);
}

constexpr int64_t kPixLifetimeSeconds = 24 * 3600;

// Where the unsigned gateways carry the seller's webhook secret: the custom header their
// dashboards let a seller add. Spelled here, not taken from the adapters that check it, so that
// a wrong name on either side fails the tests.
constexpr char kSecretHeader[] = "x-webhook-secret";

}  // namespace

std::string StatusAfter(const std::string& service, const std::string& action) {
  if (action == "create") {
    if (service == "pushinpay") return "created";
    if (service == "atomopay") return "waiting_payment";
    if (service == "stripe") return "requires_action";
    return "pending";
  }
  if (action == "pay") {
    if (service == "paradise") return "approved";
    if (service == "mercadopago") return "approved";
    if (service == "stripe") return "succeeded";
    return "paid";
  }
  if (action == "refund") return service == "stripe" ? "succeeded" : "refunded";
  if (action == "expire") {
    if (service == "mercadopago") return "cancelled";
    if (service == "stripe") return "canceled";
    return "expired";
  }
  return "";
}

http::HttpResponse Json(int status, std::string body) {
  return http::HttpResponse{status, "application/json", std::move(body)};
}

std::string DecimalFromMinor(int64_t minor) {
  std::string out = absl::StrCat(minor / 100);
  const int64_t cents = minor % 100;
  if (cents == 0) return out;
  if (cents % 10 == 0) return absl::StrCat(out, ".", cents / 10);
  return absl::StrCat(out, ".", absl::StrFormat("%02d", cents));
}

std::string PixCopyPaste(const std::string& txid, int64_t amount_minor) {
  const std::string merchant = Tlv("00", "BR.GOV.BCB.PIX") +
                               Tlv("25", absl::StrCat("pix.sandbox.tally.example/qr/v2/", txid));
  const std::string amount = absl::StrFormat("%d.%02d", amount_minor / 100, amount_minor % 100);
  std::string code =
      absl::StrCat(Tlv("00", "01"), Tlv("01", "12"), Tlv("26", merchant), Tlv("52", "0000"),
                   Tlv("53", "986"), Tlv("54", amount), Tlv("58", "BR"), Tlv("59", "TALLY SANDBOX"),
                   Tlv("60", "SAO PAULO"), Tlv("62", Tlv("05", "***")), "6304");
  return absl::StrCat(code, absl::StrFormat("%04X", Crc16Ccitt(code)));
}

std::string ChargeJson(const Charge& c, bool creation) {
  const std::string qr_png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ";
  if (c.service == "pushinpay") {
    return absl::StrCat(
        R"({"id":)", JsonQuote(c.id), R"(,"qr_code":)", JsonQuote(c.pix_code), R"(,"status":)",
        JsonQuote(c.status), R"(,"value":)", c.amount_minor, R"(,"webhook_url":)",
        JsonQuote(c.notification_url), R"(,"qr_code_base64":)", JsonQuote(qr_png),
        R"(,"webhook":null,"split_rules":[],"end_to_end_id":)", NullOr(c.end_to_end_id),
        R"(,"payer_name":null,"payer_national_registration":null})");
  }
  if (c.service == "paradise") {
    if (creation) {
      return absl::StrCat(R"({"status":"success","message":"Transação criada com sucesso",)",
                          R"("transaction_id":)", JsonQuote(c.id), R"(,"id":)",
                          JsonQuote(c.reference), R"(,"qr_code":)", JsonQuote(c.pix_code),
                          R"(,"qr_code_base64":)", JsonQuote(qr_png), R"(,"amount":)",
                          c.amount_minor, R"(,"acquirer":"sandbox","attempts":1,"expires_at":)",
                          JsonQuote(Iso(c.created_s + kPixLifetimeSeconds)), "}");
    }
    return absl::StrCat(R"({"id":)", c.id, R"(,"transaction_id":)", JsonQuote(c.id),
                        R"(,"external_id":)", JsonQuote(c.reference), R"(,"status":)",
                        JsonQuote(c.status), R"(,"amount":)", c.amount_minor,
                        R"(,"payment_method":"pix","created_at":)", JsonQuote(Iso(c.created_s)),
                        R"(,"updated_at":)", JsonQuote(Iso(c.updated_s)), "}");
  }
  if (c.service == "atomopay") {
    return absl::StrCat(R"({"hash":)", JsonQuote(c.hash), R"(,"id":)", c.id, R"(,"amount":)",
                        c.amount_minor, R"(,"payment_method":"pix","payment_status":)",
                        JsonQuote(c.status), R"(,"external_reference":)", JsonQuote(c.reference),
                        R"(,"pix":{"pix_qr_code":)", JsonQuote(c.pix_code),
                        R"(,"expiration_date":)", JsonQuote(Iso(c.created_s + kPixLifetimeSeconds)),
                        R"(},"created_at":)", JsonQuote(Iso(c.created_s)), "}");
  }
  if (c.service == "mercadopago") {
    const bool approved = c.status == "approved" || c.refunded;
    return absl::StrCat(
        R"({"id":)", c.id, R"(,"status":)", JsonQuote(c.status), R"(,"status_detail":)",
        JsonQuote(c.status == "pending" ? "pending_waiting_transfer" : "accredited"),
        R"(,"transaction_amount":)", DecimalFromMinor(c.amount_minor),
        R"(,"currency_id":"BRL","payment_method_id":"pix","payment_type_id":"bank_transfer",)",
        R"("description":)", JsonQuote(c.description), R"(,"external_reference":)",
        JsonQuote(c.reference), R"(,"date_created":)", JsonQuote(Iso(c.created_s, "-03:00")),
        R"(,"date_approved":)", approved ? JsonQuote(Iso(c.updated_s, "-03:00")) : "null",
        R"(,"date_of_expiration":)", JsonQuote(Iso(c.created_s + kPixLifetimeSeconds, "-03:00")),
        R"(,"point_of_interaction":{"type":"PIX","transaction_data":{"qr_code":)",
        JsonQuote(c.pix_code), R"(,"qr_code_base64":"iVBORw0KGgo=","ticket_url":)",
        JsonQuote(absl::StrCat("https://sandbox.tally.example/payments/", c.id, "/ticket")), "}}}");
  }
  // stripe: a PaymentIntent
  const bool succeeded = c.status == "succeeded";
  std::string next_action = "null";
  if (c.status == "requires_action") {
    next_action = absl::StrCat(
        R"({"type":"pix_display_qr_code","pix_display_qr_code":{"data":)", JsonQuote(c.pix_code),
        R"(,"expires_at":)", c.created_s + kPixLifetimeSeconds,
        R"(,"hosted_instructions_url":"https://payments.stripe.com/pix/instructions/sandbox",)",
        R"("image_url_png":"https://qr.stripe.com/sandbox.png"}})");
  }
  return absl::StrCat(R"({"id":)", JsonQuote(c.id), R"(,"object":"payment_intent","amount":)",
                      c.amount_minor, R"(,"amount_received":)", succeeded ? c.amount_minor : 0,
                      R"(,"currency":)", JsonQuote(absl::AsciiStrToLower(c.currency)),
                      R"(,"status":)", JsonQuote(c.status), R"(,"description":)",
                      JsonQuote(c.description), R"(,"metadata":{"payment_id":)",
                      JsonQuote(c.reference), R"(},"payment_method_types":["pix"],"created":)",
                      c.created_s, R"(,"livemode":false,"next_action":)", next_action, "}");
}

Notification WebhookFor(const Charge& c, const std::string& action, const std::string& url,
                        const std::string& secret, int64_t now_s, uint64_t sequence) {
  Notification n;
  n.url = url;
  auto secret_header = [&] {
    if (!secret.empty()) n.headers.emplace_back(kSecretHeader, secret);
  };
  if (c.service == "pushinpay") {
    // PushinPay posts a form body, and shows the id in upper case where its API used lower.
    n.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    secret_header();
    n.body = gateways::FormEncode({{"id", absl::AsciiStrToUpper(c.id)},
                                   {"status", c.status},
                                   {"value", absl::StrCat(c.amount_minor)},
                                   {"end_to_end_id", c.end_to_end_id},
                                   {"payer_name", "Comprador Sandbox"},
                                   {"payer_national_registration", "00000000000"}});
    return n;
  }
  if (c.service == "paradise") {
    n.headers.emplace_back("Content-Type", "application/json");
    secret_header();
    n.body = absl::StrCat(R"({"transaction_id":)", JsonQuote(c.id), R"(,"external_id":)",
                          JsonQuote(c.reference), R"(,"status":)", JsonQuote(c.status),
                          R"(,"amount":)", c.amount_minor,
                          R"(,"payment_method":"pix","timestamp":)", JsonQuote(Iso(now_s)), "}");
    return n;
  }
  if (c.service == "atomopay") {
    n.headers.emplace_back("Content-Type", "application/json");
    secret_header();
    n.body =
        absl::StrCat(R"({"hash":)", JsonQuote(c.hash), R"(,"id":)", c.id, R"(,"payment_status":)",
                     JsonQuote(c.status), R"(,"amount":)", c.amount_minor,
                     R"(,"payment_method":"pix","updated_at":)", JsonQuote(Iso(now_s)), "}");
    return n;
  }
  if (c.service == "mercadopago") {
    // Mercado Pago says only "payment <id> changed": the receiver polls for the status.
    const std::string request_id = absl::StrFormat("%08x-sandbox-%d", sequence, now_s);
    const std::string manifest = absl::StrCat("id:", absl::AsciiStrToLower(c.id),
                                              ";request-id:", request_id, ";ts:", now_s, ";");
    n.url = absl::StrCat(url, absl::StrContains(url, '?') ? "&" : "?", "data.id=", c.id,
                         "&type=payment");
    n.headers = {{"Content-Type", "application/json"},
                 {"x-request-id", request_id},
                 {"x-signature",
                  absl::StrCat("ts=", now_s, ",v1=", gateways::HmacSha256Hex(secret, manifest))}};
    n.body = absl::StrCat(R"({"action":"payment.updated","api_version":"v1","data":{"id":)",
                          JsonQuote(c.id), R"(},"date_created":)", JsonQuote(Iso(now_s)),
                          R"(,"id":)", 20000000000 + sequence,
                          R"(,"live_mode":false,"type":"payment","user_id":"1234567"})");
    return n;
  }
  // stripe: an Event, signed over "{t}.{body}".
  std::string type;
  std::string object;
  if (action == "refund") {
    type = "charge.refunded";
    object = absl::StrCat(R"({"id":"ch_)", c.id.substr(3), R"(","object":"charge","amount":)",
                          c.amount_minor, R"(,"amount_refunded":)", c.amount_minor,
                          R"(,"currency":"brl","payment_intent":)", JsonQuote(c.id),
                          R"(,"refunded":true,"status":"succeeded"})");
  } else {
    type = action == "pay" ? "payment_intent.succeeded" : "payment_intent.canceled";
    object = ChargeJson(c, false);
  }
  n.body = absl::StrCat(R"({"id":"evt_sandbox_)", sequence,
                        R"(","object":"event","api_version":"2024-06-20","created":)", now_s,
                        R"(,"livemode":false,"type":)", JsonQuote(type), R"(,"data":{"object":)",
                        object, "}}");
  n.headers = {{"Content-Type", "application/json"},
               {"Stripe-Signature",
                absl::StrCat("t=", now_s, ",v1=",
                             gateways::HmacSha256Hex(secret, absl::StrCat(now_s, ".", n.body)))}};
  return n;
}

}  // namespace tally::sandbox
