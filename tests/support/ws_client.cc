#include "tests/support/ws_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace tally::testing {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}
WsClient::~WsClient() = default;

std::unique_ptr<WsClient> WsClient::Connect(int port, const std::string& path) {
  std::unique_ptr<WsClient> client(new WsClient());
  beast::error_code ec;
  auto& ws = client->impl_->ws;
  ws.next_layer().connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (ec) return nullptr;
  ws.handshake("127.0.0.1", path, ec);
  if (ec) return nullptr;
  return client;
}

int WsClient::HandshakeStatus(int port, const std::string& path) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
                 ec);
  if (ec) return -1;
  http::request<http::empty_body> request{http::verb::get, path, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::upgrade, "websocket");
  request.set(http::field::connection, "upgrade");
  request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  request.set(http::field::sec_websocket_version, "13");
  http::write(socket, request, ec);
  if (ec) return -1;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  http::read_header(socket, buffer, parser, ec);
  if (ec) return -1;
  return parser.get().result_int();
}

void WsClient::Send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

std::optional<std::string> WsClient::Read() {
  beast::error_code ec;
  impl_->buffer.consume(impl_->buffer.size());
  impl_->ws.read(impl_->buffer, ec);
  if (ec) {
    close_code_ = ec == websocket::error::closed ? impl_->ws.reason().code : 0;
    return std::nullopt;
  }
  return beast::buffers_to_string(impl_->buffer.data());
}

void WsClient::Close() {
  beast::error_code ignored;
  impl_->ws.close(websocket::close_code::normal, ignored);
}

}  // namespace tally::testing
