#pragma once
// An asynchronous HTTP/1.1 server on Boost.Beast. Sessions read one request at a time with a
// body limit, a header limit and a read timeout, then pass a plain HttpRequest to the handler
// and write its HttpResponse. Keep-alive is honoured.
//
// The handler runs on the server's worker pool, never on an I/O thread, so it may block on the
// database; it answers by calling the responder, from any thread and at any time (e.g. when an
// append it queued is durable), so a worker need not wait for the database. A request is
// answered at most once: the first call of its responder (or of any copy) answers, later calls
// are logged and ignored. A handler that throws before answering gets a 500 for its request;
// one that throws after answering keeps its answer.
//
// Stop() closes the shutdown gate: from then on nothing new is admitted. A request read after
// that (on a keep-alive connection, or one accepted just before) never reaches a handler: it
// is answered 503 with `Connection: close` while the drain lasts. Stop waits until every
// request admitted before has been answered and its answer written (answers written during
// the drain carry `Connection: close`), then stops the I/O threads and joins every thread; a
// connection still open after that gets nothing more and is closed when the Server is
// destroyed. A handler must therefore answer every request it is given, or Stop waits forever.
// Beast stays out of this header so that including it is cheap.
//
// One path may be a WebSocket route (http/websocket.h): a WebSocket handshake on it becomes a
// long-lived connection reported to the route's handler, outside the request gate; Stop closes
// those connections (1001, going away) and waits at most a second for their close handshakes.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "http/message.h"
#include "http/websocket.h"

namespace tally::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  int io_threads = 2;
  int worker_threads = 8;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  std::chrono::seconds read_timeout{10};
  size_t max_connections = 1024;
  // Optional: called once for each request admitted to the handlers, when it is answered (on
  // the answering thread; must be quick), with its method, its path (the target without the
  // query), its status and the time since it was read. `tally serve` records metrics with it
  // (http/router.h RecordHttpRequest).
  std::function<void(std::string_view method, std::string_view path, int status,
                     std::chrono::steady_clock::duration)>
      on_answered;
};

using Responder = std::function<void(HttpResponse)>;
using Handler = std::function<void(const HttpRequest&, Responder)>;
// Optional, tried first on the I/O thread that read the request: it must never block (no
// database, no outbound call). It either answers through the responder (possibly later, e.g.
// when an append it queued is durable) and returns true, or returns false without touching the
// responder, and the request goes to the Handler on a worker. Saves a thread hand-off on the
// hot path (webhooks whose tenant is cached).
using NonBlockingHandler = std::function<bool(const HttpRequest&, Responder&)>;

class Server {
 public:
  // Binds and starts listening; Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler,
                                                       NonBlockingHandler fast_path = nullptr,
                                                       WebSocketRoute websocket = {});
  virtual ~Server() = default;

  virtual uint16_t port() const = 0;
  // Blocks until Stop() is called from another thread or a signal handler's thread.
  virtual void Wait() = 0;
  virtual void Stop() = 0;
};

}  // namespace tally::http
