#pragma once
// Paces calls per key (a bot, a chat): at most `per_second` calls per key per second, spaced
// evenly, so a backlog after an outage drains at the service's limit instead of bursting.
// Reserve returns when the caller may call. Thread-safe; keys are forgotten once idle.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace tally::reactors {

class Pacer {
 public:
  explicit Pacer(double per_second);
  // The wait before a call for `key` may be made, reserving that slot.
  std::chrono::microseconds Reserve(const std::string& key);
  // Reserve, then sleep until the slot.
  void Wait(const std::string& key);

 private:
  const int64_t spacing_us_;
  std::mutex mu_;
  std::map<std::string, int64_t> next_us_;  // steady-clock micros of each key's next slot
};

}  // namespace tally::reactors
