#include "http/server.h"

#include <pthread.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ledger/event_json.h"

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Counts requests between "read complete" and "response written", so Stop can drain them.
class InFlight {
 public:
  void Enter() {
    std::lock_guard lock(mu_);
    ++count_;
  }
  void Leave() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) idle_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int count_ = 0;
};

struct Shared {
  ServerOptions options;
  Handler handler;
  NonBlockingHandler fast_path;
  // The worker pool handlers run on: threads named "http-worker-N" for `top -H`.
  net::io_context workers;
  net::executor_work_guard<net::io_context::executor_type> workers_work;
  std::vector<std::thread> worker_threads;
  InFlight in_flight;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};

  Shared(ServerOptions o, Handler h, NonBlockingHandler f)
      : options(std::move(o)),
        handler(std::move(h)),
        fast_path(std::move(f)),
        workers_work(workers.get_executor()) {
    for (int i = 0; i < options.worker_threads; ++i) {
      worker_threads.emplace_back([this, i] {
        pthread_setname_np(pthread_self(),
                           ("http-worker-" + std::to_string(i)).substr(0, 15).c_str());
        workers.run();
      });
    }
  }
  void JoinWorkers() {
    workers_work.reset();
    for (auto& t : worker_threads) t.join();
    worker_threads.clear();
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->connections;
  }
  ~Session() { --shared_->connections; }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    stream_.expires_after(shared_->options.read_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return Close();
    }
    if (ec == bhttp::error::body_limit) {
      return Reply(JsonError(413, "body_too_large",
                             absl::StrCat("request body exceeds ", shared_->options.max_body_bytes,
                                          " bytes")),
                   false);
    }
    if (ec == bhttp::error::header_limit) {
      return Reply(JsonError(431, "headers_too_large",
                             absl::StrCat("request headers exceed ",
                                          shared_->options.max_header_bytes, " bytes")),
                   false);
    }
    if (ec) return Reply(JsonError(400, "malformed_http", ec.message()), false);

    auto message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    beast::error_code ignored;
    auto endpoint = stream_.socket().remote_endpoint(ignored);
    if (!ignored) request.remote_address = endpoint.address().to_string();
    const bool keep_alive = message.keep_alive();

    shared_->in_flight.Enter();
    auto self = shared_from_this();
    // Calling the responder hands its reference to the session over to the I/O thread that
    // writes the answer, so a copy destroyed later, on whatever thread held it (an appender, a
    // timer), no longer owns the session and cannot outlive the server with it.
    Responder respond = [self, keep_alive](HttpResponse response) mutable {
      std::shared_ptr<Session> session = std::move(self);
      if (!session) return;  // this copy has answered already
      net::post(session->stream_.get_executor(),
                [session, response = std::move(response), keep_alive]() mutable {
                  session->Reply(std::move(response), keep_alive, /*counted=*/true);
                });
    };
    auto fail = [self, keep_alive] {
      // A handler that throws has not answered; answer for it so the request is not lost.
      net::post(self->stream_.get_executor(), [self, keep_alive] {
        self->Reply(JsonError(500, "internal", "the request could not be handled"), keep_alive,
                    /*counted=*/true);
      });
    };
    if (shared_->fast_path) {
      try {
        if (shared_->fast_path(request, respond)) return;
      } catch (const std::exception&) {
        return fail();
      }
    }
    net::post(shared_->workers,
              [self, request = std::move(request), respond = std::move(respond), fail]() mutable {
                try {
                  self->shared_->handler(request, std::move(respond));
                } catch (const std::exception&) {
                  fail();
                }
              });
  }

  void Reply(HttpResponse response, bool keep_alive, bool counted = false) {
    auto out = std::make_shared<bhttp::response<bhttp::string_body>>();
    out->version(11);
    out->result(static_cast<unsigned>(response.status));
    out->set(bhttp::field::server, "tally");
    out->set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->keep_alive(keep_alive && !shared_->stopping);
    out->body() = std::move(response.body);
    out->prepare_payload();
    stream_.expires_after(shared_->options.read_timeout);
    bhttp::async_write(stream_, *out,
                       [self = shared_from_this(), out, counted](beast::error_code ec, size_t) {
                         if (counted) self->shared_->in_flight.Leave();
                         if (ec || !out->keep_alive()) return self->Close();
                         self->Read();
                       });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Shared> shared_;
};

class BeastServer final : public Server {
 public:
  BeastServer(ServerOptions options, Handler handler, NonBlockingHandler fast_path)
      : shared_(
            std::make_shared<Shared>(std::move(options), std::move(handler), std::move(fast_path))),
        ioc_(shared_->options.io_threads),
        work_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)) {}

  ~BeastServer() override { Stop(); }

  absl::Status Listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(shared_->options.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen host: ", ec.message()));
    tcp::endpoint endpoint(address, shared_->options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", shared_->options.host, ":",
                                                 shared_->options.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < shared_->options.io_threads; ++i) {
      io_threads_.emplace_back([this, i] {
        pthread_setname_np(pthread_self(), ("http-io-" + std::to_string(i)).c_str());
        ioc_.run();
      });
    }
    return absl::OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Wait() override {
    std::unique_lock lock(mu_);
    stopped_cv_.wait(lock, [this] { return stopped_; });
  }

  void Stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_ || stopping_) return;
      stopping_ = true;
    }
    shared_->stopping = true;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    shared_->in_flight.WaitIdle();
    work_.reset();
    ioc_.stop();
    for (auto& thread : io_threads_) thread.join();
    shared_->JoinWorkers();
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    stopped_cv_.notify_all();
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec) {
                               if (ec == net::error::operation_aborted) return;
                             } else if (shared_->connections >= shared_->options.max_connections) {
                               beast::error_code ignored;
                               socket.close(ignored);
                             } else {
                               std::make_shared<Session>(std::move(socket), shared_)->Run();
                             }
                             if (!shared_->stopping) Accept();
                           });
  }

  std::shared_ptr<Shared> shared_;
  net::io_context ioc_;
  // Keeps the I/O threads running while answers are still to come: during a drain no socket
  // operation may be pending while a handler works on a response.
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> io_threads_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable stopped_cv_;
  bool stopping_ = false;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler,
                                                      NonBlockingHandler fast_path) {
  auto server =
      std::make_unique<BeastServer>(std::move(options), std::move(handler), std::move(fast_path));
  if (absl::Status status = server->Listen(); !status.ok()) return status;
  return server;
}

}  // namespace tally::http
