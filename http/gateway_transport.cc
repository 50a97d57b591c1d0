#include "http/gateway_transport.h"

#include <algorithm>

#include "absl/strings/numbers.h"

namespace tally::http {

gateways::Transport GatewayTransport(HttpClient& client, std::chrono::milliseconds timeout) {
  return [&client,
          timeout](const gateways::ApiRequest& request) -> absl::StatusOr<gateways::ApiResponse> {
    ClientRequest out{request.method, request.url, request.headers,
                      request.body,   timeout,     request.description};
    absl::StatusOr<ClientResponse> response = client.Send(out);
    if (!response.ok()) return response.status();
    int64_t retry_after_s = 0;
    // Retry-After as delta-seconds; the HTTP-date form is left to the caller's default.
    if (!absl::SimpleAtoi(response->Header("retry-after"), &retry_after_s) || retry_after_s < 0) {
      retry_after_s = 0;
    }
    // A gateway's word, bounded: a huge value must not stop an account for years.
    retry_after_s = std::min<int64_t>(retry_after_s, 15 * 60);
    return gateways::ApiResponse{response->status, std::move(response->body), retry_after_s};
  };
}

}  // namespace tally::http
