#pragma once
// Plain HTTP request/response values, so handlers and their tests never include Beast.

#include <string>
#include <utility>
#include <vector>

namespace tally::http {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query, as received
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// {"error":{"code":"<code>","message":"<message>"}} with the given status.
HttpResponse JsonError(int status, const std::string& code, const std::string& message);

}  // namespace tally::http
