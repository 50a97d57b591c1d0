// The HTTP server's promises to handlers and to shutdown, against real loopback connections:
// a request is answered at most once whatever its handler does after answering, and once
// shutdown begins nothing new is admitted while what was admitted drains.

#include "http/server.h"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tally::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::unique_ptr<Server> StartServer(Handler handler, NonBlockingHandler fast_path = nullptr) {
  ServerOptions options;
  options.port = 0;
  options.worker_threads = 4;
  auto server = Server::Start(options, std::move(handler), std::move(fast_path));
  REQUIRE(server.ok());
  return std::move(*server);
}

HttpResponse Text(std::string body) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct Received {
  std::string bytes;
  bool closed = false;  // the server closed its side
};

// One client connection kept open across requests, so a test controls when each request of a
// keep-alive connection is sent. Raw bytes, so a second answer on the wire cannot hide.
class Connection {
 public:
  explicit Connection(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    socket_.non_blocking(true);
  }

  void Send(const std::string& bytes) {
    socket_.non_blocking(false);
    net::write(socket_, net::buffer(bytes));
    socket_.non_blocking(true);
  }

  // What arrives within `wait`; returns early when the server closes the connection.
  Received ReadFor(std::chrono::milliseconds wait) {
    return Read(wait, [](const std::string&) { return false; });
  }

  // Reads until one whole response (headers and Content-Length body) has arrived, the server
  // closes, or `wait` passes.
  Received ReadResponse(std::chrono::milliseconds wait) {
    return Read(wait, [](const std::string& bytes) {
      const size_t end = bytes.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      const size_t at = bytes.find("Content-Length: ");
      if (at == std::string::npos || at > end) return true;
      return bytes.size() >= end + 4 + std::stoul(bytes.substr(at + 16));
    });
  }

 private:
  template <class Done>
  Received Read(std::chrono::milliseconds wait, Done done) {
    Received received;
    char buffer[4096];
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline && !done(received.bytes)) {
      boost::system::error_code ec;
      const size_t n = socket_.read_some(net::buffer(buffer), ec);
      if (ec == net::error::would_block) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      if (ec) {
        received.closed = true;
        break;
      }
      received.bytes.append(buffer, n);
    }
    return received;
  }

  net::io_context ioc_;
  tcp::socket socket_;
};

bool AcceptsConnections(uint16_t port) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

TEST_CASE("a handler that answers and then throws is answered once on the wire") {
  auto server = StartServer([](const HttpRequest& request, Responder respond) {
    respond(Text("answer to " + request.target));
    if (request.target == "/throws") throw std::runtime_error("fails after answering");
  });
  Connection connection(server->port());
  connection.Send(Get("/throws"));
  Received first = connection.ReadFor(500ms);
  CHECK(Count(first.bytes, "HTTP/1.1 ") == 1);
  CHECK(first.bytes.find("answer to /throws") != std::string::npos);
  CHECK(first.bytes.find("500") == std::string::npos);
  CHECK_FALSE(first.closed);
  // The connection stays usable, and the next request gets its own answer and only that.
  connection.Send(Get("/next"));
  Received second = connection.ReadFor(500ms);
  CHECK(Count(second.bytes, "HTTP/1.1 ") == 1);
  CHECK(second.bytes.find("answer to /next") != std::string::npos);
  // Each request left the shutdown gate exactly once: leaving twice would never let the count
  // settle at zero, and Stop would wait forever (CTest's timeout catches that).
  server->Stop();
}

TEST_CASE("a responder copied and called twice answers once") {
  auto server = StartServer([](const HttpRequest&, Responder respond) {
    Responder copy = respond;
    respond(Text("first"));
    copy(Text("second"));
  });
  Connection connection(server->port());
  connection.Send(Get("/"));
  Received received = connection.ReadFor(500ms);
  CHECK(Count(received.bytes, "HTTP/1.1 ") == 1);
  CHECK(received.bytes.find("first") != std::string::npos);
  CHECK(received.bytes.find("second") == std::string::npos);
  server->Stop();
}

