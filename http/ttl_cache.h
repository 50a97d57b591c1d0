#pragma once
// A small map whose entries expire a fixed time after they were put: what the HTTP endpoints
// keep of things they resolved through the log (a tenant's credentials by webhook token, an
// API key's tenant, a bot), so that a burst of requests costs one lookup, and a change (a
// reconfigured gateway, a new secret) applies within the TTL. Thread-safe. When it holds
// `max_entries`, it is emptied rather than grown (entries are cheap to resolve again).

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace tally::http {

template <class Value>
class TtlCache {
 public:
  explicit TtlCache(int64_t ttl_us, size_t max_entries = 100000)
      : ttl_us_(ttl_us), max_entries_(max_entries) {}

  std::optional<Value> Get(const std::string& key, int64_t now_us) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires_us <= now_us) return std::nullopt;
    return it->second.value;
  }

  void Put(const std::string& key, Value value, int64_t now_us) {
    std::lock_guard lock(mu_);
    if (entries_.size() >= max_entries_) entries_.clear();
    entries_[key] = Entry{std::move(value), now_us + ttl_us_};
  }

 private:
  struct Entry {
    Value value;
    int64_t expires_us;
  };
  const int64_t ttl_us_;
  const size_t max_entries_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tally::http
