#pragma once
// Plain HTTP request/response values, so handlers and their tests never include Beast.

#include <string>
#include <string_view>
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
  // Extra response headers (Content-Type, Content-Length and Server are set by the server).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// {"error":{"code":"<code>","message":"<message>"}} with the given status.
HttpResponse JsonError(int status, const std::string& code, const std::string& message);

// The value of header `name` (any case), or "".
std::string HeaderValue(const HttpRequest& request, std::string_view name);

// "req_" + 16 random hex digits: names one request in logs and in event metadata.
std::string NewRequestId();

}  // namespace tally::http
