#include "http/gateway_transport.h"

namespace tally::http {

gateways::Transport GatewayTransport(HttpClient& client, std::chrono::milliseconds timeout) {
  return [&client,
          timeout](const gateways::ApiRequest& request) -> absl::StatusOr<gateways::ApiResponse> {
    ClientRequest out{request.method, request.url, request.headers,
                      request.body,   timeout,     request.description};
    absl::StatusOr<ClientResponse> response = client.Send(out);
    if (!response.ok()) return response.status();
    return gateways::ApiResponse{response->status, std::move(response->body)};
  };
}

}  // namespace tally::http
