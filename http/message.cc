#include "http/message.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/event_json.h"

namespace tally::http {

HttpResponse JsonError(int status, const std::string& code, const std::string& message) {
  return {status, "application/json",
          absl::StrCat("{\"error\":{\"code\":", ledger::JsonQuote(code),
                       ",\"message\":", ledger::JsonQuote(message), "}}")};
}

std::string HeaderValue(const HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, absl::string_view(name.data(), name.size()))) return value;
  }
  return "";
}

std::string NewRequestId() {
  unsigned char bytes[8];
  RAND_bytes(bytes, sizeof bytes);
  return absl::StrCat("req_",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), 8)));
}

}  // namespace tally::http
