// The server's WebSocket route against real loopback connections: the handler hears a
// connection's open, messages and close in order; a client that stops reading is dropped when its
// queue fills while the others get every message; the connection bound refuses the handshake;
// Stop says goodbye (1001).

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "http/websocket.h"
#include "tests/support/ws_client.h"

namespace tally::http {
namespace {

using namespace std::chrono_literals;
using testing::WsClient;

// Records what the server reports, and answers each message "echo:<text>".
class RecordingHandler final : public WebSocketHandler {
 public:
  void OnOpen(const std::shared_ptr<WebSocketConnection>& connection) override {
    std::lock_guard lock(mu_);
    connections_.push_back(connection);
    events_.push_back("open");
    cv_.notify_all();
  }
  void OnMessage(const std::shared_ptr<WebSocketConnection>& connection,
                 const std::string& text) override {
    {
      std::lock_guard lock(mu_);
      events_.push_back("message:" + text);
    }
    CHECK(connection->Send("echo:" + text));
  }
  void OnClose(const std::shared_ptr<WebSocketConnection>&) override {
    std::lock_guard lock(mu_);
    events_.push_back("close");
    cv_.notify_all();
  }

  // Waits (at most 10 s) until `n` events were recorded.
  std::vector<std::string> WaitEvents(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return events_.size() >= n; });
    return events_;
  }
  std::vector<std::shared_ptr<WebSocketConnection>> WaitConnections(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return connections_.size() >= n; });
    return connections_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::vector<std::shared_ptr<WebSocketConnection>> connections_;
};

std::unique_ptr<Server> StartServer(WebSocketRoute route) {
  ServerOptions options;
  options.port = 0;
  auto server = Server::Start(
      options,
      [](const HttpRequest& request, Responder respond) {
        respond(JsonError(404, "not_found", "no route for " + request.target));
      },
      nullptr, std::move(route));
  REQUIRE(server.ok());
  return std::move(*server);
}

TEST_CASE("a WebSocket route reports open, each message and close in order") {
  RecordingHandler handler;
  auto server = StartServer({"/v1/live", &handler});
  auto client = WsClient::Connect(server->port(), "/v1/live");
  REQUIRE(client != nullptr);
  client->Send("a");
  client->Send("b");
  CHECK(client->Read() == "echo:a");
  CHECK(client->Read() == "echo:b");
  client->Close();
  CHECK(handler.WaitEvents(4) ==
        std::vector<std::string>{"open", "message:a", "message:b", "close"});
  // After the close, the handle no longer sends.
  CHECK_FALSE(handler.WaitConnections(1).front()->Send("late"));
}

TEST_CASE("a WebSocket client that stops reading is dropped, and the others get every message") {
  RecordingHandler handler;
  WebSocketRoute route{"/v1/live", &handler};
  route.max_queued_messages = 16;
  auto server = StartServer(route);
  auto slow = WsClient::Connect(server->port(), "/v1/live");
  auto fast = WsClient::Connect(server->port(), "/v1/live");
  REQUIRE(slow != nullptr);
  REQUIRE(fast != nullptr);
  auto connections = handler.WaitConnections(2);
  REQUIRE(connections.size() == 2);
  // The producer keeps at most 8 messages ahead of the fast client, so only the slow client's
  // queue can fill.
  constexpr int kMessages = 600;  // 600 x 64 KiB: far more than loopback buffers hold
  const std::string big(64 << 10, 'x');
  std::mutex mu;
  std::condition_variable cv;
  int received = 0;
  std::thread reader([&] {
    for (;;) {
      auto message = fast->Read();
      if (!message.has_value()) break;
      std::lock_guard lock(mu);
      if (++received == kMessages) break;
      cv.notify_all();
    }
    cv.notify_all();
  });
  std::vector<int> refused_at(connections.size(), -1);
  for (int i = 0; i < kMessages; ++i) {
    {
      std::unique_lock lock(mu);
      REQUIRE(cv.wait_for(lock, 10s, [&] { return received >= i - 8; }));
    }
    for (size_t c = 0; c < connections.size(); ++c) {
      if (!connections[c]->Send(big) && refused_at[c] < 0) refused_at[c] = i;
    }
  }
  reader.join();
  CHECK(received == kMessages);
  // Exactly one connection (the slow one) was dropped, after its queue filled.
  CHECK(((refused_at[0] < 0) != (refused_at[1] < 0)));
  CHECK(std::max(refused_at[0], refused_at[1]) >= 16);
  // The slow client finds its connection cut without a close frame.
  std::optional<std::string> message;
  do {
    message = slow->Read();
  } while (message.has_value());
  CHECK(slow->close_code() == 0);
}

TEST_CASE("WebSocket handshakes beyond the route's bound are refused with 503") {
  RecordingHandler handler;
  WebSocketRoute route{"/v1/live", &handler};
  route.max_connections = 2;
  auto server = StartServer(route);
  auto first = WsClient::Connect(server->port(), "/v1/live");
  auto second = WsClient::Connect(server->port(), "/v1/live");
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);
  CHECK(WsClient::HandshakeStatus(server->port(), "/v1/live") == 503);
  // Another path is not the WebSocket route.
  CHECK(WsClient::HandshakeStatus(server->port(), "/other") == 404);
  first.reset();
  second.reset();
}

TEST_CASE("Stop closes open WebSocket connections with 1001 going away") {
  RecordingHandler handler;
  auto server = StartServer({"/v1/live", &handler});
  auto client = WsClient::Connect(server->port(), "/v1/live");
  REQUIRE(client != nullptr);
  REQUIRE(handler.WaitConnections(1).size() == 1);
  std::thread stopper([&] { server->Stop(); });
  CHECK_FALSE(client->Read().has_value());
  CHECK(client->close_code() == 1001);
  stopper.join();
  CHECK(handler.WaitEvents(2).back() == "close");
}

}  // namespace
}  // namespace tally::http
