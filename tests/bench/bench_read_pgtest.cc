// `tally bench read` at tiny sizes, end to end (seeding, rebuild, the HTTP load, pgbench): it
// exits 0, every request answered 200, and its JSON line has the fields docs/PERFORMANCE.md and
// the issue name. Not a timing assertion: the figures only have to be there and be positive.

#include <doctest/doctest.h>

#include <regex>
#include <sstream>
#include <string>

#include "tests/support/pg.h"

namespace tally::testing {
namespace {

// The value of "name": in `json` (a number), or -1 when absent.
double Field(const std::string& json, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(json, match, std::regex("\"" + name + "\":(-?[0-9.]+)"))) return -1;
  return std::stod(match[1]);
}

TEST_CASE("tally bench read runs end to end with zero errors and reports its JSON fields") {
  // Two tenants, so that each has pages beyond the first and next-page requests happen.
  const CommandResult result =
      RunCommand(TallyBinary() + " bench read --database '" + AdminUrl() +
                 "' --events 2000 --tenants 2 --connections 4 --seconds 2 --json 2>&1");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::string json;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("{\"benchmark\":\"read\"", 0) == 0) json = line;
  }
  REQUIRE(!json.empty());
  CHECK(Field(json, "errors") == 0);
  CHECK(Field(json, "events") >= 2000);
  CHECK(Field(json, "tenants") == 2);
  CHECK(Field(json, "connections") == 4);
  for (const char* name : {"requests_per_second", "p50_ms", "p99_ms", "pgbench_tps", "ratio"}) {
    CHECK_MESSAGE(Field(json, name) > 0, name);
  }
  for (const char* endpoint : {"payments_first_page", "payments_next_page", "revenue"}) {
    const size_t at = json.find(std::string("\"") + endpoint + "\":{\"requests\":");
    REQUIRE_MESSAGE(at != std::string::npos, endpoint);
    CHECK_MESSAGE(Field(json.substr(at), "requests") > 0, endpoint);
    CHECK_MESSAGE(Field(json.substr(at), "rows_per_answer") > 0, endpoint);
  }
}

}  // namespace
}  // namespace tally::testing