TEST_CASE("a handler that throws before answering gets a 500 for its request") {
  auto server = StartServer(
      [](const HttpRequest&, Responder) { throw std::runtime_error("fails before answering"); });
  Connection connection(server->port());
  connection.Send(Get("/"));
  Received received = connection.ReadFor(500ms);
  CHECK(Count(received.bytes, "HTTP/1.1 ") == 1);
  CHECK(received.bytes.rfind("HTTP/1.1 500", 0) == 0);
  server->Stop();
}

TEST_CASE("a keep-alive request sent after shutdown began is refused, and the drain finishes") {
  std::atomic<int> handled{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> slow_started;
  auto server = StartServer([&](const HttpRequest& request, Responder respond) {
    ++handled;
    if (request.target == "/slow") {
      slow_started.set_value();
      released.wait();
    }
    respond(Text("answer to " + request.target));
  });
  const uint16_t port = server->port();

  Connection idle(port);
  idle.Send(Get("/first"));
  Received first = idle.ReadResponse(2s);
  REQUIRE(first.bytes.rfind("HTTP/1.1 200", 0) == 0);
  REQUIRE_FALSE(first.closed);

  // An admitted request keeps the drain open while the test acts.
  Connection slow(port);
  slow.Send(Get("/slow"));
  slow_started.get_future().wait();
  std::thread stopper([&] { server->Stop(); });
  // The gate closes before the acceptor does, so a refused connection means it is closed.
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (AcceptsConnections(port)) {
    REQUIRE(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(10ms);
  }

  idle.Send(Get("/late"));
  Received late = idle.ReadFor(2s);
  CHECK(late.bytes.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(late.bytes.find("Connection: close") != std::string::npos);
  CHECK(late.closed);
  CHECK(handled.load() == 2);  // /first and /slow; /late never reached the handler

  release.set_value();
  stopper.join();
  Received drained = slow.ReadResponse(2s);
  CHECK(drained.bytes.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(drained.bytes.find("answer to /slow") != std::string::npos);
  CHECK(drained.bytes.find("Connection: close") != std::string::npos);
  server.reset();
  CHECK(handled.load() == 2);
}

// Answers on its own thread a little later, as an appender's callback does on the fast path.
class LateAnswers {
 public:
  LateAnswers()
      : thread_([this] {
          std::unique_lock lock(mu_);
          for (;;) {
            ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            Responder respond = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            std::this_thread::sleep_for(1ms);
            respond(Text("late"));
            lock.lock();
          }
        }) {}
  ~LateAnswers() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    thread_.join();
  }
  void Add(Responder respond) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(respond));
    }
    ready_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Responder> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

TEST_CASE("keep-alive traffic racing shutdown: no request is answered after Stop returns") {
  std::atomic<bool> stop_returned{false};
  std::atomic<int> answered_after_stop{0};
  LateAnswers late_answers;
  auto answer = [&](Responder respond) {
    return [&, respond = std::move(respond)](HttpResponse response) {
      if (stop_returned) ++answered_after_stop;
      respond(std::move(response));
    };
  };
  auto server = StartServer(
      [&](const HttpRequest&, Responder respond) { answer(std::move(respond))(Text("slow")); },
      [&](const HttpRequest& request, Responder& respond) {
        if (request.target != "/fast") return false;
        late_answers.Add(answer(std::move(respond)));
        return true;
      });
  const uint16_t port = server->port();
  std::atomic<int> answers{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      Connection connection(port);
      for (int i = 0;; ++i) {
        connection.Send(Get(i % 2 == c % 2 ? "/fast" : "/slow"));
        Received received = connection.ReadResponse(10s);
        answers += static_cast<int>(Count(received.bytes, "HTTP/1.1 200"));
        if (received.closed || received.bytes.find("Connection: close") != std::string::npos) {
          return;
        }
      }
    });
  }
  while (answers < 200) std::this_thread::sleep_for(1ms);
  server->Stop();
  stop_returned = true;
  server.reset();
  for (auto& client : clients) client.join();
  CHECK(answered_after_stop.load() == 0);
}

}  // namespace
}  // namespace tally::http
