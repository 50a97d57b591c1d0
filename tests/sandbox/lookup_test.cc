// Each gateway's lookup of a charge by Tally's reference (gateways/gateway.h
// FindChargeByReference) against its simulator: the charge a lost create answer left behind
// is found with the ids and PIX code the create call would have returned; an unknown reference
// is NotFound; PushinPay, which cannot look charges up, says so.

#include <doctest/doctest.h>

#include "tests/sandbox/sandbox_harness.h"

namespace tally::sandbox {
namespace {

namespace pb = payments::v1;

TEST_CASE("lookup by reference finds the charge the create call made, per gateway") {
  Harness h;
  for (const std::string gateway : {"paradise", "atomopay", "mercadopago", "stripe"}) {
    CAPTURE(gateway);
    const gateways::Gateway* api = Gateways().Find(gateway);
    REQUIRE(api != nullptr);
    CHECK(api->traits().finds_charges_by_reference);
    const gateways::ApiAccount account = h.Account(gateway, "http://127.0.0.1:9/unused");
    auto created = api->CreateCharge(account, Charge("pay_lookup_" + gateway, ""), h.transport);
    REQUIRE(created.ok());
    auto found = api->FindChargeByReference(account, "pay_lookup_" + gateway, h.transport);
    REQUIRE_MESSAGE(found.ok(), found.status().ToString());
    CHECK(found->transaction_id == created->transaction_id);
    CHECK(found->transaction_hash == created->transaction_hash);
    CHECK(found->observation.status() == pb::OBSERVED_STATUS_PENDING);
    CHECK(found->observation.amount().amount_minor() == 1990);
    CHECK(found->observation.external_reference() == "pay_lookup_" + gateway);
    auto missing = api->FindChargeByReference(account, "pay_never_created", h.transport);
    CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  }
  const gateways::Gateway* pushinpay = Gateways().Find("pushinpay");
  CHECK_FALSE(pushinpay->traits().finds_charges_by_reference);
  CHECK(pushinpay->FindChargeByReference(h.Account("pushinpay", ""), "pay_x", h.transport)
            .status()
            .code() == absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tally::sandbox
