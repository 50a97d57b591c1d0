#include "reactors/meta_capi.h"

#include <array>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"

namespace tally::reactors {
namespace {

using gateways::ApiRequest;
using gateways::ApiResponse;
using ledger::JsonQuote;

constexpr int64_t kMaxEventAgeS = 7 * 24 * 3600;
constexpr size_t kMaxUrlBytes = 2048;
constexpr size_t kMaxMessageBytes = 300;

// ISO 4217 currencies whose minor unit is not the hundredth.
constexpr std::array<absl::string_view, 17> kNoDecimals = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                                           "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                                           "VND", "VUV", "XAF", "XOF", "XPF"};
constexpr std::array<absl::string_view, 7> kThreeDecimals = {"BHD", "IQD", "JOD", "KWD",
                                                             "LYD", "OMR", "TND"};

// --- UTF-8 ----------------------------------------------------------------------------------

// Decodes the code point at text[i], advancing i; -1 (and one byte consumed) for a byte that
// does not start a valid, shortest-form sequence.
int32_t NextCodePoint(absl::string_view text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  int length = 0;
  int32_t cp = 0;
  if (lead < 0x80) {
    ++i;
    return lead;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    cp = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    cp = lead & 0x07;
  } else {
    ++i;
    return -1;
  }
  if (i + length > text.size()) {
    ++i;
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += length;
  return cp;
}

void AppendUtf8(int32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Lowercase of the capital letters buyers' names are written in: ASCII, Latin-1, Latin
// Extended-A (Portuguese, Spanish, French, Polish, Czech, ...), Greek and Cyrillic.
int32_t ToLower(int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE) return cp == 0xD7 ? cp : cp + 0x20;  // U+00D7 is the multiplication sign
  if (cp == 0x130) return 'i';                         // İ
  if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) {
    return cp % 2 == 0 ? cp + 1 : cp;
  }
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) {
    return cp % 2 == 1 ? cp + 1 : cp;
  }
  if (cp == 0x178) return 0xFF;  // Ÿ
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 0x20;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  return cp;
}

bool IsPunctuation(int32_t cp) {
  if (cp < 0x80) return absl::ascii_ispunct(static_cast<unsigned char>(cp));
  switch (cp) {
    case 0xA1:  // ¡
    case 0xA7:  // §
    case 0xAB:  // «
    case 0xB6:  // ¶
    case 0xB7:  // ·
    case 0xBB:  // »
    case 0xBF:  // ¿
      return true;
    default:
      // General Punctuation: dashes, curly quotes (D’Ávila), ellipsis, ...
      return cp >= 0x2010 && cp <= 0x205E;
  }
}

std::string NormalizeName(absl::string_view raw) {
  std::string out;
  const absl::string_view text = absl::StripAsciiWhitespace(raw);
  for (size_t i = 0; i < text.size();) {
    const int32_t cp = NextCodePoint(text, i);
    if (cp < 0 || IsPunctuation(cp)) continue;
    AppendUtf8(ToLower(cp), out);
  }
  // Punctuation at an edge may have left whitespace there ("Mary ." -> "mary ").
  return std::string(absl::StripAsciiWhitespace(out));
}

// --- URLs, JSON, messages -------------------------------------------------------------------

// An absolute http(s) URL with a host, printable ASCII only (anything else is percent-encoded
// in a real URL), at most kMaxUrlBytes.
bool IsHttpUrl(absl::string_view url) {
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, 8));
  size_t host = 0;
  if (absl::StartsWith(scheme, "https://")) {
    host = 8;
  } else if (absl::StartsWith(scheme, "http://")) {
    host = 7;
  } else {
    return false;
  }
  if (url.size() <= host || url[host] == '/' || url.size() > kMaxUrlBytes) return false;
  return absl::c_all_of(url, [](char c) { return c > 0x20 && c < 0x7F; });
}

// `"key":"value"` after a comma when `value` is not empty.
void AppendField(std::string& json, absl::string_view key, absl::string_view value) {
  if (value.empty()) return;
  if (json.back() != '{') json.push_back(',');
  absl::StrAppend(&json, JsonQuote(key), ":", JsonQuote(value));
}

