#include "common/base/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "common/base/posix_error.h"

extern char** environ;

namespace fedjets::common {
namespace {

// posix_spawn_file_actions_t with its destroy call.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;

  // Makes `fd` the child's stdout and stderr.
  void OutputTo(int fd) {
    posix_spawn_file_actions_adddup2(&actions_, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions_, fd, STDERR_FILENO);
  }
  void InputFromDevNull() {
    posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  }
  const posix_spawn_file_actions_t* get() const { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

Result<pid_t> SpawnWith(const std::vector<std::string>& argv,
                        const FileActions& actions) {
  if (argv.empty()) return InvalidArgument("no program to start (empty argv)");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc =
      posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), environ);
  if (rc != 0) return PosixError("cannot start " + argv[0], rc);
  return pid;
}

int ShellExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// waitpid on `pid` alone, resumed when a signal interrupts it.
Result<std::optional<int>> WaitPid(pid_t pid, int flags) {
  int status = 0;
  for (;;) {
    pid_t got = waitpid(pid, &status, flags);
    if (got == pid) return std::optional<int>(ShellExitCode(status));
    if (got == 0) return std::optional<int>();  // WNOHANG, still running
    if (errno != EINTR) {
      return PosixError("cannot wait for process " + std::to_string(pid),
                        errno);
    }
  }
}

}  // namespace

Result<pid_t> Spawn(const std::vector<std::string>& argv,
                    const SpawnOptions& options) {
  FileActions actions;
  if (options.log_file.empty()) return SpawnWith(argv, actions);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC |
                    (options.truncate_log ? O_TRUNC : O_APPEND);
  int log = open(options.log_file.c_str(), flags, 0644);
  if (log < 0) {
    return PosixError("cannot open log file " + options.log_file, errno);
  }
  actions.OutputTo(log);
  Result<pid_t> pid = SpawnWith(argv, actions);
  close(log);
  return pid;
}

Result<int> WaitForExit(pid_t pid) {
  Result<std::optional<int>> exit = WaitPid(pid, 0);
  if (!exit.ok()) return exit.status();
  return **exit;
}

Result<std::optional<int>> PollExit(pid_t pid) { return WaitPid(pid, WNOHANG); }

Result<int> RunProcess(const std::vector<std::string>& argv,
                       const SpawnOptions& options) {
  Result<pid_t> pid = Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  return WaitForExit(*pid);
}

Result<CapturedRun> RunAndCapture(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return PosixError("cannot create a pipe to read the output of " +
                          (argv.empty() ? std::string("a process") : argv[0]),
                      errno);
  }
  FileActions actions;
  actions.InputFromDevNull();
  actions.OutputTo(pipe_fds[1]);
  Result<pid_t> pid = SpawnWith(argv, actions);
  close(pipe_fds[1]);
  if (!pid.ok()) {
    close(pipe_fds[0]);
    return pid.status();
  }
  CapturedRun run;
  std::array<char, 4096> buf;
  for (;;) {
    ssize_t n = read(pipe_fds[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, or a read error: the child's exit still counts
    run.output.append(buf.data(), static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  Result<int> exit = WaitForExit(*pid);
  if (!exit.ok()) return exit.status();
  run.exit_code = *exit;
  return run;
}

}  // namespace fedjets::common
