#pragma once
// Driving the sandbox (sandbox/) from tests through its HTTP control API, as the demo
// does: accounts, faults, charge actions, and waiting for its deliveries to finish.

#include <string>

#include "http/client.h"
#include "sandbox/sandbox.h"

namespace tally::testing {

// POSTs JSON `body` to the sandbox's `path` (e.g. "/sandbox/faults"); REQUIREs an answer.
http::ClientResponse SandboxPost(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                                 const std::string& path, const std::string& body);

// GETs the sandbox's `path` (e.g. "/sandbox/polls?x=y"); REQUIREs an answer.
http::ClientResponse SandboxGet(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                                const std::string& path);

// Registers an account the simulated `service` accepts; REQUIREs 200.
void SandboxAccount(http::HttpClient& client, const sandbox::Sandbox& sandbox,
                    const std::string& service, const std::string& api_key,
                    const std::string& webhook_secret, const std::string& webhook_url);

// Waits (at most 10 s) until the sandbox has no delivery or late answer pending; REQUIREs it.
void SandboxDrain(const sandbox::Sandbox& sandbox);

}  // namespace tally::testing
