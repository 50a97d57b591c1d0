#include "http/api_auth.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateways/webhook_crypto.h"

namespace tally::http {

ApiKeyAuthenticator::ApiKeyAuthenticator(ledger::EventStore& store, const ledger::Clock& clock)
    : store_(store), clock_(clock) {}

ApiKeyAuthenticator::Result ApiKeyAuthenticator::Authenticate(
    const HttpRequest& request, const std::vector<std::string>& scopes) {
  const std::string authorization = HeaderValue(request, "authorization");
  if (!absl::StartsWithIgnoreCase(authorization, "Bearer ") || authorization.size() > 300) {
    return {std::nullopt,
            JsonError(401, "unauthorized", "Authorization: Bearer <API key> required")};
  }
  const std::string api_key = authorization.substr(7);
  // Cached by the key's hash: the key itself is kept nowhere.
  const std::string cache_key = gateways::Sha256Hex(api_key);
  std::optional<tenants::ApiPrincipal> principal = principals_.Get(cache_key, clock_.NowMicros());
  if (!principal.has_value()) {
    auto resolved = tenants::ResolveApiKey(store_, api_key);
    if (!resolved.ok()) {
      if (resolved.status().code() == absl::StatusCode::kNotFound) {
        return {std::nullopt, JsonError(401, "unauthorized", "unknown API key")};
      }
      return {std::nullopt, JsonError(503, "database_unavailable", "try again")};
    }
    principals_.Put(cache_key, *resolved, clock_.NowMicros());
    principal = *std::move(resolved);
  }
  if (std::find(scopes.begin(), scopes.end(), principal->scope) == scopes.end()) {
    return {std::nullopt, JsonError(403, "forbidden",
                                    absl::StrCat("this endpoint needs a key of scope ",
                                                 absl::StrJoin(scopes, " or "),
                                                 "; this key's scope is ", principal->scope))};
  }
  return {std::move(principal), {}};
}

}  // namespace tally::http
