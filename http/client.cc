#include "http/client.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

enum class StepResult { kDone, kTimedOut };

// One connection with its own io_context: a call runs that context on the caller's thread
// until the step completes or the deadline passes, so a blocking API gets real timeouts.
struct Connection {
  std::string key;
  net::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void Close() {
    beast::error_code ignored;
    lowest().socket().close(ignored);
  }

  // Starts one asynchronous operation, `start(done)`, whose completion handler must call
  // done(); runs the context until it has or `deadline` passes. On the deadline the socket is
  // closed (cancelling the operation) and the aborted handler is drained, so nothing outlives
  // the call.
  template <class Start>
  StepResult RunStep(Clock::time_point deadline, Start start,
                     net::ip::tcp::resolver* resolver = nullptr) {
    bool completed = false;
    start([&completed] { completed = true; });
    ioc.restart();
    ioc.run_until(deadline);
    if (completed) return StepResult::kDone;
    if (resolver) resolver->cancel();
    Close();
    ioc.restart();
    ioc.run();
    return StepResult::kTimedOut;
  }
};

// What one request/answer exchange on a connection produced.
struct Exchanged {
  // The answer, or why none was read.
  absl::StatusOr<ClientResponse> response;
  // The server had closed the connection before any byte of an answer: safe to send again on
  // a fresh one.
  bool stale = false;
  // The server keeps the connection open for another request.
  bool keep_alive = false;
};

bool IsStaleConnectionError(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == ssl::error::stream_truncated;
}

}  // namespace

std::string ClientResponse::Header(absl::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return "";
}

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  Url out;
  absl::string_view rest;
  if (absl::StartsWithIgnoreCase(url, "https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (absl::StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not an http(s) URL: ", std::string(RedactUrl(url))));
  }
  const size_t slash = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, slash);
  out.target = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (!out.target.empty() && out.target[0] != '/') out.target = "/" + out.target;
  const size_t hash = out.target.find('#');
  if (hash != std::string::npos) out.target.resize(hash);
  if (authority.find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError("credentials in URLs are not accepted");
  }
  absl::string_view host = authority;
  absl::string_view port;
  if (!authority.empty() && authority[0] == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else if (const size_t colon = authority.rfind(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty()) return absl::InvalidArgumentError("URL without a host");
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 || port_number > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in URL: ", std::string(port)));
  }
  out.host = absl::AsciiStrToLower(host);
  out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
  return out;
}

std::string RedactUrl(absl::string_view url) {
  return std::string(url.substr(0, url.find_first_of("?#")));
}

