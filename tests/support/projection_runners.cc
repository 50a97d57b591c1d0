#include "tests/support/projection_runners.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <pqxx/pqxx>

#include "projections/catalog.h"

namespace tally::testing {

ProjectionRunners::ProjectionRunners(const std::string& url, int partitions,
                                     projections::RunnerOptions base) {
  for (const auto& projection : projections) {
    for (int p = 0; p < partitions; ++p) {
      projections::RunnerOptions options = base;
      options.database_url = url;
      options.partition = p;
      runners.push_back(std::make_unique<projections::ProjectionRunner>(*projection, options));
      runners.back()->Start();
    }
  }
}

ProjectionRunners::~ProjectionRunners() {
  for (auto& r : runners) r->Stop();
}

std::vector<int64_t> LogHeads(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::read_transaction txn(conn);
  std::vector<int64_t> heads;
  for (const auto& row : txn.exec("SELECT position FROM ledger_heads ORDER BY partition_id")) {
    heads.push_back(row[0].as<int64_t>());
  }
  return heads;
}

void WaitProjectionsCaughtUp(const std::string& url) {
  const std::vector<int64_t> heads = LogHeads(url);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto status = projections::ReadStatus(url, projections::AllProjections());
    REQUIRE(status.ok());
    bool done = true;
    for (const auto& p : *status) {
      // A projection not yet initialized has no partitions: not caught up.
      if (p.partitions.size() != heads.size()) done = false;
      for (const auto& part : p.partitions) {
        if (part.checkpoint < heads[part.partition]) done = false;
      }
    }
    if (done) return;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "projections did not catch up");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace tally::testing
