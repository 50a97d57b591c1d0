// The outbound client against real loopback servers: keep-alive reuse, deadlines, a reused
// connection the server closed, answer size limit, TLS peer and host name verification.

#include "http/client.h"

#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "http/server.h"
#include "tests/support/tls_fixture.h"

namespace tally::http {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Server> StartServer(Handler handler) {
  ServerOptions options;
  options.port = 0;
  auto server = Server::Start(options, std::move(handler));
  REQUIRE(server.ok());
  return std::move(*server);
}

std::string Local(uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

TEST_CASE("ParseUrl takes absolute http(s) URLs apart and refuses the rest") {
  auto url = ParseUrl("https://API.Stripe.com/v1/payment_intents?limit=3#x");
  REQUIRE(url.ok());
  CHECK(url->tls);
  CHECK(url->host == "api.stripe.com");
  CHECK(url->port == "443");
  CHECK(url->target == "/v1/payment_intents?limit=3");
  url = ParseUrl("http://127.0.0.1:8081");
  REQUIRE(url.ok());
  CHECK(url->port == "8081");
  CHECK(url->target == "/");
  url = ParseUrl("http://[::1]:9000/x");
  REQUIRE(url.ok());
  CHECK(url->host == "::1");
  CHECK(url->port == "9000");
  CHECK(ParseUrl("ftp://example.com/").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(!ParseUrl("http://:80/").ok());
  CHECK(!ParseUrl("http://host:99999/").ok());
  CHECK(!ParseUrl("http://user:pw@host/").ok());
  CHECK(RedactUrl("https://api.atomopay.com.br/v1/t?api_token=SECRET") ==
        "https://api.atomopay.com.br/v1/t");
}

TEST_CASE("keep-alive connections are reused, and request fields reach the server") {
  HttpRequest seen;
  auto server = StartServer([&](const HttpRequest& request, Responder respond) {
    seen = request;
    respond(HttpResponse{201, "application/json", R"({"ok":true})"});
  });
  HttpClient client;
  for (int i = 0; i < 3; ++i) {
    ClientRequest request;
    request.method = "POST";
    request.url = Local(server->port(), "/v1/payments?x=1");
    request.headers = {{"Authorization", "Bearer k"}, {"Content-Type", "application/json"}};
    request.body = R"({"amount":1990})";
    auto response = client.Send(request);
    REQUIRE(response.ok());
    CHECK(response->status == 201);
    CHECK(response->body == R"({"ok":true})");
    CHECK(response->Header("content-type") == "application/json");
  }
  CHECK(client.connections_opened() == 1);
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/v1/payments?x=1");
  CHECK(seen.body == R"({"amount":1990})");
  server->Stop();
}

TEST_CASE("a server that does not answer in time fails the call with DeadlineExceeded") {
  std::vector<std::thread> late;
  auto server = StartServer([&](const HttpRequest&, Responder respond) {
    late.emplace_back([respond] {
      std::this_thread::sleep_for(600ms);
      respond(HttpResponse{200, "text/plain", "late"});
    });
  });
  HttpClient client;
  ClientRequest request;
  request.url = Local(server->port(), "/slow");
  request.timeout = 150ms;
  const auto start = std::chrono::steady_clock::now();
  auto response = client.Send(request);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(response.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(elapsed < 550ms);
  for (auto& t : late) t.join();
  server->Stop();
}

TEST_CASE("connection refused is Unavailable and names the URL without its query") {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor probe(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = probe.local_endpoint().port();
  probe.close();  // nothing listens there now
  HttpClient client;
  auto response = client.Send({"GET", Local(port, "/x?api_token=SECRET"), {}, "", 1000ms});
  CHECK(response.status().code() == absl::StatusCode::kUnavailable);
  CHECK(response.status().message().find("SECRET") == std::string::npos);
  CHECK(response.status().message().find("/x") != std::string::npos);
  // A URL whose path carries a secret is named by its description instead.
  auto described = client.Send(
      {"POST", Local(port, "/bot123:SECRET/setWebhook"), {}, "", 1000ms, "Telegram setWebhook"});
  CHECK(described.status().code() == absl::StatusCode::kUnavailable);
  CHECK(described.status().message().find("SECRET") == std::string::npos);
  CHECK(described.status().message().find("Telegram setWebhook") != std::string::npos);
}

// A server that answers each connection's first request with keep-alive, then closes it: the
// client's pooled connection is stale on its next use.
TEST_CASE("a pooled connection the server closed is retried once on a fresh one") {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  std::thread server([&] {
    for (int i = 0; i < 2; ++i) {
      net::ip::tcp::socket socket(ioc);
      acceptor.accept(socket);
      net::streambuf buffer;
      net::read_until(socket, buffer, "\r\n\r\n");
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
      net::write(socket, net::buffer(answer));
      socket.close();
    }
  });
  HttpClient client;
  auto first = client.Send({"GET", Local(port, "/a"), {}, "", 2000ms});
  REQUIRE(first.ok());
  auto second = client.Send({"GET", Local(port, "/b"), {}, "", 2000ms});
  REQUIRE(second.ok());
  CHECK(second->body == "ok");
  CHECK(client.connections_opened() == 2);
  server.join();
}

TEST_CASE("an answer over the size limit is ResourceExhausted") {
  auto server = StartServer([&](const HttpRequest&, Responder respond) {
    respond(HttpResponse{200, "text/plain", std::string(5000, 'x')});
  });
  ClientOptions options;
  options.max_response_bytes = 4096;
  HttpClient client(options);
  auto response = client.Send({"GET", Local(server->port(), "/big"), {}, "", 2000ms});
  CHECK(response.status().code() == absl::StatusCode::kResourceExhausted);
  server->Stop();
}

TEST_CASE("TLS: the peer is verified by default, against the trust store and the host name") {
  testing::SelfSignedCertificate certificate("localhost");
  testing::TlsTestServer server(certificate);
  const std::string by_name = "https://localhost:" + std::to_string(server.port()) + "/";
  const std::string by_address = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  {
    HttpClient client;  // system trust store only: our self-signed certificate is unknown
    auto response = client.Send({"GET", by_name, {}, "", 3000ms});
    REQUIRE(!response.ok());
    CHECK(response.status().code() == absl::StatusCode::kUnavailable);
    CHECK(response.status().message().find("certificate verify failed") != std::string::npos);
  }
  {
    ClientOptions options;
    options.ca_file = certificate.cert_file();
    HttpClient client(options);
    auto response = client.Send({"GET", by_name, {}, "", 3000ms});
    REQUIRE(response.ok());
    CHECK(response->body == "tls ok");
    auto again = client.Send({"GET", by_name, {}, "", 3000ms});
    REQUIRE(again.ok());
    CHECK(client.connections_opened() == 1);
    // Trusted certificate, wrong name: 127.0.0.1 is not "localhost".
    auto mismatch = client.Send({"GET", by_address, {}, "", 3000ms});
    REQUIRE(!mismatch.ok());
    CHECK(mismatch.status().message().find("TLS handshake") != std::string::npos);
  }
  CHECK(server.handshakes_completed() == 1);
}

}  // namespace
}  // namespace tally::http
