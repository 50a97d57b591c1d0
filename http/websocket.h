#pragma once
// WebSocket connections on http::Server's upgrade route (server.h), seen without Beast.
//
// The server accepts the upgrade (GET <path> with the WebSocket handshake) on the route's path,
// within the route's connection bound (beyond it the handshake is answered 503), then reports each
// connection's life to the route's handler: OnOpen, then OnMessage for each text message received
// (at most max_message_bytes; a larger one ends the connection), then OnClose exactly once. These
// calls are made on the server's worker threads, one at a time and in order for a connection (so
// they may block on the database), concurrently for different connections.
//
// Writes never block the caller: Send queues the message on the connection, and the connection's
// I/O thread writes the queue out in order. A client that reads too slowly fills its queue
// (max_queued_messages); its connection is then dropped at once, so it never holds back anyone
// else. When the server stops, every connection is closed with 1001 (going away).

#include <cstddef>
#include <memory>
#include <string>

namespace tally::http {

// One accepted connection. Thread-safe. The handle does not keep the socket alive: once the
// connection has ended (closed by either side, dropped, or the server stopped), Send returns false
// and Close does nothing.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;

  // Queues a text message. False when the connection has ended, or when its queue was full: the
  // connection is then dropped.
  [[nodiscard]] virtual bool Send(std::string text) = 0;
  // Sends a close frame with `code` (RFC 6455: 1000 normal, 1008 policy violation, ...) once the
  // messages queued before it are written, then ends the connection.
  virtual void Close(int code, std::string reason) = 0;
  virtual const std::string& remote_address() const = 0;
};

class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void OnOpen(const std::shared_ptr<WebSocketConnection>& connection) = 0;
  virtual void OnMessage(const std::shared_ptr<WebSocketConnection>& connection,
                         const std::string& text) = 0;
  virtual void OnClose(const std::shared_ptr<WebSocketConnection>& connection) = 0;
};

struct WebSocketRoute {
  std::string path;                     // e.g. "/v1/live"; "" for none
  WebSocketHandler* handler = nullptr;  // must outlive the server
  size_t max_connections = 1000;
  size_t max_queued_messages = 1024;
  size_t max_message_bytes = 4096;
};

}  // namespace tally::http
