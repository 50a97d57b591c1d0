#pragma once
// `tally serve` as a child process, for tests that stop, kill and restart it.
//
// The child is started with posix_spawn, so no code runs between fork and exec in a test
// process full of threads (the sandbox, HTTP clients), and it inherits no descriptor but its
// stdin, stdout and stderr; its stdout and stderr are read by a thread that keeps the last lines
// for failure messages. Start waits until the process says it is ready: the line naming its HTTP
// port with the http role, else the line counting its reactor runners. A process still running when
// the object is destroyed is killed (SIGKILL) and reaped. Not thread-safe: one owner drives it.

#include <sys/types.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tally::testing {

struct ServeConfig {
  std::string database_url;  // TALLY_DATABASE_URL of the child
  std::string master_key;    // TALLY_MASTER_KEY of the child
  // Arguments after `tally serve`; must include --roles.
  std::vector<std::string> args;
};

class ServeProcess {
 public:
  // Starts the process and waits (at most 30 s) until it is ready; REQUIREs that it is.
  static std::unique_ptr<ServeProcess> Start(const ServeConfig& config);
  ~ServeProcess();

  pid_t pid() const { return pid_; }
  // The HTTP port it listens on; 0 without the http role.
  int port() const { return port_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL, then reaps it.
  void Kill();
  // SIGTERM, then waits (at most 60 s, REQUIREd) for it to exit; returns its exit code, or
  // -1 when a signal ended it.
  int Terminate();
  // Its last lines of output (stdout and stderr), for failure messages.
  std::string OutputTail() const;

 private:
  ServeProcess() = default;
  void ReadOutput(int fd);
  int Reap();

  pid_t pid_ = -1;
  int port_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> tail_;
  bool ended_ = false;   // its output closed
  int ready_port_ = -1;  // set once the ready line was read (0: ready without HTTP)
  bool wants_http_ = false;
};

// A TCP port free on 127.0.0.1 right now (the kernel's choice), for a process that must be
// told its port before it starts (its public URL goes into charges it creates).
int FreePort();

}  // namespace tally::testing
