// Secrets at rest: AES-256-GCM seal and open.

#include <doctest/doctest.h>

#include "tenants/secret_box.h"

namespace tally::tenants {
namespace {

const char kKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const char kOtherKey[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST_CASE("a sealed secret opens under the same key only, and not when tampered with") {
  auto box = SecretBox::FromHex(kKey);
  REQUIRE(box.ok());
  auto sealed = box->Seal("whsec_abc123");
  REQUIRE(sealed.ok());
  CHECK(sealed->find("whsec_abc123") == std::string::npos);
  CHECK(sealed->size() == 12 + 12 + 16);
  CHECK(*box->Open(*sealed) == "whsec_abc123");
  CHECK(*box->Seal("whsec_abc123") != *sealed);  // a fresh nonce each time

  std::string tampered = *sealed;
  tampered[15] ^= 1;
  CHECK(box->Open(tampered).status().code() == absl::StatusCode::kDataLoss);
  CHECK(SecretBox::FromHex(kOtherKey)->Open(*sealed).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(box->Open("short").status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("the master key must be 64 hex digits, and the error does not echo it") {
  auto bad = SecretBox::FromHex("not-a-key-but-a-secret-value");
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad.status().message()).find("secret-value") == std::string::npos);
}

}  // namespace
}  // namespace tally::tenants
