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
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The shutdown gate (as Seastar's seastar::gate). A counter alone let a request read after the
// drain had finished be handled while the I/O threads were stopping, and its answer be posted
// to a stopped io_context. A request is inside from "read complete" to "answer written".
class Gate {
 public:
  // False once the gate is closed: the request must be refused, not handled.
  [[nodiscard]] bool TryEnter() {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    ++inside_;
    return true;
  }
  void Leave() {
    std::lock_guard lock(mu_);
    if (--inside_ == 0) empty_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  // After Close: returns once every admitted request has left, after which none can enter.
  void WaitEmpty() {
    std::unique_lock lock(mu_);
    empty_.wait(lock, [this] { return inside_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable empty_;
  int inside_ = 0;
  bool closed_ = false;
};

struct Shared {
  ServerOptions options;
  Handler handler;
  NonBlockingHandler fast_path;
  // The worker pool handlers run on: threads named "http-worker-N" for `top -H`.
  net::io_context workers;
  net::executor_work_guard<net::io_context::executor_type> workers_work;
  std::vector<std::thread> worker_threads;
  Gate gate;
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

class Session;

// The right to answer one admitted request, shared by every copy of its responder and by the
// worker running its handler. The first answer takes it; a later attempt finds it taken, so a
// request is answered, and leaves the gate, exactly once whatever the handler does afterwards.
class PendingAnswer {
 public:
  PendingAnswer(std::shared_ptr<Session> session, bool keep_alive)
      : session_(std::move(session)), keep_alive_(keep_alive) {}

  // For ServerOptions::on_answered: the request's method and path, and when it was read.
  std::string method;
  std::string path;
  std::chrono::steady_clock::time_point read_at;

  // The session to write the answer on, or null when the request was answered already. Taking
  // it drops this object's reference to the session, so a responder copy destroyed later, on
  // whatever thread held it (an appender, a timer), cannot keep the session alive past the
  // server.
  std::shared_ptr<Session> Take(int status) {
    std::lock_guard lock(mu_);
    if (session_) answered_with_ = status;
    return std::move(session_);
  }
  int answered_with() {
    std::lock_guard lock(mu_);
    return answered_with_;
  }
  bool keep_alive() const { return keep_alive_; }

 private:
  std::mutex mu_;
  std::shared_ptr<Session> session_;
  const bool keep_alive_;
  int answered_with_ = 0;
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
    if (!shared_->gate.TryEnter()) {
      // Shutting down: the request is not handled, and the client hears it may retry.
      return Reply(JsonError(503, "shutting_down", "the server is shutting down; retry"), false);
    }

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

    auto pending = std::make_shared<PendingAnswer>(shared_from_this(), keep_alive);
    if (shared_->options.on_answered) {
      pending->method = request.method;
      pending->path = request.target.substr(0, request.target.find('?'));
      pending->read_at = std::chrono::steady_clock::now();
    }
    Responder respond = [pending](HttpResponse response) {
      const int status = response.status;
      if (!Answer(pending, std::move(response))) {
        spdlog::error("http: a second answer (status {}) to a request answered with {} ignored",
                      status, pending->answered_with());
      }
    };
    // A handler that throws before answering gets a 500 for its request, so it is not lost;
    // one that throws after answering keeps its answer.
    auto fail = [pending](const std::exception& e) {
      if (Answer(pending, JsonError(500, "internal", "the request could not be handled"))) {
        spdlog::error("http: handler failed before answering, answered 500 error=\"{}\"", e.what());
      } else {
        spdlog::error("http: handler failed after answering with {}, answer kept error=\"{}\"",
                      pending->answered_with(), e.what());
      }
    };
    if (shared_->fast_path) {
      try {
        if (shared_->fast_path(request, respond)) return;
      } catch (const std::exception& e) {
        return fail(e);
      }
    }
    net::post(shared_->workers, [shared = shared_, request = std::move(request),
                                 respond = std::move(respond), fail]() mutable {
      try {
        shared->handler(request, std::move(respond));
      } catch (const std::exception& e) {
        fail(e);
      }
    });
  }

  // Writes `response` as the answer to `pending`'s request on the session's I/O thread, unless
  // the request was answered already (then false).
  static bool Answer(const std::shared_ptr<PendingAnswer>& pending, HttpResponse response) {
    std::shared_ptr<Session> session = pending->Take(response.status);
    if (!session) return false;
    if (const auto& observe = session->shared_->options.on_answered) {
      observe(pending->method, pending->path, response.status,
              std::chrono::steady_clock::now() - pending->read_at);
    }
    auto executor = session->stream_.get_executor();
    net::post(executor, [session = std::move(session), response = std::move(response),
                         keep_alive = pending->keep_alive()]() mutable {
      session->Reply(std::move(response), keep_alive, /*admitted=*/true);
    });
    return true;
  }

  // `admitted`: the answer to a request inside the gate, which leaves it once written.
  void Reply(HttpResponse response, bool keep_alive, bool admitted = false) {
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
                       [self = shared_from_this(), out, admitted](beast::error_code ec, size_t) {
                         if (admitted) self->shared_->gate.Leave();
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
    // Closed before the acceptor, so a refused connection tells a client that nothing more
    // will be admitted.
    shared_->gate.Close();
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    shared_->gate.WaitEmpty();
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
