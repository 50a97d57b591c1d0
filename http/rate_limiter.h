#pragma once
// Per-key rate limit for the /v1/ API: a token bucket per API key, refilled at `per_second`
// requests a second up to `burst`. A request over the limit is answered 429 rate_limited with
// `Retry-After` (whole seconds until a token is back). Keyed by the SHA-256 of the presented
// bearer token, so unknown keys are limited too (each costs a database look-up) and the key
// itself is kept nowhere. At most `max_keys` buckets are kept; past that, buckets that have
// refilled completely (indistinguishable from new ones) are dropped. Thread-safe.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "http/message.h"
#include "ledger/clock.h"

namespace tally::http {

struct RateLimit {
  double per_second = 100;  // 0: no limit
  double burst = 200;
  size_t max_keys = 100'000;
};

class RateLimiter {
 public:
  RateLimiter(RateLimit limit, const ledger::Clock& clock);

  // nullopt when `request` may proceed (it has no bearer token, or its key has a token left);
  // otherwise the 429 to answer.
  std::optional<HttpResponse> Admit(const HttpRequest& request);

  // Whether a request with a key hashed to `key_hash` may proceed now; otherwise the seconds to
  // wait (at least 1).
  std::optional<int64_t> Take(const std::string& key_hash);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_us = 0;
  };
  void DropFullBuckets(int64_t now_us);

  const RateLimit limit_;
  const ledger::Clock& clock_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
};

}  // namespace tally::http