bool IsTokenChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// Anything token-like in a message that may have come from elsewhere: the value of an
// access_token parameter, and Meta's long-lived tokens ("EAA" + dozens of alphanumerics).
std::string ScrubTokens(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    absl::string_view rest = text.substr(i);
    if (absl::StartsWithIgnoreCase(rest, "access_token=")) {
      out.append("access_token=[redacted]");
      i += 13;
      while (i < text.size() && text[i] != '&' && text[i] != '"' && text[i] != ' ') ++i;
      continue;
    }
    if (absl::StartsWith(rest, "EAA")) {
      size_t end = i + 3;
      while (end < text.size() && IsTokenChar(text[end])) ++end;
      if (end - i >= 24) {
        out.append("[redacted]");
        i = end;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// Valid UTF-8 (a proto3 string field must be), control characters as spaces, anything
// token-like scrubbed, cut to kMaxMessageBytes on a character boundary.
std::string OperatorMessage(absl::string_view text) {
  std::string clean;
  for (size_t i = 0; i < text.size();) {
    const int32_t cp = NextCodePoint(text, i);
    if (cp < 0) continue;
    AppendUtf8(cp < 0x20 || cp == 0x7F ? ' ' : cp, clean);
  }
  std::string out = ScrubTokens(clean);
  if (out.size() > kMaxMessageBytes) {
    size_t cut = kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out.append("...");
  }
  return out;
}

int ParseInt(const std::string& text) {
  int value = 0;
  return absl::SimpleAtoi(text, &value) ? value : 0;
}

bool IsRetryableCode(int code) {
  switch (code) {
    case 1:    // unknown error, temporary
    case 2:    // service temporarily unavailable
    case 4:    // application request limit
    case 17:   // user request limit
    case 32:   // page request limit
    case 341:  // application limit
    case 613:  // calls exceeded the rate limit
      return true;
    default:
      return false;
  }
}

bool IsTerminalCode(int code) {
  return code == 190 || code == 10 || code == 100 || (code >= 200 && code <= 299);
}

MetaAnswer ClassifyHttpAnswer(const ApiResponse& response) {
  auto fields = gateways::PayloadFields::ParseJson(response.body);
  if (response.status == 200) {
    MetaAnswer answer;
    answer.http_status = 200;
    if (fields.ok()) {
      answer.events_received = ParseInt(fields->Text("events_received"));
      answer.fbtrace_id = fields->Text("fbtrace_id");
    }
    if (answer.events_received >= 1) {
      answer.outcome = MetaOutcome::kSucceeded;
      return answer;
    }
    answer.outcome = MetaOutcome::kRetryable;
    answer.message = fields.ok() ? "events_received 0" : "events_received 0 (unreadable answer)";
    return answer;
  }
  MetaAnswer answer;
  answer.http_status = response.status;
  const bool retryable_status = response.status >= 500 || response.status == 408 ||
                                response.status == 429 ||
                                (response.status >= 200 && response.status < 300);
  if (!fields.ok() || fields->Text("error.code").empty()) {
    answer.outcome = retryable_status ? MetaOutcome::kRetryable : MetaOutcome::kTerminal;
    answer.message = OperatorMessage(absl::StrCat("HTTP ", response.status, ": ", response.body));
    return answer;
  }
  answer.error_code = ParseInt(fields->Text("error.code"));
  answer.error_subcode = ParseInt(fields->Text("error.error_subcode"));
  answer.fbtrace_id = fields->Text("error.fbtrace_id");
  if (IsTerminalCode(answer.error_code)) {
    answer.outcome = MetaOutcome::kTerminal;
  } else if (IsRetryableCode(answer.error_code) || fields->Text("error.is_transient") == "true" ||
             retryable_status) {
    answer.outcome = MetaOutcome::kRetryable;
  } else {
    answer.outcome = MetaOutcome::kTerminal;
  }
  const std::string type = fields->Text("error.type");
  answer.message = OperatorMessage(
      absl::StrCat("Meta error ", answer.error_code,
                   answer.error_subcode != 0 ? absl::StrCat("/", answer.error_subcode) : "",
                   type.empty() ? "" : absl::StrCat(" (", type, ")"), ": ",
                   fields->Text("error.message"), " [HTTP ", response.status, "]"));
  return answer;
}

}  // namespace

std::string NormalizePhone(absl::string_view raw, const PhoneCountry& country) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw);
  const bool international = absl::StartsWith(text, "+");
  std::string digits;
  for (char c : text) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      if (digits.empty() && c == '0') continue;  // leading zeros: trunk or international prefix
      digits.push_back(c);
    }
  }
  const int length = static_cast<int>(digits.size());
  if (!international && length >= country.min_national_digits &&
      length <= country.max_national_digits) {
    return absl::StrCat(country.calling_code, digits);
  }
  return digits;
}

