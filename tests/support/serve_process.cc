#include "tests/support/serve_process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "tests/support/pg.h"

extern char** environ;

namespace tally::testing {
namespace {

constexpr size_t kTailLines = 60;
constexpr char kServingLine[] = "tally serving on http://";
constexpr char kReactorsLine[] = " reactor runners (";

// The port in "... serving on http://HOST:PORT (...", or -1.
int PortOf(const std::string& line) {
  const size_t at = line.find(kServingLine);
  if (at == std::string::npos) return -1;
  const size_t colon = line.find(':', at + sizeof kServingLine - 1);
  if (colon == std::string::npos) return -1;
  const std::string rest = line.substr(colon + 1);
  int port = -1;
  if (!absl::SimpleAtoi(rest.substr(0, rest.find_first_not_of("0123456789")), &port)) return -1;
  return port;
}

}  // namespace

std::unique_ptr<ServeProcess> ServeProcess::Start(const ServeConfig& config) {
  std::unique_ptr<ServeProcess> serve(new ServeProcess());
  for (size_t i = 0; i + 1 < config.args.size(); ++i) {
    if (config.args[i] == "--roles") {
      serve->wants_http_ = absl::StrContains(config.args[i + 1], "http");
    }
  }
  const std::string binary = TallyBinary();
  std::vector<std::string> args = {binary, "serve"};
  args.insert(args.end(), config.args.begin(), config.args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (absl::StartsWith(*e, "TALLY_DATABASE_URL=") || absl::StartsWith(*e, "TALLY_MASTER_KEY=")) {
      continue;
    }
    env.emplace_back(*e);
  }
  env.push_back("TALLY_DATABASE_URL=" + config.database_url);
  env.push_back("TALLY_MASTER_KEY=" + config.master_key);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  // Nothing else of this process: sockets opened without close-on-exec (Asio's are) would
  // live on in the child, and a connection the sandbox closed would stay open there, so a
  // client reusing it would wait for an answer that never comes.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  const int spawned =
      posix_spawn(&serve->pid_, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) close(out[0]);
  REQUIRE_MESSAGE(spawned == 0, "posix_spawn ", binary, ": ", std::strerror(spawned));
  serve->reader_ = std::thread([raw = serve.get(), fd = out[0]] { raw->ReadOutput(fd); });

  std::unique_lock<std::mutex> lock(serve->mu_);
  const bool ready = serve->cv_.wait_for(lock, std::chrono::seconds(30),
                                         [&] { return serve->ready_port_ >= 0 || serve->ended_; });
  const bool ok = ready && serve->ready_port_ >= 0;
  serve->port_ = std::max(serve->ready_port_, 0);
  lock.unlock();
  REQUIRE_MESSAGE(ok, "tally serve ", absl::StrJoin(config.args, " "), " did not become ready:\n",
                  serve->OutputTail());
  return serve;
}

ServeProcess::~ServeProcess() {
  // No REQUIRE here: a destructor must not throw.
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (reader_.joinable()) reader_.join();
}

void ServeProcess::ReadOutput(int fd) {
  FILE* stream = fdopen(fd, "r");
  char buffer[4096];
  while (stream != nullptr && fgets(buffer, sizeof buffer, stream) != nullptr) {
    std::string line(buffer);
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_port_ < 0) {
      if (wants_http_) {
        ready_port_ = PortOf(line);
      } else if (absl::StrContains(line, kReactorsLine)) {
        ready_port_ = 0;
      }
      if (ready_port_ >= 0) cv_.notify_all();
    }
    tail_.push_back(std::move(line));
    if (tail_.size() > kTailLines) tail_.pop_front();
  }
  if (stream != nullptr) fclose(stream);
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

int ServeProcess::Reap() {
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  REQUIRE(reaped == pid_);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ServeProcess::Kill() {
  REQUIRE(pid_ > 0);
  REQUIRE(kill(pid_, SIGKILL) == 0);
  Reap();
}

int ServeProcess::Terminate() {
  REQUIRE(pid_ > 0);
  REQUIRE(kill(pid_, SIGTERM) == 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (true) {
    const pid_t reaped = waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) break;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "tally serve did not exit within 60 s of SIGTERM:\n", OutputTail());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ServeProcess::OutputTail() const {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::StrJoin(tail_, "");
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace tally::testing
