#pragma once
// A throw-away database on the same server as `admin_url`, created and migrated on Create and
// dropped (WITH (FORCE)) on destruction. Benchmarks and tests use it so that they never write
// to a real log, and so that tests cannot see each other. Needs CREATEDB on the server.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tally::ledger {

class ScratchDatabase {
 public:
  // The database is named `<prefix>_<pid>_<counter>_<random>`.
  static absl::StatusOr<std::unique_ptr<ScratchDatabase>> Create(const std::string& admin_url,
                                                                 const std::string& prefix,
                                                                 int partitions);
  ~ScratchDatabase();

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  ScratchDatabase(std::string admin_url, std::string name, std::string url)
      : admin_url_(std::move(admin_url)), name_(std::move(name)), url_(std::move(url)) {}

  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace tally::ledger
