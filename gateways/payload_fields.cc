#include "gateways/payload_fields.h"

#include <simdjson.h>

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace tally::gateways {

namespace {

// The element at a dotted path: object keys, or array indexes ("data.0.id"). The element is
// a handle into `document`; nullopt when the path leads nowhere.
std::optional<simdjson::dom::element> Find(const simdjson::dom::document& document,
                                           absl::string_view path) {
  simdjson::dom::element e = document.root();
  for (absl::string_view key : absl::StrSplit(path, '.')) {
    simdjson::dom::array array;
    size_t index = 0;
    if (e.get_array().get(array) == simdjson::SUCCESS && absl::SimpleAtoi(key, &index)) {
      if (array.at(index).get(e) != simdjson::SUCCESS) return std::nullopt;
      continue;
    }
    simdjson::dom::object object;
    if (e.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
    if (object.at_key(std::string_view(key.data(), key.size())).get(e) != simdjson::SUCCESS) {
      return std::nullopt;
    }
  }
  return e;
}

}  // namespace

PayloadFields::PayloadFields() = default;
PayloadFields::PayloadFields(PayloadFields&&) noexcept = default;
PayloadFields& PayloadFields::operator=(PayloadFields&&) noexcept = default;
PayloadFields::~PayloadFields() = default;

absl::StatusOr<PayloadFields> PayloadFields::Parse(absl::string_view content_type,
                                                   absl::string_view body) {
  const std::string type = absl::AsciiStrToLower(content_type);
  if (type.find("application/x-www-form-urlencoded") == std::string::npos) return ParseJson(body);
  PayloadFields fields;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    fields.form_[UrlDecode(kv.first)] = UrlDecode(kv.second);
  }
  fields.is_form_ = true;
  return fields;
}

absl::StatusOr<PayloadFields> PayloadFields::ParseJson(absl::string_view body) {
  // The parser's scratch space is the expensive part and is reused; the tape and strings go
  // into a document owned by the result.
  thread_local simdjson::dom::parser parser;
  auto document = std::make_unique<simdjson::dom::document>();
  simdjson::dom::element root;
  if (parser.parse_into_document(*document, body.data(), body.size()).get(root) !=
      simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body is not valid JSON");
  }
  if (!root.is_object()) return absl::InvalidArgumentError("body is not a JSON object");
  PayloadFields fields;
  fields.document_ = std::move(document);
  return fields;
}

std::string PayloadFields::Text(absl::string_view path) const {
  if (is_form_) {
    auto it = form_.find(std::string(path));
    return it == form_.end() ? "" : it->second;
  }
  const std::optional<simdjson::dom::element> found = Find(*document_, path);
  if (!found.has_value()) return "";
  const simdjson::dom::element& e = *found;
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e.get_string()));
    case simdjson::dom::element_type::INT64:
      return std::to_string(int64_t(e.get_int64()));
    case simdjson::dom::element_type::UINT64:
      return std::to_string(uint64_t(e.get_uint64()));
    case simdjson::dom::element_type::DOUBLE:
      return absl::StrFormat("%.6f", double(e.get_double()));
    case simdjson::dom::element_type::BOOL:
      return bool(e.get_bool()) ? "true" : "false";
    default:
      return "";
  }
}

int64_t PayloadFields::ArraySize(absl::string_view path) const {
  if (is_form_) return -1;
  const std::optional<simdjson::dom::element> found = Find(*document_, path);
  simdjson::dom::array array;
  if (!found.has_value() || found->get_array().get(array) != simdjson::SUCCESS) return -1;
  return static_cast<int64_t>(array.size());
}

absl::StatusOr<int64_t> PayloadFields::MinorUnits(absl::string_view path) const {
  const std::string text = Text(path);
  if (text.empty()) return 0;
  int64_t value = 0;
  if (absl::SimpleAtoi(text, &value) && value >= 0) return value;
  return absl::InvalidArgumentError(
      absl::StrCat(path, " is not a non-negative integer amount: ", text));
}

absl::StatusOr<int64_t> PayloadFields::DecimalMinorUnits(absl::string_view path) const {
  const std::string text = Text(path);
  if (text.empty()) return 0;
  return DecimalToMinorUnits(text);
}

absl::StatusOr<int64_t> DecimalToMinorUnits(absl::string_view decimal) {
  const absl::string_view text = absl::StripAsciiWhitespace(decimal);
  const size_t dot = text.find('.');
  absl::string_view whole = text.substr(0, dot);
  absl::string_view fraction = dot == absl::string_view::npos ? "" : text.substr(dot + 1);
  // Trailing zeros beyond the cents carry no value ("19.900000" from a float rendering).
  while (fraction.size() > 2 && fraction.back() == '0') fraction.remove_suffix(1);
  if (whole.empty() || fraction.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an amount with at most two decimals: ", decimal));
  }
  for (char c : absl::StrCat(whole, fraction)) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(absl::StrCat("not a non-negative decimal: ", decimal));
    }
  }
  int64_t units = 0;
  int64_t cents = 0;
  if (whole.size() > 15 || !absl::SimpleAtoi(whole, &units)) {
    return absl::InvalidArgumentError(absl::StrCat("amount out of range: ", decimal));
  }
  if (!fraction.empty()) {
    (void)absl::SimpleAtoi(fraction, &cents);  // digits only, at most two: cannot fail
    if (fraction.size() == 1) cents *= 10;
  }
  return units * 100 + cents;
}

namespace {
constexpr char kHex[] = "0123456789ABCDEF";
bool Unreserved(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}
}  // namespace

std::string PercentEncode(absl::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (Unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out.push_back('&');
    for (const std::string* part : {&key, &value}) {
      for (unsigned char c : *part) {
        if (Unreserved(c)) {
          out.push_back(static_cast<char>(c));
        } else if (c == ' ') {
          out.push_back('+');
        } else {
          out.push_back('%');
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        }
      }
      if (part == &key) out.push_back('=');
    }
  }
  return out;
}

std::string UrlDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size()) {
      int value = 0;
      if (absl::SimpleHexAtoi(in.substr(i + 1, 2), &value)) {
        out.push_back(static_cast<char>(value));
        i += 2;
      } else {
        out.push_back('%');
      }
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQueryString(absl::string_view query) {
  std::map<std::string, std::string> out;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    out[UrlDecode(kv.first)] = UrlDecode(kv.second);
  }
  return out;
}

}  // namespace tally::gateways
