#pragma once
// A blocking WebSocket client for tests (Beast), one connection per object. Not thread-safe,
// except that Read may run on one thread while another thread only holds the object.

#include <memory>
#include <optional>
#include <string>

namespace tally::testing {

class WsClient {
 public:
  // Connects to 127.0.0.1:`port` and performs the handshake for `path`; null when refused.
  static std::unique_ptr<WsClient> Connect(int port, const std::string& path);
  // The HTTP status answering a WebSocket handshake for `path` (101 when accepted), or -1.
  static int HandshakeStatus(int port, const std::string& path);
  ~WsClient();

  void Send(const std::string& text);
  // The next text message, or nullopt once the connection is over: close_code() then holds the
  // code of the server's close frame (0 when the connection ended without one).
  std::optional<std::string> Read();
  int close_code() const { return close_code_; }
  void Close();

 private:
  WsClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int close_code_ = 0;
};

}  // namespace tally::testing
