#pragma once
// The query string of a request target ("/v1/payments?status=paid&limit=50"), decoded.
//
// Values are percent-decoded ('+' is a space, as browsers send forms). A parameter given twice,
// a malformed escape, more than 32 parameters or a value over 1,000 bytes is an error naming the
// parameter, so a bad filter is refused rather than half-applied. Endpoints name the parameters
// they accept (Only); an unknown one is an error too, so a misspelt filter ("stauts=paid") does
// not silently return everything. Thread-compatible values.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tally::http {

class QueryParams {
 public:
  // InvalidArgument naming the parameter when the query string is malformed.
  static absl::StatusOr<QueryParams> Parse(const std::string& target);

  // InvalidArgument naming the first parameter not in `allowed`.
  absl::Status Only(const std::vector<std::string>& allowed) const;

  // The value of `name`, nullopt when absent. An empty value ("status=") counts as absent.
  std::optional<std::string> Get(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

// "%3A" -> ":", "+" -> " "; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(const std::string& in, bool plus_is_space);

}  // namespace tally::http
