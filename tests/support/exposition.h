#pragma once
// Reads a Prometheus text exposition (GET /metrics) back into samples, for tests that check
// what a scraper would see. Strict: a line that is neither a comment nor `name{labels} value`
// makes Parse fail, so a malformed exposition fails the test that reads it.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tally::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

class Exposition {
 public:
  // nullopt when a line does not parse (`error` says which).
  static std::optional<Exposition> Parse(const std::string& text, std::string* error = nullptr);

  // The sample with exactly these labels, or 0 when there is none (a counter not yet moved).
  double Value(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const;
  bool Has(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
  // Every sample of `name`, whatever its labels.
  std::vector<Sample> All(const std::string& name) const;
  // The `# TYPE` of a family ("counter", "gauge", "histogram"), or "".
  std::string Type(const std::string& family) const;

 private:
  std::vector<Sample> samples_;
  std::map<std::string, std::string> types_;
};

}  // namespace tally::testing
