#pragma once
// API keys on HTTP requests: `Authorization: Bearer <key>`, resolved through the log
// (tenants::ResolveApiKey) and kept for a few seconds, then checked against the scopes an
// endpoint admits ("owner", "admin"; tenants/tenant_directory.h). Refusals are JSON errors:
// 401 unauthorized (no key, or an unknown one), 403 forbidden (a key of another scope), 503
// database_unavailable. Blocks on the database: call it from a worker thread. Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "http/message.h"
#include "http/ttl_cache.h"
#include "ledger/clock.h"
#include "ledger/event_store.h"
#include "tenants/tenant_directory.h"

namespace tally::http {

class ApiKeyAuthenticator {
 public:
  ApiKeyAuthenticator(ledger::EventStore& store, const ledger::Clock& clock);

  struct Result {
    std::optional<tenants::ApiPrincipal> principal;  // set when admitted
    HttpResponse refusal;                            // otherwise
  };
  // Admits the request's key when its scope is one of `scopes`.
  Result Authenticate(const HttpRequest& request, const std::vector<std::string>& scopes);

 private:
  ledger::EventStore& store_;
  const ledger::Clock& clock_;
  TtlCache<tenants::ApiPrincipal> principals_{5 * 1000000};
};

}  // namespace tally::http
