#include "http/query_params.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tally::http {
namespace {

constexpr size_t kMaxParams = 32;
constexpr size_t kMaxValueBytes = 1000;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> PercentDecode(const std::string& in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (in[i] != '%') {
      out.push_back(in[i]);
    } else {
      if (i + 2 >= in.size()) return std::nullopt;
      const int high = HexDigit(in[i + 1]);
      const int low = HexDigit(in[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return out;
}

absl::StatusOr<QueryParams> QueryParams::Parse(const std::string& target) {
  QueryParams params;
  const size_t question = target.find('?');
  if (question == std::string::npos) return params;
  for (absl::string_view pair : absl::StrSplit(target.substr(question + 1), '&')) {
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    const std::string raw_name(pair.substr(0, equals));
    const std::string raw_value(equals == absl::string_view::npos ? "" : pair.substr(equals + 1));
    std::optional<std::string> name = PercentDecode(raw_name, true);
    if (!name.has_value() || name->empty()) {
      return absl::InvalidArgumentError("the query string has a malformed parameter name");
    }
    std::optional<std::string> value = PercentDecode(raw_value, true);
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(*name, ": malformed percent-escape"));
    }
    if (value->size() > kMaxValueBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(*name, ": longer than ", kMaxValueBytes, " bytes"));
    }
    if (params.values_.size() >= kMaxParams) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxParams, " query parameters"));
    }
    if (!params.values_.emplace(*name, *std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat(*name, ": given more than once"));
    }
  }
  return params;
}

absl::Status QueryParams::Only(const std::vector<std::string>& allowed) const {
  for (const auto& [name, value] : values_) {
    bool known = false;
    for (const std::string& a : allowed) known = known || a == name;
    if (!known) return absl::InvalidArgumentError(absl::StrCat(name, ": unknown parameter"));
  }
  return absl::OkStatus();
}

std::optional<std::string> QueryParams::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

}  // namespace tally::http
