#include "tests/support/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>

namespace tally::testing {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpReply Exchange(int port, bhttp::request<bhttp::string_body> request) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  HttpReply reply;
  beast::error_code ec;
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
                 ec);
  if (ec) return reply;  // refused: status 0
  request.set(bhttp::field::host, "127.0.0.1");
  request.prepare_payload();
  bhttp::write(stream, request, ec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(16 << 20);
  bhttp::read(stream, buffer, parser, ec);
  if (ec) return reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = parser.get().body();
  for (const auto& field : parser.get()) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return reply;
}

}  // namespace

HttpReply HttpPost(int port, const std::string& target, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> request(bhttp::verb::post, target, 11);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  return Exchange(port, std::move(request));
}

std::string HttpReply::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (boost::beast::iequals(n, name)) return v;
  }
  return "";
}

HttpReply HttpFetch(int port, const std::string& method, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    const std::string& body) {
  bhttp::request<bhttp::string_body> request(bhttp::string_to_verb(method), target, 11);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  return Exchange(port, std::move(request));
}

HttpReply HttpGet(int port, const std::string& target) {
  return Exchange(port, bhttp::request<bhttp::string_body>(bhttp::verb::get, target, 11));
}

std::pair<std::string, bool> RawExchange(int port, const std::string& bytes, int wait_ms) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  net::write(socket, net::buffer(bytes));
  std::string received;
  bool closed = false;
  char buffer[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  socket.non_blocking(true);
  while (std::chrono::steady_clock::now() < deadline) {
    beast::error_code ec;
    const size_t n = socket.read_some(net::buffer(buffer), ec);
    if (ec == net::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (ec) {
      closed = true;
      break;
    }
    received.append(buffer, n);
  }
  return {received, closed};
}

}  // namespace tally::testing
