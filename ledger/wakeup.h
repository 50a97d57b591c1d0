#pragma once
// Sleeping until a socket is readable, a timeout passes, or another thread says stop: what the
// log follower (ledger/log_follower.h) does between batches. Wait is called by the owning
// thread; Notify from any thread. A notification persists until Reset.

#include <chrono>

namespace tally::ledger {

class Wakeup {
 public:
  Wakeup();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  void Notify();
  void Reset();
  // Returns when `socket` (ignored if negative) is readable, Notify was called, or `timeout`.
  void Wait(int socket, std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

}  // namespace tally::ledger
