#pragma once
// A minimal blocking HTTP/1.1 client for tests (Boost.Beast kept out of this header).

#include <string>
#include <utility>
#include <vector>

namespace tally::testing {

struct HttpReply {
  int status = 0;  // 0: the connection closed without a response
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of response header `name` (any case), "" when absent.
  std::string Header(const std::string& name) const;
};

HttpReply HttpPost(int port, const std::string& target, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& headers);

HttpReply HttpGet(int port, const std::string& target);

// Any method, with request headers.
HttpReply HttpFetch(int port, const std::string& method, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    const std::string& body = "");

// Opens a connection, sends `bytes`, and waits up to `wait_ms` for the server to answer or
// close. Returns the raw bytes received ("" if none) and whether the server closed.
std::pair<std::string, bool> RawExchange(int port, const std::string& bytes, int wait_ms);

}  // namespace tally::testing
