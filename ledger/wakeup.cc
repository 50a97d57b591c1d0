#include "ledger/wakeup.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace tally::ledger {

Wakeup::Wakeup() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Wakeup::~Wakeup() {
  if (fd_ >= 0) close(fd_);
}

void Wakeup::Notify() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
}

void Wakeup::Reset() {
  uint64_t pending = 0;
  [[maybe_unused]] ssize_t n = read(fd_, &pending, sizeof pending);
}

void Wakeup::Wait(int socket, std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {socket, POLLIN, 0}};
  poll(fds, socket >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
}

}  // namespace tally::ledger
