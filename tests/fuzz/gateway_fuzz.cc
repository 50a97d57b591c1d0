// libFuzzer target for one gateway (TALLY_FUZZ_GATEWAY): its webhook parser — reached past the
// signature check by signing the fuzzed body with a known secret when the first byte says so —
// and its API answer parsers (create charge, poll status) fed the same bytes as an answer.
//
// Input: byte 0 = flags (1 sign correctly, 2 form body, 4 stale Stripe timestamp, 8 answer
// with HTTP 500), then the query string up to the first '\n', then the body.
// Invariants that trap: an accepted webhook has a transaction id; an unsigned request is never
// SIGNED; an accepted amount is never negative.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/registry.h"
#include "gateways/webhook_crypto.h"

namespace {

using namespace tally::gateways;
namespace pb = tally::payments::v1;

constexpr int64_t kNow = 1795000000;
constexpr char kSecret[] = "fuzz-secret";

void Require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1 << 16)) return 0;
  const uint8_t flags = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t newline = rest.find('\n');
  const std::string query(newline == std::string_view::npos ? "" : rest.substr(0, newline));
  const std::string body(newline == std::string_view::npos ? rest : rest.substr(newline + 1));
  const std::string gateway = TALLY_FUZZ_GATEWAY;
  const bool sign = flags & 1;

  WebhookRequest request;
  request.query_string = query;
  request.body = body;
  request.content_type = (flags & 2) ? "application/x-www-form-urlencoded" : "application/json";
  request.now_s = kNow;
  if (gateway == "stripe") {
    const int64_t t = (flags & 4) ? kNow - 1000 : kNow;
    request.headers.emplace_back(
        "stripe-signature",
        absl::StrCat("t=", t,
                     ",v1=", sign ? HmacSha256Hex(kSecret, absl::StrCat(t, ".", body)) : "00"));
  } else if (gateway == "mercadopago") {
    const auto params = ParseQueryString(query);
    auto id = params.find("data.id");
    std::string manifest;
    if (id != params.end() && !id->second.empty()) {
      absl::StrAppend(&manifest, "id:", absl::AsciiStrToLower(id->second), ";");
    }
    absl::StrAppend(&manifest, "request-id:rid;ts:", kNow, ";");
    request.headers.emplace_back("x-request-id", "rid");
    request.headers.emplace_back(
        "x-signature",
        absl::StrCat("ts=", kNow, ",v1=", sign ? HmacSha256Hex(kSecret, manifest) : "00"));
  } else {
    request.headers.emplace_back(kUnsignedSecretHeader, sign ? kSecret : "nope");
  }

  static const GatewayRegistry gateways = StandardGateways();
  const Gateway* adapter = gateways.Find(gateway);
  Require(adapter != nullptr);
  auto parsed = adapter->ParseWebhook(request, {kSecret});
  if (parsed.ok()) {
    Require(!parsed->transaction_id.empty());
    if (!sign) Require(parsed->authenticity != pb::AUTHENTICITY_SIGNED);
    if (parsed->observation.has_amount()) Require(parsed->observation.amount().amount_minor() >= 0);
  }

  // The same bytes as the gateway's answer to our API calls.
  const Gateway* api = adapter;
  Transport transport = [&](const ApiRequest&) -> absl::StatusOr<ApiResponse> {
    return ApiResponse{(flags & 8) ? 500 : 200, body};
  };
  ChargeRequest charge;
  charge.payment_id = "pay_fuzz";
  charge.amount.set_amount_minor(1990);
  charge.amount.set_currency("BRL");
  auto created = api->CreateCharge({"http://fuzz.invalid", "key"}, charge, transport);
  if (created.ok()) Require(!created->transaction_id.empty());
  auto polled = api->PollStatus({"http://fuzz.invalid", "key"}, "tx", "hash", transport);
  if (polled.status.ok()) Require(polled.http_status == 200);

  auto minor = DecimalToMinorUnits(absl::string_view(body).substr(0, 40));
  if (minor.ok()) Require(*minor >= 0);
  return 0;
}