std::string NormalizeField(HashedField field, absl::string_view raw) {
  switch (field) {
    case HashedField::kPhone:
      return NormalizePhone(raw, kBrazil);
    case HashedField::kFirstName:
    case HashedField::kLastName:
      return NormalizeName(raw);
    case HashedField::kEmail:
    case HashedField::kCity:
    case HashedField::kState:
    case HashedField::kZip:
    case HashedField::kCountry:
    case HashedField::kExternalId:
      return absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw));
  }
  return "";
}

std::string HashField(HashedField field, absl::string_view raw) {
  const std::string normalized = NormalizeField(field, raw);
  return normalized.empty() ? "" : gateways::Sha256Hex(normalized);
}

PurchaseInput PurchaseFromPayment(const payments::v1::PaymentCreated& created, int64_t paid_at_s) {
  PurchaseInput purchase;
  purchase.payment_id = created.payment_id();
  purchase.customer_id = created.customer_id();
  purchase.amount = created.amount();
  purchase.tracking = created.tracking();
  purchase.paid_at_s = paid_at_s;
  return purchase;
}

std::string PurchaseEventId(const PurchaseInput& purchase) {
  const std::string& pageview = purchase.tracking.pageview_event_id();
  if (!pageview.empty()) return pageview;
  return absl::StrCat("purchase_", purchase.payment_id);
}

std::string FormatMajorUnits(int64_t amount_minor, absl::string_view currency) {
  const std::string code = absl::AsciiStrToUpper(currency);
  int decimals = 2;
  if (absl::c_linear_search(kNoDecimals, code)) decimals = 0;
  if (absl::c_linear_search(kThreeDecimals, code)) decimals = 3;
  // Magnitude as unsigned, so INT64_MIN is formatted rather than overflowed.
  const bool negative = amount_minor < 0;
  const uint64_t magnitude =
      negative ? ~static_cast<uint64_t>(amount_minor) + 1 : static_cast<uint64_t>(amount_minor);
  uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  std::string out = absl::StrCat(negative ? "-" : "", magnitude / scale);
  if (decimals > 0) {
    const std::string fraction = absl::StrCat(magnitude % scale);
    absl::StrAppend(&out, ".", std::string(decimals - fraction.size(), '0'), fraction);
  }
  return out;
}

absl::StatusOr<std::string> BuildPurchaseEvent(const PurchaseInput& purchase,
                                               absl::string_view fallback_source_url) {
  if (purchase.payment_id.empty()) return absl::InvalidArgumentError("payment_id is empty");
  if (purchase.amount.amount_minor() <= 0) {
    return absl::InvalidArgumentError("amount_minor must be positive");
  }
  const std::string& currency = purchase.amount.currency();
  if (currency.size() != 3 || !absl::c_all_of(currency, absl::ascii_isalpha)) {
    return absl::InvalidArgumentError("currency must be an ISO 4217 code (three letters)");
  }
  if (purchase.paid_at_s <= 0) return absl::InvalidArgumentError("paid_at_s must be positive");
  const payments::v1::Tracking& tracking = purchase.tracking;
  const absl::string_view user_agent = absl::StripAsciiWhitespace(tracking.client_user_agent());
  if (user_agent.empty()) {
    return absl::InvalidArgumentError(
        "client_user_agent is empty (Meta requires it for website events)");
  }
  std::string source_url(absl::StripAsciiWhitespace(tracking.source_url()));
  if (!IsHttpUrl(source_url)) {
    if (!IsHttpUrl(fallback_source_url)) {
      return absl::InvalidArgumentError(
          "fallback_source_url is not an http(s) URL (and the tracking has none)");
    }
    source_url = std::string(fallback_source_url);
  }

  std::string user_data = "{";
  AppendField(user_data, "em", HashField(HashedField::kEmail, purchase.email));
  AppendField(user_data, "ph", HashField(HashedField::kPhone, purchase.phone));
  AppendField(user_data, "fn", HashField(HashedField::kFirstName, purchase.first_name));
  AppendField(user_data, "ln", HashField(HashedField::kLastName, purchase.last_name));
  AppendField(user_data, "external_id", HashField(HashedField::kExternalId, purchase.customer_id));
  AppendField(user_data, "client_ip_address", absl::StripAsciiWhitespace(tracking.client_ip()));
  AppendField(user_data, "client_user_agent", user_agent);
  AppendField(user_data, "fbp", absl::StripAsciiWhitespace(tracking.fbp()));
  AppendField(user_data, "fbc", absl::StripAsciiWhitespace(tracking.fbc()));
  user_data.push_back('}');

  return absl::StrCat(R"({"event_name":"Purchase","event_time":)", purchase.paid_at_s,
                      R"(,"action_source":"website","event_source_url":)", JsonQuote(source_url),
                      R"(,"event_id":)", JsonQuote(PurchaseEventId(purchase)), R"(,"user_data":)",
                      user_data, R"(,"custom_data":{"value":)",
                      JsonQuote(FormatMajorUnits(purchase.amount.amount_minor(), currency)),
                      R"(,"currency":)", JsonQuote(absl::AsciiStrToUpper(currency)), "}}");
}

