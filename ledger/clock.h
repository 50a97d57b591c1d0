#pragma once
// Time as the ledger sees it. Injected wherever time matters so tests can control it.
// Implementations must be thread-safe.

#include <chrono>
#include <cstdint>

namespace tally::ledger {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch.
  virtual int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace tally::ledger
