#pragma once
// The fields of a gateway payload — a JSON document or a form-encoded body — looked up by
// dotted path ("data.object.id"; a number indexes an array: "results.0.id"), as text. Used for
// webhooks and API answers alike.
//
// A PayloadFields owns what it parsed: it may be kept, moved and read after any number of
// other parses, on any thread (reads are const and thread-safe). JSON is parsed with a
// per-thread simdjson parser whose scratch buffers are reused, into a document this object
// owns.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace simdjson::dom {
class document;
}

namespace tally::gateways {

class PayloadFields {
 public:
  // Form bodies when `content_type` says application/x-www-form-urlencoded, JSON otherwise.
  // InvalidArgument when a JSON body does not parse or is not an object.
  static absl::StatusOr<PayloadFields> Parse(absl::string_view content_type,
                                             absl::string_view body);
  static absl::StatusOr<PayloadFields> ParseJson(absl::string_view body);
  PayloadFields(PayloadFields&&) noexcept;
  PayloadFields& operator=(PayloadFields&&) noexcept;
  ~PayloadFields();

  // The value at `path` as text: strings verbatim, integers in decimal, other numbers with up
  // to six decimals, booleans as true/false; "" when absent, null, an object or an array.
  std::string Text(absl::string_view path) const;

  // The number of elements of the array at `path`; -1 when there is no array there.
  int64_t ArraySize(absl::string_view path) const;

  // An integer amount already in minor units; 0 when absent. InvalidArgument when not a
  // non-negative integer.
  absl::StatusOr<int64_t> MinorUnits(absl::string_view path) const;

  // A decimal amount in major units (Mercado Pago reais, Meta value) converted exactly to minor
  // units; 0 when absent. InvalidArgument for more than two decimals.
  absl::StatusOr<int64_t> DecimalMinorUnits(absl::string_view path) const;

 private:
  PayloadFields();
  bool is_form_ = false;
  std::map<std::string, std::string> form_;
  std::unique_ptr<simdjson::dom::document> document_;
};

// Decimal amount text ("19.9", "19.90", "20") in major units to minor units, exactly (no
// floating point). InvalidArgument for anything else or more than two decimals.
absl::StatusOr<int64_t> DecimalToMinorUnits(absl::string_view decimal);

// application/x-www-form-urlencoded, in the given order.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// Percent-encoding of one value (unreserved characters kept, space as %20): safe in a path
// segment or a query value.
std::string PercentEncode(absl::string_view value);

// Percent-decoding with '+' as space, as form bodies and query strings use it.
std::string UrlDecode(absl::string_view in);

// "k=v&k2=v2" -> map (values decoded; a repeated key keeps the last value).
std::map<std::string, std::string> ParseQueryString(absl::string_view query);

}  // namespace tally::gateways
