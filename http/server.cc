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
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
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

class WsSession;

struct Shared {
  ServerOptions options;
  Handler handler;
  NonBlockingHandler fast_path;
  WebSocketRoute websocket;
  // WebSocket connections, counted from the handshake's arrival; the open ones by address, so
  // that Stop can close them.
  std::atomic<size_t> websockets{0};
  std::mutex websockets_mu;
  std::condition_variable websockets_gone;
  std::unordered_map<const WsSession*, std::weak_ptr<WsSession>> open_websockets;
  // The worker pool handlers run on: threads named "http-worker-N" for `top -H`.
  net::io_context workers;
  net::executor_work_guard<net::io_context::executor_type> workers_work;
  std::vector<std::thread> worker_threads;
  Gate gate;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};

  Shared(ServerOptions o, Handler h, NonBlockingHandler f, WebSocketRoute w)
      : options(std::move(o)),
        handler(std::move(h)),
        fast_path(std::move(f)),
        websocket(std::move(w)),
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
    if (shared_->websocket.handler != nullptr && websocket::is_upgrade(parser_->get())) {
      const beast::string_view target = parser_->get().target();
      if (target.substr(0, target.find('?')) == shared_->websocket.path) return Upgrade();
    }
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

  // Hands the connection to a WebSocket session; this HTTP session ends here.
  void Upgrade();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Shared> shared_;
};

// The handle a WebSocketHandler holds: it never keeps the session (and its socket) alive.
class WsHandle final : public WebSocketConnection {
 public:
  WsHandle(std::weak_ptr<WsSession> session, std::string remote_address, size_t max_queued)
      : session_(std::move(session)),
        remote_address_(std::move(remote_address)),
        max_queued_(max_queued) {}

  bool Send(std::string text) override;
  void Close(int code, std::string reason) override;
  const std::string& remote_address() const override { return remote_address_; }

  std::atomic<bool> ended{false};
  std::atomic<size_t> queued{0};  // sent and not yet written

 private:
  const std::weak_ptr<WsSession> session_;
  const std::string remote_address_;
  const size_t max_queued_;
};

