#include "app/process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tally::app {

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe failed");
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  ProcessResult result;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) result.output.append(buffer, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.exit_code == 127) {
    return absl::NotFoundError(absl::StrCat("cannot run ", argv[0]));
  }
  return result;
}

std::string FindExecutable(const std::string& name, const std::vector<std::string>& candidates) {
  std::vector<std::string> all = candidates;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    for (auto dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      all.push_back(absl::StrCat(dir, "/", name));
    }
  }
  for (const auto& candidate : all) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace tally::app
