// PayloadFields: dotted lookups in JSON and form bodies, exact money, and ownership of what it
// parsed.

#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "gateways/payload_fields.h"

namespace tally::gateways {
namespace {

TEST_CASE("a parsed payload stays valid after later parses on the same thread") {
  auto first = PayloadFields::ParseJson(R"({"id":"first","data":{"amount":1990}})");
  REQUIRE(first.ok());
  // Each later parse reuses the thread's parser; the first document must not be overwritten.
  std::vector<PayloadFields> later;
  for (int i = 0; i < 50; ++i) {
    auto next = PayloadFields::ParseJson(R"({"id":"other-)" + std::to_string(i) +
                                         R"(","data":{"amount":)" + std::to_string(i) +
                                         R"(,"pad":")" + std::string(4096, 'x') + R"("}})");
    REQUIRE(next.ok());
    later.push_back(*std::move(next));
  }
  CHECK(first->Text("id") == "first");
  CHECK(first->Text("data.amount") == "1990");
  CHECK(later[7].Text("id") == "other-7");
  CHECK(later[49].Text("data.amount") == "49");
}

TEST_CASE("a parsed payload can be read on another thread") {
  auto fields = PayloadFields::ParseJson(R"({"status":"paid"})");
  REQUIRE(fields.ok());
  std::string seen;
  std::thread reader([&] {
    (void)PayloadFields::ParseJson(R"({"status":"overwritten?"})");
    seen = fields->Text("status");
  });
  reader.join();
  CHECK(seen == "paid");
}

TEST_CASE("text of each JSON type, forms, arrays") {
  auto f = PayloadFields::ParseJson(
      R"({"s":"x","i":-3,"u":18446744073709551615,"d":1.5,"b":true,"n":null,"o":{"k":"v"},"a":[1,2]})");
  REQUIRE(f.ok());
  CHECK(f->Text("s") == "x");
  CHECK(f->Text("i") == "-3");
  CHECK(f->Text("u") == "18446744073709551615");
  CHECK(f->Text("d") == "1.500000");
  CHECK(f->Text("b") == "true");
  CHECK(f->Text("n") == "");
  CHECK(f->Text("o") == "");
  CHECK(f->Text("o.k") == "v");
  CHECK(f->Text("missing.path") == "");
  CHECK(f->ArraySize("a") == 2);
  CHECK(f->ArraySize("o") == -1);
  auto form = PayloadFields::Parse("application/x-www-form-urlencoded", "id=A%20B&status=paid");
  REQUIRE(form.ok());
  CHECK(form->Text("id") == "A B");
  CHECK(PayloadFields::ParseJson("[1]").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PayloadFields::ParseJson("{").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("money: integer minor units and exact decimals") {
  auto f = PayloadFields::ParseJson(R"({"cents":1990,"neg":-1,"reais":"19.9","bad":"19.999"})");
  REQUIRE(f.ok());
  CHECK(*f->MinorUnits("cents") == 1990);
  CHECK(*f->MinorUnits("absent") == 0);
  CHECK_FALSE(f->MinorUnits("neg").ok());
  CHECK(*f->DecimalMinorUnits("reais") == 1990);
  CHECK_FALSE(f->DecimalMinorUnits("bad").ok());
  CHECK(*DecimalToMinorUnits("20") == 2000);
  CHECK(*DecimalToMinorUnits("19.900000") == 1990);
  CHECK_FALSE(DecimalToMinorUnits("-1").ok());
  CHECK_FALSE(DecimalToMinorUnits("1e3").ok());
}

}  // namespace
}  // namespace tally::gateways