// One WebSocket connection. Its socket operations run on the connection's strand (the stream's
// executor); the handler's callbacks on a strand of the worker pool, in order.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(beast::tcp_stream stream, std::shared_ptr<Shared> shared, std::string remote_address)
      : ws_(std::move(stream)),
        shared_(std::move(shared)),
        callbacks_(net::make_strand(shared_->workers)),
        remote_address_(std::move(remote_address)) {
    ++shared_->connections;  // `websockets` was counted by the HTTP session at the handshake
  }
  ~WsSession() {
    --shared_->connections;
    {
      std::lock_guard lock(shared_->websockets_mu);
      --shared_->websockets;
    }
    shared_->websockets_gone.notify_all();
  }

  void Run(bhttp::request<bhttp::string_body> request) {
    upgrade_ = std::move(request);
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = shared_->options.read_timeout;
    timeouts.idle_timeout = std::chrono::seconds(60);
    timeouts.keep_alive_pings = true;  // a peer that vanished is found within the idle timeout
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(bhttp::field::server, "tally"); }));
    ws_.read_message_max(shared_->websocket.max_message_bytes);
    ws_.async_accept(upgrade_,
                     [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
  }

  // On the connection's strand.
  void Enqueue(std::string text) {
    if (ended_ || close_after_) {
      --handle_->queued;
      return;
    }
    queue_.push_back(std::move(text));
    if (!writing_) Write();
  }
  void RequestClose(websocket::close_reason reason) {
    if (ended_ || close_after_) return;
    close_after_ = std::move(reason);
    if (!writing_) SendClose();
  }
  void Drop() {
    End();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }
  net::any_io_executor executor() { return ws_.get_executor(); }

 private:
  void OnAccept(beast::error_code ec) {
    upgrade_ = {};
    if (ec) return;  // never opened: the handler hears nothing
    handle_ = std::make_shared<WsHandle>(weak_from_this(), remote_address_,
                                         shared_->websocket.max_queued_messages);
    {
      std::lock_guard lock(shared_->websockets_mu);
      shared_->open_websockets[this] = weak_from_this();
    }
    Callback([](WebSocketHandler& h, const std::shared_ptr<WsHandle>& c) { h.OnOpen(c); });
    Read();
  }

  void Read() {
    ws_.async_read(buffer_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) return Drop();
    if (ws_.got_text()) {
      Callback(
          [text = beast::buffers_to_string(buffer_.data())](
              WebSocketHandler& h, const std::shared_ptr<WsHandle>& c) { h.OnMessage(c, text); });
    }
    buffer_.consume(buffer_.size());
    Read();
  }

  void Write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(
        net::buffer(queue_.front()),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    queue_.pop_front();
    --handle_->queued;
    if (ended_) return;
    if (ec) return Drop();
    if (!queue_.empty()) return Write();
    if (close_after_) SendClose();
  }

  void SendClose() {
    writing_ = true;  // nothing more is written after the close frame
    ws_.async_close(*close_after_, [self = shared_from_this()](beast::error_code) {
      // The pending read ends when the peer answers (or the close times out).
      self->End();
    });
  }

  // The connection is over for the handler: OnClose, once.
  void End() {
    if (ended_) return;
    ended_ = true;
    handle_->ended = true;
    // The message being written stays until its write completes (its buffer is in use).
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queue_.pop_back();
      --handle_->queued;
    }
    {
      std::lock_guard lock(shared_->websockets_mu);
      shared_->open_websockets.erase(this);
    }
    Callback([](WebSocketHandler& h, const std::shared_ptr<WsHandle>& c) { h.OnClose(c); });
  }

  template <typename F>
  void Callback(F f) {
    net::post(callbacks_, [shared = shared_, handle = handle_, f = std::move(f)] {
      try {
        f(*shared->websocket.handler, handle);
      } catch (const std::exception& e) {
        spdlog::error("http: websocket handler failed error=\"{}\"", e.what());
      }
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Shared> shared_;
  net::strand<net::io_context::executor_type> callbacks_;
  const std::string remote_address_;
  bhttp::request<bhttp::string_body> upgrade_;
  std::shared_ptr<WsHandle> handle_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool ended_ = false;
  std::optional<websocket::close_reason> close_after_;
};

bool WsHandle::Send(std::string text) {
  if (ended) return false;
  std::shared_ptr<WsSession> session = session_.lock();
  if (!session) return false;
  if (queued.fetch_add(1) >= max_queued_) {
    --queued;
    ended = true;
    spdlog::warn("http: websocket client {} dropped: {} messages unread", remote_address_,
                 max_queued_);
    net::post(session->executor(), [session] { session->Drop(); });
    return false;
  }
  net::post(session->executor(),
            [session, text = std::move(text)]() mutable { session->Enqueue(std::move(text)); });
  return true;
}

void WsHandle::Close(int code, std::string reason) {
  std::shared_ptr<WsSession> session = session_.lock();
  if (!session || ended) return;
  websocket::close_reason why(static_cast<websocket::close_code>(code));
  why.reason = std::move(reason);
  net::post(session->executor(), [session, why] { session->RequestClose(why); });
}

void Session::Upgrade() {
  if (shared_->stopping) {
    return Reply(JsonError(503, "shutting_down", "the server is shutting down; retry"), false);
  }
  if (shared_->websockets.fetch_add(1) >= shared_->websocket.max_connections) {
    --shared_->websockets;
    return Reply(JsonError(503, "too_many_connections",
                           absl::StrCat("at most ", shared_->websocket.max_connections,
                                        " live connections; retry later")),
                 false);
  }
  beast::error_code ignored;
  auto endpoint = stream_.socket().remote_endpoint(ignored);
  std::string remote = ignored ? "" : endpoint.address().to_string();
  stream_.expires_never();  // the WebSocket stream keeps its own timeouts
  std::make_shared<WsSession>(std::move(stream_), shared_, std::move(remote))
      ->Run(parser_->release());
}

class BeastServer final : public Server {
 public:
  BeastServer(ServerOptions options, Handler handler, NonBlockingHandler fast_path,
              WebSocketRoute websocket)
      : shared_(std::make_shared<Shared>(std::move(options), std::move(handler),
                                         std::move(fast_path), std::move(websocket))),
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
    CloseWebSockets();
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
  // Says goodbye (1001) to every WebSocket client and waits, at most a second, for them to go.
  void CloseWebSockets() {
    std::vector<std::shared_ptr<WsSession>> open;
    {
      std::lock_guard lock(shared_->websockets_mu);
      for (auto& [key, weak] : shared_->open_websockets) {
        if (auto session = weak.lock()) open.push_back(std::move(session));
      }
    }
    for (auto& session : open) {
      net::post(session->executor(), [session] {
        session->RequestClose(websocket::close_reason(websocket::close_code::going_away));
      });
    }
    open.clear();
    std::unique_lock lock(shared_->websockets_mu);
    shared_->websockets_gone.wait_for(lock, std::chrono::seconds(1),
                                      [this] { return shared_->websockets == 0; });
  }

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
                                                      NonBlockingHandler fast_path,
                                                      WebSocketRoute websocket) {
  auto server = std::make_unique<BeastServer>(std::move(options), std::move(handler),
                                              std::move(fast_path), std::move(websocket));
  if (absl::Status status = server->Listen(); !status.ok()) return status;
  return server;
}

}  // namespace tally::http
