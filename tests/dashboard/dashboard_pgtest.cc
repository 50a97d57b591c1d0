// The dashboard in real headless Chromium (Debian's chromium, driven by puppeteer-core from
// tests/dashboard/dashboard_test.mjs) against a real `tally serve` (http, projections and
// reactors) and the sandbox: sign in, the live feed, the totals within 1 s of a payment, a wrong
// key's clear error, no console errors.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/reactors/serve_harness.h"
#include "tests/support/pg.h"

namespace tally::testing {
namespace {

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

TEST_CASE("the dashboard in headless Chromium shows a paid charge live and its totals within 1 s") {
  const std::string dir = TALLY_DASHBOARD_TEST_DIR;
  REQUIRE_MESSAGE(Exists(dir + "/node_modules/puppeteer-core"),
                  "puppeteer-core is not installed: run `npm ci` in tests/dashboard "
                  "(scripts/lib/common.sh tally_install_deps does)");
  REQUIRE_MESSAGE(Exists("/usr/bin/chromium"), "Debian's chromium is not installed");
  ServeHarness h({{"777001:AAHdashboardBotToken"}});
  h.StartHttp("http,projections,reactors");
  const CommandResult result = RunCommand(absl::StrCat(
      "cd ", dir, " && TALLY_URL=", h.HttpUrl(), " TALLY_KEY=", h.api_key(),
      " SANDBOX_URL=", h.SandboxUrl(), " BOT_ID=777001 SCREENSHOT=", TALLY_DASHBOARD_SCREENSHOT,
      " timeout 120 node dashboard_test.mjs 2>&1"));
  CHECK(result.exit_code == 0);
  MESSAGE(result.output);
  h.StopHttp();
}

}  // namespace
}  // namespace tally::testing
