#include "tests/support/exposition.h"

#include <cstdlib>
#include <sstream>

namespace tally::testing {
namespace {

bool ParseLabels(const std::string& text, size_t& at, std::map<std::string, std::string>& out) {
  // at: just past '{'
  while (at < text.size() && text[at] != '}') {
    const size_t eq = text.find('=', at);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    const std::string name = text.substr(at, eq - at);
    std::string value;
    size_t i = eq + 2;
    for (; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        ++i;
        value += text[i] == 'n' ? '\n' : text[i];
      } else {
        value += text[i];
      }
    }
    if (i >= text.size() || name.empty()) return false;
    out[name] = value;
    at = i + 1;
    if (at < text.size() && text[at] == ',') ++at;
  }
  if (at >= text.size()) return false;
  ++at;  // '}'
  return true;
}

}  // namespace

std::optional<Exposition> Exposition::Parse(const std::string& text, std::string* error) {
  Exposition out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, family, type;
      words >> hash >> keyword >> family >> type;
      if (keyword == "TYPE") out.types_[family] = type;
      continue;
    }
    Sample sample;
    size_t at = line.find_first_of("{ ");
    if (at == std::string::npos || at == 0) {
      if (error != nullptr) *error = "no value: " + line;
      return std::nullopt;
    }
    sample.name = line.substr(0, at);
    if (line[at] == '{') {
      ++at;
      if (!ParseLabels(line, at, sample.labels)) {
        if (error != nullptr) *error = "bad labels: " + line;
        return std::nullopt;
      }
    }
    if (at >= line.size() || line[at] != ' ') {
      if (error != nullptr) *error = "no value: " + line;
      return std::nullopt;
    }
    const std::string value = line.substr(at + 1);
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (value.empty() || (*end != '\0' && *end != ' ')) {
      if (error != nullptr) *error = "bad value: " + line;
      return std::nullopt;
    }
    out.samples_.push_back(std::move(sample));
  }
  return out;
}

double Exposition::Value(const std::string& name,
                         const std::map<std::string, std::string>& labels) const {
  for (const Sample& s : samples_) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return 0;
}

bool Exposition::Has(const std::string& name,
                     const std::map<std::string, std::string>& labels) const {
  for (const Sample& s : samples_) {
    if (s.name == name && s.labels == labels) return true;
  }
  return false;
}

std::vector<Sample> Exposition::All(const std::string& name) const {
  std::vector<Sample> out;
  for (const Sample& s : samples_) {
    if (s.name == name) out.push_back(s);
  }
  return out;
}

std::string Exposition::Type(const std::string& family) const {
  auto it = types_.find(family);
  return it == types_.end() ? "" : it->second;
}

}  // namespace tally::testing
