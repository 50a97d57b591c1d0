#pragma once
// The production transport of gateway API calls (gateways/gateway.h): the outbound HTTP
// client, with a per-call deadline. Thread-safe as the client is.

#include <chrono>

#include "gateways/gateway.h"
#include "http/client.h"

namespace tally::http {

// `client` must outlive the returned transport.
gateways::Transport GatewayTransport(HttpClient& client, std::chrono::milliseconds timeout);

}  // namespace tally::http
