#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateways/webhook_crypto.h"

namespace tally::http {

RateLimiter::RateLimiter(RateLimit limit, const ledger::Clock& clock)
    : limit_(limit), clock_(clock) {}

std::optional<HttpResponse> RateLimiter::Admit(const HttpRequest& request) {
  if (limit_.per_second <= 0) return std::nullopt;
  const std::string authorization = HeaderValue(request, "authorization");
  if (!absl::StartsWithIgnoreCase(authorization, "Bearer ") || authorization.size() > 300) {
    return std::nullopt;  // refused as unauthorized by the endpoint
  }
  std::optional<int64_t> wait = Take(gateways::Sha256Hex(authorization.substr(7)));
  if (!wait.has_value()) return std::nullopt;
  HttpResponse response =
      JsonError(429, "rate_limited",
                absl::StrCat("more than ", limit_.per_second,
                             " requests a second with this API key; retry in ", *wait, " s"));
  response.headers.push_back({"Retry-After", std::to_string(*wait)});
  return response;
}

std::optional<int64_t> RateLimiter::Take(const std::string& key_hash) {
  const int64_t now = clock_.NowMicros();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(key_hash);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_keys) DropFullBuckets(now);
    it = buckets_.emplace(key_hash, Bucket{limit_.burst, now}).first;
  }
  Bucket& bucket = it->second;
  const double elapsed_s = std::max<int64_t>(0, now - bucket.updated_us) / 1e6;
  bucket.tokens = std::min(limit_.burst, bucket.tokens + elapsed_s * limit_.per_second);
  bucket.updated_us = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil((1 - bucket.tokens) / limit_.per_second)));
}

void RateLimiter::DropFullBuckets(int64_t now_us) {
  absl::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return b.tokens + (now_us - b.updated_us) / 1e6 * limit_.per_second >= limit_.burst;
  });
  // Still full of active keys: drop them all rather than grow without bound (their owners
  // regain a full burst, which is the lesser harm).
  if (buckets_.size() >= limit_.max_keys) buckets_.clear();
}

}  // namespace tally::http