struct HttpClient::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)), tls_context(ssl::context::tls_client) {
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1);
    tls_context.set_default_verify_paths();
    if (!options.ca_file.empty()) {
      beast::error_code ec;
      tls_context.load_verify_file(options.ca_file, ec);
      ca_error =
          ec ? absl::StrCat("cannot load ca_file ", options.ca_file, ": ", ec.message()) : "";
    }
    tls_context.set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    std::unique_ptr<Connection> c = std::move(it->second.back());
    it->second.pop_back();
    return c;
  }

  void GiveBack(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu);
    auto& list = idle[c->key];
    if (list.size() >= options.max_idle_per_host) {
      // Keep the newest: close the oldest.
      list.front()->Close();
      list.pop_front();
    }
    list.push_back(std::move(c));
  }

  absl::StatusOr<std::unique_ptr<Connection>> Open(const Url& url, const std::string& key,
                                                   Clock::time_point deadline,
                                                   const std::string& where) {
    auto c = std::make_unique<Connection>();
    c->key = key;
    if (url.tls) {
      c->tls.emplace(c->ioc, tls_context);
    } else {
      c->plain.emplace(c->ioc);
    }
    ++opened;
    tcp::resolver resolver(c->ioc);
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    if (c->RunStep(
            deadline,
            [&](auto done) {
              resolver.async_resolve(url.host, url.port,
                                     [&, done](beast::error_code e, tcp::resolver::results_type r) {
                                       ec = e;
                                       endpoints = std::move(r);
                                       done();
                                     });
            },
            &resolver) == StepResult::kTimedOut) {
      return absl::DeadlineExceededError(absl::StrCat(where, ": timed out resolving"));
    }
    if (ec) return absl::UnavailableError(absl::StrCat(where, ": resolve: ", ec.message()));
    if (c->RunStep(deadline, [&](auto done) {
          c->lowest().async_connect(endpoints,
                                    [&, done](beast::error_code e, const tcp::endpoint&) {
                                      ec = e;
                                      done();
                                    });
        }) == StepResult::kTimedOut) {
      return absl::DeadlineExceededError(absl::StrCat(where, ": timed out connecting"));
    }
    if (ec) return absl::UnavailableError(absl::StrCat(where, ": connect: ", ec.message()));
    beast::error_code nodelay_ec;
    c->lowest().socket().set_option(tcp::no_delay(true), nodelay_ec);
    if (url.tls) {
      if (!ca_error.empty()) return absl::FailedPreconditionError(ca_error);
      if (!SSL_set_tlsext_host_name(c->tls->native_handle(), url.host.c_str())) {
        return absl::InternalError(absl::StrCat(where, ": cannot set SNI"));
      }
      if (options.verify_peer) c->tls->set_verify_callback(ssl::host_name_verification(url.host));
      if (c->RunStep(deadline, [&](auto done) {
            c->tls->async_handshake(ssl::stream_base::client, [&, done](beast::error_code e) {
              ec = e;
              done();
            });
          }) == StepResult::kTimedOut) {
        return absl::DeadlineExceededError(absl::StrCat(where, ": timed out in TLS handshake"));
      }
      if (ec) {
        return absl::UnavailableError(absl::StrCat(where, ": TLS handshake: ", ec.message()));
      }
    }
    return c;
  }

  // One exchange on `c`.
  Exchanged Exchange(Connection& c, const bhttp::request<bhttp::string_body>& req,
                     Clock::time_point deadline, const std::string& where) {
    beast::error_code ec;
    auto write = [&](auto step_done) {
      auto done = [&, step_done](beast::error_code e, size_t) {
        ec = e;
        step_done();
      };
      if (c.tls) {
        bhttp::async_write(*c.tls, req, done);
      } else {
        bhttp::async_write(*c.plain, req, done);
      }
    };
    if (c.RunStep(deadline, write) == StepResult::kTimedOut) {
      return {absl::DeadlineExceededError(absl::StrCat(where, ": timed out sending"))};
    }
    if (ec) {
      return {absl::UnavailableError(absl::StrCat(where, ": send: ", ec.message())),
              /*stale=*/IsStaleConnectionError(ec)};
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    parser.header_limit(64 << 10);
    // Header first: Beast 1.74 loses the body_limit error when the header and an oversized
    // Content-Length body arrive in one buffer (the eager full-message read), so the declared
    // length is checked here, before any of the body is read.
    bool header_only = true;
    auto read = [&](auto step_done) {
      auto done = [&, step_done](beast::error_code e, size_t) {
        ec = e;
        step_done();
      };
      if (c.tls) {
        if (header_only) {
          bhttp::async_read_header(*c.tls, c.buffer, parser, done);
        } else {
          bhttp::async_read(*c.tls, c.buffer, parser, done);
        }
      } else if (header_only) {
        bhttp::async_read_header(*c.plain, c.buffer, parser, done);
      } else {
        bhttp::async_read(*c.plain, c.buffer, parser, done);
      }
    };
    const auto too_large = [&] {
      return absl::ResourceExhaustedError(
          absl::StrCat(where, ": answer larger than ", options.max_response_bytes, " bytes"));
    };
    for (;; header_only = false) {
      if (c.RunStep(deadline, read) == StepResult::kTimedOut) {
        return {
            absl::DeadlineExceededError(absl::StrCat(where, ": timed out waiting for the answer"))};
      }
      if (ec == bhttp::error::body_limit) return {too_large()};
      if (ec) {
        return {absl::UnavailableError(absl::StrCat(where, ": receive: ", ec.message())),
                /*stale=*/!parser.got_some() && IsStaleConnectionError(ec)};
      }
      if (!header_only || parser.is_done()) break;
      if (parser.content_length() && *parser.content_length() > options.max_response_bytes) {
        return {too_large()};
      }
    }
    if (parser.get().body().size() > options.max_response_bytes) return {too_large()};
    auto& res = parser.get();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string())),
                               std::string(field.value()));
    }
    out.body = std::move(res.body());
    return {std::move(out), /*stale=*/false, /*keep_alive=*/res.keep_alive()};
  }

  ClientOptions options;
  ssl::context tls_context;
  std::string ca_error;
  std::mutex mu;
  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle;
  std::atomic<uint64_t> opened{0};
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

uint64_t HttpClient::connections_opened() const { return impl_->opened.load(); }

absl::StatusOr<ClientResponse> HttpClient::Send(const ClientRequest& request) {
  absl::StatusOr<Url> url = ParseUrl(request.url);
  if (!url.ok()) {
    if (request.description.empty()) return url.status();
    return absl::InvalidArgumentError(absl::StrCat(request.description, ": not an http(s) URL"));
  }
  const std::string where = request.description.empty()
                                ? absl::StrCat(request.method, " ", RedactUrl(request.url))
                                : request.description;
  const auto timeout = request.timeout.count() > 0 ? request.timeout : impl_->options.timeout;
  const Clock::time_point deadline = Clock::now() + timeout;

  bhttp::request<bhttp::string_body> req;
  const bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown method ", request.method));
  }
  req.method(verb);
  req.target(url->target);
  req.version(11);
  const bool default_port = url->port == (url->tls ? "443" : "80");
  req.set(bhttp::field::host, default_port ? url->host : absl::StrCat(url->host, ":", url->port));
  req.set(bhttp::field::user_agent, impl_->options.user_agent);
  req.keep_alive(true);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  req.prepare_payload();

  const std::string key =
      absl::StrCat(url->tls ? "https://" : "http://", url->host, ":", url->port);
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> c = attempt == 0 ? impl_->TakeIdle(key) : nullptr;
    const bool reused = c != nullptr;
    if (!c) {
      auto opened = impl_->Open(*url, key, deadline, where);
      if (!opened.ok()) return opened.status();
      c = std::move(*opened);
    }
    Exchanged exchanged = impl_->Exchange(*c, req, deadline, where);
    if (exchanged.response.ok()) {
      if (exchanged.keep_alive) {
        impl_->GiveBack(std::move(c));
      } else {
        c->Close();
      }
      return std::move(exchanged.response);
    }
    c->Close();
    if (!(reused && exchanged.stale)) return exchanged.response.status();
  }
  return absl::InternalError("unreachable");
}

}  // namespace tally::http
