#pragma once
// An outbound HTTP/1.1 client on Boost.Beast and OpenSSL, for gateways, Meta and Telegram.
//
//  - https:// URLs verify the server's certificate chain (the system trust store, plus
//    `ca_file` when set) and its host name (SNI sent). Verification is on unless a caller
//    explicitly turns it off.
//  - Every call has one deadline covering resolve, connect, TLS handshake, write and read;
//    when it passes the call fails with DeadlineExceeded and the connection is closed.
//  - Connections are kept alive and reused per (scheme, host, port), at most
//    `max_idle_per_host` idle at a time. A reused connection the server had already closed
//    (it fails before any byte of an answer) is retried once on a fresh connection; nothing
//    else is retried here — retry policy belongs to the caller, who knows whether the request
//    is idempotent.
//  - Answers larger than `max_response_bytes` fail with ResourceExhausted.
//  - Errors never contain request headers or bodies, which may carry credentials; URLs appear
//    without their query string (Atomopay puts its token there), or not at all when the caller
//    gives the call a description instead.
//
// Send blocks the calling thread: call it from a worker, never from a server I/O thread.
// Thread-safe. Beast and OpenSSL stay out of this header.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // 0: the client's default.
  std::chrono::milliseconds timeout{0};
  // Names the call in errors; "" means the method and the URL without its query. Set it when
  // the URL's path carries a secret (Telegram's /bot<token>/...).
  std::string description = {};
};

struct ClientResponse {
  int status = 0;
  // Header names in lowercase.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(absl::string_view lowercase_name) const;
};

struct ClientOptions {
  std::chrono::milliseconds timeout{10000};
  bool verify_peer = true;
  // PEM file of extra trusted certificates (e.g. a private CA); "" for the system store only.
  std::string ca_file;
  size_t max_idle_per_host = 16;
  size_t max_response_bytes = 4 << 20;
  std::string user_agent = "tally/1";
};

struct Url {
  bool tls = false;
  std::string host;
  std::string port;    // always set ("80"/"443" by default)
  std::string target;  // path and query, at least "/"
};

// InvalidArgument for anything but an absolute http(s) URL with a host.
absl::StatusOr<Url> ParseUrl(absl::string_view url);

// The URL without its query string or fragment, for messages and logs.
std::string RedactUrl(absl::string_view url);

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any status code is a response; a Status is returned only when no response was read.
  absl::StatusOr<ClientResponse> Send(const ClientRequest& request);

  // Connections opened so far (for tests of reuse).
  uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tally::http