absl::StatusOr<ApiRequest> BuildEventsRequest(absl::string_view base_url,
                                              absl::string_view api_version,
                                              absl::string_view pixel_id,
                                              absl::string_view access_token,
                                              absl::string_view event_json,
                                              absl::string_view test_event_code) {
  absl::string_view base = base_url;
  while (absl::ConsumeSuffix(&base, "/")) {
  }
  if (!IsHttpUrl(base) || base.find_first_of("?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError("base_url is not an http(s) URL without a query");
  }
  const std::vector<absl::string_view> version =
      absl::StrSplit(absl::StripPrefix(api_version, "v"), '.');
  const auto all_digits = [](absl::string_view part) {
    return !part.empty() && part.size() <= 4 && absl::c_all_of(part, absl::ascii_isdigit);
  };
  if (!absl::StartsWith(api_version, "v") || version.size() != 2 || !all_digits(version[0]) ||
      !all_digits(version[1])) {
    return absl::InvalidArgumentError("api_version is not like v19.0");
  }
  if (pixel_id.empty() || pixel_id.size() > 32 || !absl::c_all_of(pixel_id, absl::ascii_isdigit)) {
    return absl::InvalidArgumentError("pixel_id is not 1–32 digits");
  }
  if (access_token.empty()) return absl::InvalidArgumentError("access_token is empty");
  if (!gateways::PayloadFields::ParseJson(event_json).ok()) {
    return absl::InvalidArgumentError("event_json is not a JSON object");
  }
  if (test_event_code.size() > 64 || !absl::c_all_of(test_event_code, [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      })) {
    return absl::InvalidArgumentError("test_event_code is not up to 64 of [A-Za-z0-9_-]");
  }
  ApiRequest request;
  request.method = "POST";
  request.url = absl::StrCat(base, "/", api_version, "/", pixel_id,
                             "/events?access_token=", gateways::PercentEncode(access_token));
  request.headers = {{"Content-Type", "application/json"}};
  request.body = absl::StrCat(R"({"data":[)", event_json, "]");
  if (!test_event_code.empty()) {
    absl::StrAppend(&request.body, R"(,"test_event_code":)", JsonQuote(test_event_code));
  }
  request.body.push_back('}');
  return request;
}

MetaAnswer ClassifyAnswer(const absl::StatusOr<ApiResponse>& answer) {
  if (!answer.ok()) {
    MetaAnswer failed;
    failed.outcome = MetaOutcome::kRetryable;
    failed.message = OperatorMessage(
        absl::StrCat("no answer: ", absl::StatusCodeToString(answer.status().code()), ": ",
                     answer.status().message()));
    return failed;
  }
  return ClassifyHttpAnswer(*answer);
}

bool IsTooOldForMeta(int64_t event_time_s, int64_t now_s) {
  return now_s - event_time_s > kMaxEventAgeS;
}

}  // namespace tally::reactors
